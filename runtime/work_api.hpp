#pragma once

// The worker pull API on HTTP, on top of TASK QUEUE leases (the reference's
// worker-queue orchestrator): GET /work/next?worker_id=, POST
// /work/complete, POST /work/failed, GET /workers, GET /queue. A worker that
// does not complete within its lease loses the task to another.

#include <map>
#include <string>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "bridges/http_server.hpp"

namespace orch {

struct work_context {
  caf::actor_system* sys = nullptr;
  task_queue_actor queue;
  worker_registry_actor registry;
  /// Where task.completed / task.failed go (optional).
  event_sink_actor sink;
  /// Lease of a pulled task.
  int32_t lease_ms = 30'000;
};

/// The routes, to merge with the other HTTP routes.
std::map<std::string, http_route> work_routes(work_context ctx);

} // namespace orch
