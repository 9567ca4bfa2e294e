#pragma once

// `orchestrator provision`: creates the JetStream streams and the durable
// consumers of ARCHITECTURE.md §5, then exits (a deployment's hook Job).

#include "runtime/config.hpp"

namespace orch {

/// Tries for at most `timeout_seconds`; returns the exit code (0 done, 1 not
/// reachable or refused in time).
int run_provision(const config& cfg, int timeout_seconds);

} // namespace orch
