#pragma once

// The operational HTTP endpoints of `serve`: /healthz, /readyz, /status and
// /metrics (Prometheus text format). The routes ask the actors with short
// time limits on the HTTP bridge's threads, never on a scheduler thread.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "bridges/http_server.hpp"
#include "runtime/config.hpp"

namespace orch {

class nats_consumers;
class nats_link;

/// Readiness as serve's loop last saw it, with the reason when not ready.
class readiness_board {
public:
  /// Sets the state; returns true when it changed.
  bool update(bool ready, const std::string& reason);

  std::pair<bool, std::string> get() const;

private:
  mutable std::mutex mtx_;
  bool ready_ = false;
  std::string reason_ = "starting";
};

/// Everything the endpoints look at.
struct ops_context {
  caf::actor_system* sys = nullptr;
  config cfg;
  std::string worker;
  std::chrono::steady_clock::time_point started;
  std::shared_ptr<readiness_board> readiness;
  orchestrator_actor orchestrator;
  task_queue_actor queue;
  dispatcher_actor dispatcher;
  event_sink_actor sink;
  llm_client_actor llm;
  std::shared_ptr<nats_link> link;
  /// Owned by serve; outlives the HTTP server.
  const nats_consumers* consumers = nullptr;
  /// gRPC calls by "method code" (optional).
  std::function<std::map<std::string, int64_t>()> grpc_counters;
  /// Where agents and scorers live (with NODES or NODE_LISTEN).
  placement_actor placement;
};

/// The routes: "GET /healthz", "GET /readyz", "GET /status", "GET /metrics".
std::map<std::string, http_route> ops_routes(ops_context ctx);

/// Prometheus text format: a metric family with its help and type, then
/// samples with labels (values escaped).
class prometheus_text {
public:
  /// Starts a family (`type`: counter, gauge, summary).
  void family(const std::string& name, const std::string& type,
              const std::string& help);

  void sample(const std::string& name,
              const std::map<std::string, std::string>& labels, double value);

  void sample(const std::string& name, double value) {
    sample(name, {}, value);
  }

  const std::string& str() const {
    return out_;
  }

private:
  std::string out_;
};

} // namespace orch
