#!/usr/bin/env bash
# redis-server's instructions per task of the `queue` benchmark, counted by
# valgrind's callgrind: a private redis-server runs under callgrind while
# `queue --backend redis` drives SMALL and then LARGE tasks through it; the
# difference in instructions divided by the difference in tasks (start-up
# and shut-down cancel out). The server's time per task on this VM varies
# by a third from run to run; this count does not, so use it to compare two
# versions of the queue's scripts.
#
#   bench/redis-instructions.sh QUEUE_BINARY SHAPE SMALL LARGE [QUEUE_ARGS...]
#   e.g. bench/redis-instructions.sh build/bench/queue independent 2000 6000
#        bench/redis-instructions.sh build/bench/queue chains 2000 6000 --plan-size 10
#
# Prints one JSON line. Needs valgrind (apt-get install valgrind).
set -euo pipefail
if [[ $# -lt 4 ]]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
bin=$1 shape=$2 small=$3 large=$4
shift 4
extra=("$@")
command -v valgrind >/dev/null || {
  echo "redis-instructions.sh: valgrind is missing (apt-get install valgrind)" >&2
  exit 2
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
count() {
  local n=$1 port
  port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file=/dev/null redis-server \
    --bind 127.0.0.1 --port "$port" --save '' --appendonly no >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 150); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$bin" --backend redis --redis-url "redis://127.0.0.1:$port" --tasks "$n" \
    --shape "$shape" "${extra[@]}" >/dev/null
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" || true
  sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$log"
}
a=$(count "$small")
b=$(count "$large")
[[ -n $a && -n $b ]] || { echo "redis-instructions.sh: no count from callgrind" >&2; exit 1; }
per=$(( (b - a) / (large - small) ))
printf '{"bench":"redis-instructions","shape":"%s","queue_args":"%s","small":%s,"large":%s,"instructions_small":%s,"instructions_large":%s,"server_instructions_per_task":%s}\n' \
  "$shape" "${extra[*]}" "$small" "$large" "$a" "$b" "$per"
