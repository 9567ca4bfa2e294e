#!/usr/bin/env bash
# The `queue` benchmark against a private redis-server, with the server's
# CPU time: the server's user + system seconds (from /proc at the end of
# the run) beside the benchmark's own figures. The server is what bounds
# the Redis queue; its CPU time varies less than tasks/s from run to run
# on this VM, so use it to compare two versions of the queue's scripts.
#
#   bench/redis-cpu.sh QUEUE_BINARY SHAPE TASKS [QUEUE_ARGS...]
#   e.g. bench/redis-cpu.sh build/bench/queue chains 200000
#        bench/redis-cpu.sh build/bench/queue chains 200000 --plan-size 10
#
# Prints one JSON line.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  sed -n '2,11p' "$0" >&2
  exit 2
fi
bin=$1 shape=$2 tasks=$3
shift 3
extra=("$@")
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
  >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
out=$("$bin" --backend redis --redis-url "redis://127.0.0.1:$port" \
  --tasks "$tasks" --shape "$shape" "${extra[@]}" 2>/dev/null | tail -1)
hz=$(getconf CLK_TCK)
cpu=$(awk -v hz="$hz" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$pid/stat")
tps=$(sed -n 's/.*"tasks_per_s":\([0-9]*\).*/\1/p' <<<"$out")
[[ -n $tps ]] || { echo "redis-cpu.sh: no figure from $bin" >&2; exit 1; }
printf '{"bench":"redis-cpu","shape":"%s","queue_args":"%s","tasks":%s,"tasks_per_s":%s,"server_cpu_s":%s,"server_cpu_us_per_task":%.2f}\n' \
  "$shape" "${extra[*]}" "$tasks" "$tps" "$cpu" "$(awk -v c="$cpu" -v n="$tasks" 'BEGIN{print c * 1e6 / n}')"
