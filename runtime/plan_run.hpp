#pragma once

// `orchestrator run <plan>`: a whole plan through the TASK QUEUE and the
// ORCHESTRATOR, in dependency order, as parallel as the graph allows.

#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "messages/messages.hpp"

#include "runtime/config.hpp"

namespace orch {

struct plan_run_options {
  std::string plan_path;
  /// Results as JSON (empty: none).
  std::string out_path;
  /// Tasks in flight at most.
  int32_t max_in_flight = 8;
  int32_t max_attempts = 3;
  /// Lease of a running task; extended every third of it while it runs, so
  /// a task of a dead process returns to READY after at most this long.
  int32_t lease_seconds = 30;
};

/// A plan file and its validated tasks for the councils of `cfg`; the error
/// names the file and the problem.
caf::expected<std::pair<plan_input, std::vector<task_spec>>>
load_plan_tasks(const config& cfg, const std::string& path);

/// Runs the plan; returns the exit code (0 all completed, 1 some did not,
/// 2 the plan or the configuration is invalid).
int run_plan(const config& cfg, const plan_run_options& opts);

} // namespace orch
