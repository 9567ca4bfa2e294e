#pragma once

// Wiring of CAF distribution: the middleman (plain, or TLS through
// caf::openssl with NODE_TLS_*), the PLACEMENT of `serve`, and the
// `orchestrator node` command.

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/nodes.hpp"
#include "runtime/config.hpp"

namespace orch {

struct hosting;

/// Loads the middleman (and the openssl module with NODE_TLS_*), with
/// heartbeats of NODE_HEARTBEAT_MS so that a hung peer goes DOWN.
void configure_distribution(caf::actor_system_config& sys_cfg,
                            const config& cfg);

/// Spawns the PLACEMENT (connects to NODES at once) and, with NODE_LISTEN,
/// publishes the door through which nodes announce themselves.
caf::expected<placement_actor>
start_placement(caf::actor_system& sys, const config& cfg,
                const hosting& local);

/// `orchestrator node`: hosts agents and scorers on NODE_LISTEN (announced
/// to NODE_ANNOUNCE when set) until SIGTERM or SIGINT; returns the exit code.
int run_node(const config& cfg);

} // namespace orch
