#pragma once

// The Redis TASK QUEUE: the `task_queue_actor` contract over Redis, every
// transition one Lua script (atomic), records serialized with msgpack,
// hiredis async on the bridge's own libevent thread.

#include <chrono>
#include <string>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/actors.hpp"

namespace orch {

struct redis_queue_settings {
  /// redis://[:password@]host[:port][/db]
  std::string url = "redis://127.0.0.1:6379";
  /// Prefix of every key.
  std::string prefix = "orch:queue";
  task_queue_settings queue;
  /// Delay between reconnection attempts.
  int32_t reconnect_ms = 500;
};

/// Where a redis:// URL points.
struct redis_endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
};

/// Parses a redis:// URL; the error says what is wrong.
caf::expected<redis_endpoint> parse_redis_url(const std::string& url);

/// Spawns the Redis TASK QUEUE. It connects in the background and
/// reconnects after Redis restarts; requests made while it is disconnected
/// fail with `agent_failed` ("redis unavailable").
caf::expected<task_queue_actor>
spawn_redis_queue(caf::actor_system& sys, redis_queue_settings settings);

/// Blocks the calling (non-actor) thread until `q` answers, polling every
/// 50 ms for at most `limit`; true when it answered. The Redis queue connects
/// in the background, so callers wait for it before their first request.
bool await_queue(caf::actor_system& sys, const task_queue_actor& q,
                 std::chrono::milliseconds limit);

} // namespace orch
