#pragma once

// `orchestrator submit PLAN [--follow] [--json]`: the client of a running
// service. Publishes a plan file as planning.plan.approved and, with
// --follow, shows the plan's progress and results until it has finished.

#include <string>

#include "runtime/config.hpp"

namespace orch {

struct submit_options {
  std::string plan_path;
  bool follow = false;
  bool json = false;
  /// Seconds --follow waits for the plan at most (0: no limit).
  int32_t timeout_seconds = 3600;
  /// Publish the envelope as msgpack.
  bool msgpack = false;
};

/// Returns the exit code: 0 published (with --follow: every task
/// completed), 1 the plan did not complete or NATS is unreachable, 2 bad
/// plan or usage.
int run_submit(const config& cfg, const submit_options& opts);

} // namespace orch
