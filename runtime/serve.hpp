#pragma once

// `orchestrator serve`: the service on NATS JetStream. Plans in
// (planning.plan.approved), tasks through the TASK QUEUE and the DISPATCHER,
// deliberation events out; graceful stop on SIGTERM and SIGINT.

#include <csignal>

#include "runtime/config.hpp"

namespace orch {

struct nats_settings;

/// The NATS settings of `cfg`; `retry_forever` for the service, not for
/// one-shot clients.
nats_settings nats_settings_of(const config& cfg, bool retry_forever);

/// Blocks SIGTERM and SIGINT in the calling thread (and the threads it
/// starts later) and returns the set for sigtimedwait.
sigset_t block_stop_signals();

/// Runs the service until SIGTERM or SIGINT; returns the exit code.
int run_serve(const config& cfg);

} // namespace orch
