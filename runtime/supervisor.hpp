#pragma once

// The supervisor: configures the actor system and wires the actors
// (process runner, scorers, architect, orchestrator, councils) from a config.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "runtime/config.hpp"

namespace orch {

/// What this process needs to host agents and scorers itself (`serve`,
/// `run`, and `orchestrator node`).
struct hosting {
  process_runner_actor runner;
  llm_client_actor llm;
  agent_factory make_agent;
  std::function<scorer_actor(caf::actor_system&)> make_scorer;
  /// A scorer pinned to an engine lane.
  std::function<scorer_actor(caf::actor_system&, lane)> make_lane_scorer;
};

/// Handles of the running service.
struct service {
  orchestrator_actor orchestrator;
  architect_actor architect;
  std::vector<scorer_actor> scorers;
  process_runner_actor runner;
  llm_client_actor llm;
  /// Set when agents and scorers live on nodes (NODES, NODE_LISTEN).
  placement_actor placement;
};

/// Registers our message types and sets `scheduler.max-threads`; with
/// NODES, NODE_LISTEN or for `orchestrator node` (`distributed`), loads
/// CAF's middleman (and its TLS module with NODE_TLS_*).
void configure_actor_system(caf::actor_system_config& sys_cfg,
                            const config& cfg, bool distributed = false);

/// Spawns the process runner, the LLM client and the factories of local
/// agents and scorers; `hub` links `remote` agents to their workers.
caf::expected<hosting> start_hosting(caf::actor_system& sys,
                                     const config& cfg,
                                     agent_hub_actor hub = {});

/// The `vllm` settings of `cfg`, with a council's `custom_params`
/// (vllm_url, model, temperature, max_tokens) on top.
vllm_settings
vllm_settings_of(const config& cfg,
                 const std::map<std::string, std::string>& params = {});

/// The agent factory for the backends this build has: `scripted` (alias
/// `mock`), `vllm` (through `llm`) and `remote` (through `hub`, when given);
/// `scripted` and `vllm` agents run in engine lane `in`.
agent_factory make_agent_factory(const config& cfg, llm_client_actor llm,
                                 agent_hub_actor hub = {}, lane in = {});

/// Spawns and wires every actor and creates the councils of `cfg.councils`.
/// `hub` links `remote` agents to their workers (serve only).
caf::expected<service> start_service(caf::actor_system& sys, const config& cfg,
                                     agent_hub_actor hub = {});

/// The TASK QUEUE `cfg` asks for: in Redis when REDIS_URL is set, else in
/// memory. With `bounded` (the service), finished tasks leave the queue
/// (memory or Redis) after DELIBERATION_CLEANUP or past RESULT_STORE_MAX;
/// without (`run`, which reports every task at the end), they stay.
caf::expected<task_queue_actor> start_queue(caf::actor_system& sys,
                                            const config& cfg,
                                            int32_t max_attempts = 3,
                                            bool bounded = true);

/// A lease owner name unique to this process: WORKER_ID, else host-pid.
std::string worker_name(const config& cfg, const std::string& prefix);

/// Sends every actor of `svc` an exit message.
void stop_service(caf::actor_system& sys, service& svc);

} // namespace orch
