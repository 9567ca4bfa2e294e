#pragma once

// The CAF scheduler the service runs on: CAF's own `sharing` or `stealing`,
// or `lean` (runtime/scheduler.cpp): one FIFO queue like `sharing`, under a
// spin lock, whose idle threads sleep and are woken outside any lock, and
// only when no wake-up is under way for them.

#include <caf/fwd.hpp>

namespace orch {

struct config;

/// Sets up the scheduler `cfg.scheduler_policy` names in `sys_cfg`.
void configure_scheduler(caf::actor_system_config& sys_cfg, const config& cfg);

} // namespace orch
