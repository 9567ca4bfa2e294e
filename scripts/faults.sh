#!/usr/bin/env bash
# Fault injection with figures: builds the `faults` driver when needed and
# runs it. Every row starts a private nats-server, redis-server (AOF) and
# the test LLM server on loopback, runs `orchestrator serve` with a plan of
# --tasks tasks and injects one fault while the plan runs; one line per row:
# fault, tasks completed, lost, completed twice, duplicate events, time to
# recover. Exit status 1 when any row loses a task, completes one twice or
# duplicates an event.
#
#   scripts/faults.sh                        # every row, 60 tasks
#   scripts/faults.sh --rows nats_restart,llm_429 --tasks 100
#   scripts/faults.sh --format json
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$here/build}
case $build in /*) ;; *) build=$here/$build ;; esac
if [ ! -x "$build/bench/faults" ] || [ ! -x "$build/orchestrator" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"${JOBS:-2}" --target faults orchestrator
fi
exec "$build/bench/faults" "$@"
