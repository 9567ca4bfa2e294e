#!/usr/bin/env bash
# One round of the performance goals, one benchmark after the other, each
# printing its JSON line(s) as it does alone (the figures the README's
# "Where the goals stand" table is made of):
#   engine (N=3, R=1, C=64; one client, then two), scripted agents and
#   full checks, LLM efficiency and client CPU at C=100 and C=1000, the
#   memory queue (all three shapes), the Redis queue with its server's CPU
#   time (chains in plans of 10, fan-out and independent in plans of 100).
#
#   bench/goals.sh [BUILD_DIR]        (default: build)
#
# Each line carries `cpu_speed`, the state of the machine it was taken in.
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build}/bench
for tool in deliberation llm_concurrency queue; do
  [[ -x $b/$tool ]] || { echo "goals.sh: $b/$tool is missing (make build)" >&2; exit 2; }
done
last() { "$@" 2>/dev/null | tail -1; }
last "$b/deliberation" --mode engine --agents 3 --rounds 1 --concurrency 64 \
  --deliberations 200000
last "$b/deliberation" --mode engine --agents 3 --rounds 1 --concurrency 64 \
  --deliberations 200000 --clients 2
last "$b/deliberation" --agents 3 --rounds 1 --concurrency 64 \
  --deliberations 100000
last "$b/llm_concurrency" --agents 3 --rounds 1 --concurrency 100 \
  --deliberations 4000 --latency-ms 50
last "$b/llm_concurrency" --agents 3 --rounds 1 --concurrency 1000 \
  --deliberations 3000 --latency-ms 500
"$b/queue" --backend memory --tasks 200000 --shape all 2>/dev/null
bench/redis-cpu.sh "$b/queue" chains 200000 --plan-size 10
bench/redis-cpu.sh "$b/queue" fanout 200000 --plan-size 100
bench/redis-cpu.sh "$b/queue" independent 200000 --plan-size 100
