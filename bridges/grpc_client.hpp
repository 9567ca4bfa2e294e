#pragma once

// The client side of the gRPC bridge, for the CLI (`--server`) and the
// benchmark: blocking calls on the calling thread (never an actor), our
// types in and out, gRPC status codes turned into `ec` errors with the
// server's message.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "messages/messages.hpp"

namespace orch {

/// GetStatus as the CLI shows it.
struct remote_status {
  std::string status;
  int64_t uptime_seconds = 0;
  orchestrator_stats stats;
  /// Where agents and scorers live (name, state, agents, scorers, epoch),
  /// when the service uses nodes.
  std::vector<node_info> nodes;
};

class grpc_client {
public:
  virtual ~grpc_client() = default;

  /// Deliberate (unary); `deadline` 0 means none.
  virtual caf::expected<deliberation_outcome>
  deliberate(const task_spec& task, std::chrono::milliseconds deadline) = 0;

  /// StreamDeliberation, `on_update` for every update, then the full
  /// outcome from GetDeliberationResult. When `on_update` answers false
  /// the call is cancelled (and so is the deliberation): `cancelled`.
  virtual caf::expected<deliberation_outcome>
  stream(const task_spec& task,
         const std::function<bool(const deliberation_update&)>& on_update,
         std::chrono::milliseconds deadline)
    = 0;

  /// GetDeliberationResult: the stored outcome, its `status` one of
  /// "pending", "in_progress", "completed", "failed", "timeout".
  virtual caf::expected<deliberation_outcome>
  result(const std::string& task_id) = 0;

  virtual caf::expected<std::vector<council_info>> list_councils() = 0;

  virtual caf::expected<council_info>
  create_council(const council_config& cfg) = 0;

  /// Answers how many agents were removed.
  virtual caf::expected<int32_t> delete_council(const std::string& role) = 0;

  /// Answers the server's message.
  virtual caf::expected<std::string>
  register_agent(const std::string& agent_id, const std::string& role) = 0;

  virtual caf::expected<std::string>
  unregister_agent(const std::string& agent_id, const std::string& role) = 0;

  virtual caf::expected<remote_status> status() = 0;
};

/// A client for HOST:PORT (no call is made yet).
std::unique_ptr<grpc_client> make_grpc_client(const std::string& target);

} // namespace orch
