#!/usr/bin/env bash
# Instructions per unit of work, counted by valgrind's callgrind: the same
# benchmark run twice with a smaller and a larger count, the difference in
# instructions divided by the difference in units (start-up, warm-up and
# shut-down cancel out). On a VM whose speed varies from minute to minute
# this is the figure that does not: use it to compare two builds, and the
# benchmarks' own timings for what a change is worth in time.
#
#   bench/instructions.sh BINARY OPTION SMALL LARGE [ARGS...]
#   e.g. bench/instructions.sh build/bench/deliberation --deliberations \
#          4000 12000 --mode scripted
#
# Prints one JSON line. Needs valgrind (apt-get install valgrind).
set -euo pipefail
if [[ $# -lt 4 ]]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
bin=$1 option=$2 small=$3 large=$4
shift 4
command -v valgrind >/dev/null || {
  echo "instructions.sh: valgrind is missing (apt-get install valgrind)" >&2
  exit 2
}
count() {
  local n=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$bin" "$option" "$n" "$@" 2>&1 >/dev/null \
    | sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p'
}
a=$(count "$small" "$@")
b=$(count "$large" "$@")
[[ -n $a && -n $b ]] || { echo "instructions.sh: no count from callgrind" >&2; exit 1; }
per=$(( (b - a) / (large - small) ))
printf '{"bench":"instructions","command":"%s","small":%s,"large":%s,"instructions_small":%s,"instructions_large":%s,"instructions_per_unit":%s}\n' \
  "$bin $option N $*" "$small" "$large" "$a" "$b" "$per"
