#!/usr/bin/env bash
# Runs the image hardened, with nats-server and redis-server on the host
# (loopback, free ports), submits the example plan and waits for it, then
# stops the container and checks that it drained and exited 0.
#
#   scripts/image-test.sh [TAG]         (default localhost/orchestrator:dev)
#
# `make image-test` builds the image first (scripts/build-image.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-localhost/orchestrator:dev}
build=$(cd "${BUILD_DIR:-$root/build}" && pwd)
export CONTAINERS_CONF=$build/image/containers.conf
work=$(mktemp -d)
name=orch-image-test-$$
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
nats_port=$(free_port)
redis_port=$(free_port)
http_port=$(free_port)
grpc_port=$(free_port)
nats_bin=/usr/sbin/nats-server
[ -x "$nats_bin" ] || nats_bin=/usr/bin/nats-server
"$nats_bin" -a 127.0.0.1 -p "$nats_port" -js -sd "$work/js" > "$work/nats.log" 2>&1 &
nats_pid=$!
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
  > "$work/redis.log" 2>&1 &
redis_pid=$!
cleanup() {
  podman rm -f "$name" > /dev/null 2>&1 || true
  kill "$nats_pid" "$redis_pid" 2> /dev/null || true
  wait "$nats_pid" "$redis_pid" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
sleep 1
podman run -d --name "$name" --network host \
  --read-only --tmpfs /tmp:rw,size=64m \
  --user 10001:10001 --cap-drop ALL --security-opt no-new-privileges \
  --pids-limit 256 --memory 512m \
  -e NATS_URL="nats://127.0.0.1:$nats_port" \
  -e REDIS_URL="redis://127.0.0.1:$redis_port" \
  -e HTTP_PORT="$http_port" -e GRPC_PORT="$grpc_port" \
  -e DRAIN_TIMEOUT=10 \
  "$tag" serve > /dev/null
ready=0
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$http_port/readyz" > /dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.2
done
if [ "$ready" != 1 ]; then
  echo "image-test: the container did not get ready" >&2
  podman logs "$name" >&2 || true
  exit 1
fi
# A plan through the container, followed from the host.
NATS_URL="nats://127.0.0.1:$nats_port" "$build/orchestrator" submit \
  "$root/examples/login-feature.yaml" --follow --timeout 120
t0=$(date +%s)
podman stop -t 30 "$name" > /dev/null
code=$(podman inspect "$name" --format '{{.State.ExitCode}}')
if [ "$code" != 0 ]; then
  echo "image-test: the container exited $code after SIGTERM" >&2
  podman logs "$name" >&2 || true
  exit 1
fi
if ! podman logs "$name" 2>&1 | grep -q "serve stopped"; then
  echo "image-test: no graceful stop in the log" >&2
  exit 1
fi
user=$(podman inspect "$name" --format '{{.Config.User}}')
echo "image-test: OK: $tag ran read-only as $user without capabilities," \
     "completed the plan and exited 0 $(( $(date +%s) - t0 )) s after SIGTERM"
