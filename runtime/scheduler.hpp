#pragma once

// The CAF scheduler the service runs on: `affine` (the default,
// runtime/scheduler.cpp: a FIFO queue per thread, every actor queued at
// the thread it last ran on, idle threads taking jobs from busy ones),
// `lean` (one FIFO queue under a spin lock, idle threads woken only as
// needed), or CAF's own `sharing` or `stealing`.

#include <caf/fwd.hpp>

namespace orch {

struct config;

/// Sets up the scheduler `cfg.scheduler_policy` names in `sys_cfg`.
void configure_scheduler(caf::actor_system_config& sys_cfg, const config& cfg);

} // namespace orch
