#pragma once

// The connection of the Redis TASK QUEUE: hiredis async on the bridge's own
// libevent thread. Commands are queued from any thread; each reply goes back
// to the actor that sent the command as (result, id, redis_value). It
// reconnects after Redis restarts; a command it cannot send is answered
// with an error reply ("unavailable: ..."). The C handles stay in
// redis_engine.cpp; this header is included by the Redis bridge alone.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>
#include <hiredis/read.h>

#include "bridges/redis_queue.hpp"

namespace orch {

/// A copy of a hiredis reply, safe to pass between threads. `type` is one
/// of hiredis' REDIS_REPLY_* codes.
struct redis_value {
  int type = REDIS_REPLY_NIL;
  long long integer = 0;
  std::string str;
  std::vector<redis_value> elements;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, redis_value& x) {
  return f(caf::meta::type_name("orch.redis_value"), x.type, x.integer, x.str,
           x.elements);
}

/// A command for the engine; its reply goes to `reply_to`.
struct pending_command {
  uint64_t id;
  caf::actor reply_to;
  std::vector<std::string> argv;
};

/// The connection; see the top of this file.
class redis_engine {
public:
  redis_engine(redis_endpoint ep, int32_t reconnect_ms);
  ~redis_engine();

  redis_engine(const redis_engine&) = delete;
  redis_engine& operator=(const redis_engine&) = delete;

  /// Thread-safe: queues a command for the loop thread.
  void submit(pending_command cmd);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace orch
