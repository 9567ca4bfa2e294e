#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan+UBSan) and runs
# each for SECONDS (default 60), starting from the seed corpus in
# tests/fuzz/corpus/<target>. Prints one JSON line per target: executions,
# crashes, corpus size. New corpus entries land in $FUZZ_DIR/corpus/<target>,
# crashes in $FUZZ_DIR/crashes (copy a crash into tests/fuzz/corpus/<target>
# once fixed: the ctest entry fuzz_<target> replays it from then on).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   FUZZ_BUILD_DIR (build-fuzz), FUZZ_DIR (build-fuzz/run), FUZZ_JOBS (2)
# Exit status 1 when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
out=${FUZZ_DIR:-$build/run}
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=($(sed -n '/set(ORCH_FUZZ_TARGETS/,/)/p' tests/fuzz/CMakeLists.txt \
             | tr -d '()' | tr -s ' \n' ' ' | cut -d' ' -f2-))
fi
command -v clang++ >/dev/null || {
  echo "fuzz.sh: clang++ is missing (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
}
mkdir -p "$build"
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORCH_SANITIZE=fuzzer >"$build/fuzz-build.log" 2>&1 \
    || { cat "$build/fuzz-build.log" >&2; exit 2; }
fi
: >"$build/fuzz-build.log"
for t in "${targets[@]}"; do
  cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target "fuzz_$t" >>"$build/fuzz-build.log" 2>&1 \
    || { tail -40 "$build/fuzz-build.log" >&2; exit 2; }
done
mkdir -p "$out/crashes"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t"
  log="$out/$t.log"
  set +e
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
    -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$out/crashes/$t-" \
    "$out/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(ls "$out/crashes" | grep -c "^$t-" || true)
  corpus=$(ls "$out/corpus/$t" | wc -l)
  printf '{"target":"%s","seconds":%s,"executions":%s,"crashes":%s,"corpus":%s,"exit":%s}\n' \
    "$t" "$seconds" "${execs:-0}" "$crashes" "$corpus" "$rc"
  if [[ $rc -ne 0 || $crashes -ne 0 ]]; then
    failed=1
    grep -m5 -E "ERROR|violated|SUMMARY" "$log" >&2 || true
  fi
done
exit $failed
