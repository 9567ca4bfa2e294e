#pragma once

// The gRPC bridge (grpc++ 1.51): `fleet.orchestrator.v1.OrchestratorService`
// on the callback API, with server reflection and the standard health
// service. A call becomes a request to the actors and their reply completes
// it; no gRPC thread waits on an actor. Generated protobuf code stays in
// grpc_server.cpp.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/actors.hpp"

namespace orch {

struct grpc_settings {
  std::string host = "0.0.0.0";
  /// 0 picks a free port.
  int port = 50055;
};

/// What the service answers from.
struct grpc_backend {
  orchestrator_actor orchestrator;
  /// DeriveSubtasks and ProcessPlanningEvent.
  planner_actor planner;
  /// Where derived tasks go when asked to dispatch (optional).
  task_queue_actor queue;
  dispatcher_actor dispatcher;
  /// Where phase changes are published (optional).
  event_sink_actor sink;
  /// Deliberations started over gRPC at once at most; more get
  /// RESOURCE_EXHAUSTED.
  int32_t max_deliberations = 256;
  /// Ready, and why not.
  std::function<std::pair<bool, std::string>()> readiness;
  std::chrono::steady_clock::time_point started;
  /// Where agents and scorers live (optional): GetStatus sends the nodes
  /// as trailing metadata `orchestrator-nodes` ("name state agents scorers
  /// epoch", separated by ";"), outside the proto.
  placement_actor placement;
};

class grpc_server {
public:
  virtual ~grpc_server() = default;
  virtual int port() const = 0;
  /// Calls by "method code" (e.g. "Deliberate OK").
  virtual std::map<std::string, int64_t> counters() const = 0;
  /// The standard health service's status, following readiness.
  virtual void set_serving(bool serving) = 0;
  virtual void stop() = 0;
};

caf::expected<std::unique_ptr<grpc_server>>
start_grpc_server(caf::actor_system& sys, const grpc_settings& settings,
                  grpc_backend backend);

} // namespace orch
