#!/usr/bin/env bash
# ctest fixture: starts or stops a private redis-server on a free loopback
# port. Usage: redis-fixture.sh start|stop DIR
# start writes DIR/redis.url (redis://127.0.0.1:PORT) and DIR/redis.pid.
set -euo pipefail
cmd=$1
dir=$2
mkdir -p "$dir"
case "$cmd" in
  start)
    if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
      kill "$(cat "$dir/redis.pid")" || true
      sleep 0.2
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
           || echo $((20000 + RANDOM % 20000)))
    server=$(command -v redis-server || echo /usr/bin/redis-server)
    "$server" --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
      --logfile "$dir/redis.log"
    for _ in $(seq 1 100); do
      if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
        echo "redis://127.0.0.1:$port" > "$dir/redis.url"
        echo "redis fixture on port $port"
        exit 0
      fi
      sleep 0.05
    done
    echo "redis fixture: redis-server did not answer on port $port" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/redis.pid" ]; then
      kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
      rm -f "$dir/redis.pid" "$dir/redis.url"
    fi
    ;;
esac
