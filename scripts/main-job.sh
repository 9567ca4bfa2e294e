#!/usr/bin/env bash
# The main job: a private nats-server (JetStream, temporary store) and
# redis-server on free loopback ports, `orchestrator serve` against them,
# then `orchestrator submit PLAN --follow`; everything started here is
# stopped again, also on Ctrl-C. Usage: main-job.sh [PLAN] [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
plan="${1:-$root/examples/login-feature.yaml}"
build="${2:-$root/build}"
bin="$build/orchestrator"
work="$(mktemp -d "${TMPDIR:-/tmp}/orchestrator-main.XXXXXX")"
pids=()

stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 "$2"); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # serve first (it drains and flushes its events), then the servers.
  for pid in "${pids[@]}"; do
    stop_pid "$pid" 400
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "main-job: nothing listens on port $1" >&2
  return 1
}

nats_port=$(free_port)
redis_port=$(free_port)
http_port=$(free_port)
grpc_port=$(free_port)
nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
"$nats_server" -a 127.0.0.1 -p "$nats_port" -js -sd "$work/js" \
  >"$work/nats.log" 2>&1 &
pids=($! "${pids[@]}")
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" \
  --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids=($! "${pids[@]}")
wait_port "$nats_port"
wait_port "$redis_port"
echo "main-job: nats-server on $nats_port, redis-server on $redis_port" >&2

export NATS_URL="nats://127.0.0.1:$nats_port"
export REDIS_URL="redis://127.0.0.1:$redis_port"
export HTTP_PORT="$http_port"
export GRPC_PORT="$grpc_port"
echo "main-job: orchestrator serve: http://127.0.0.1:$http_port/status, gRPC on 127.0.0.1:$grpc_port" >&2
"$bin" serve >"$work/serve.log" 2>&1 &
# serve is stopped first: put it at the front.
pids=($! "${pids[@]}")

set +e
"$bin" submit "$plan" --follow
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  echo "main-job: submit exited with $rc; the service's log:" >&2
  tail -n 40 "$work/serve.log" >&2
fi
exit "$rc"
