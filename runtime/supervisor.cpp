#include "runtime/supervisor.hpp"

#include <cstdlib>
#include <memory>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/process_runner.hpp"
#include "actors/scorer.hpp"
#include "actors/scripted.hpp"
#include "bridges/llm_client.hpp"
#include "bridges/redis_queue.hpp"
#include "runtime/nodes.hpp"
#include "runtime/scheduler.hpp"

namespace orch {

void configure_actor_system(caf::actor_system_config& sys_cfg,
                            const config& cfg, bool distributed) {
  sys_cfg.add_message_types<caf::id_block::orch>();
  sys_cfg.add_message_types<caf::id_block::orch_actors>();
  sys_cfg.set("scheduler.max-threads", scheduler_threads(cfg));
  configure_scheduler(sys_cfg, cfg);
  sys_cfg.set("logger.verbosity", caf::atom("quiet"));
  if (distributed || cfg.distributed())
    configure_distribution(sys_cfg, cfg);
}

vllm_settings
vllm_settings_of(const config& cfg,
                 const std::map<std::string, std::string>& params) {
  vllm_settings out;
  out.url = cfg.vllm_url;
  out.model = cfg.vllm_model;
  out.temperature = cfg.vllm_temperature;
  out.max_tokens = cfg.vllm_max_tokens;
  out.timeout_ms = cfg.vllm_timeout * 1000;
  out.api_key = cfg.vllm_api_key;
  auto get = [&](const char* key) -> const std::string* {
    auto i = params.find(key);
    return i == params.end() ? nullptr : &i->second;
  };
  if (auto v = get("vllm_url"))
    out.url = *v;
  if (auto v = get("model"))
    out.model = *v;
  if (auto v = get("temperature"))
    out.temperature = std::strtod(v->c_str(), nullptr);
  if (auto v = get("max_tokens"))
    out.max_tokens = static_cast<int32_t>(std::strtol(v->c_str(), nullptr, 10));
  return out;
}

namespace {

/// Spawns an agent that runs in this process (`scripted` or `vllm`), in
/// lane `in`; any other backend gives an invalid handle.
agent_actor spawn_local_agent(const config& cfg, const llm_client_actor& llm,
                              caf::actor_system& sys, const agent_spec& spec,
                              lane in) {
  if (spec.backend == "scripted" || spec.backend == "mock")
    return spawn_scripted_agent(sys, spec, in);
  if (spec.backend == "vllm")
    return spawn_vllm_agent(sys, spec, vllm_settings_of(cfg, spec.params),
                            llm, in);
  return {};
}

} // namespace

agent_factory make_agent_factory(const config& cfg, llm_client_actor llm,
                                 agent_hub_actor hub, lane in) {
  return [cfg, llm, hub, in](caf::actor_system& sys,
                         const agent_spec& spec) -> caf::expected<agent_actor> {
    if (spec.backend == "scripted" || spec.backend == "mock") {
      auto style = scripted_style(spec);
      if (style != "full" && style != "brief")
        return caf::make_error(ec::invalid_argument,
                               "style '" + style
                                 + "' of a scripted agent is not available; "
                                   "use full or brief");
      return spawn_local_agent(cfg, llm, sys, spec, in);
    }
    if (spec.backend == "remote") {
      if (!hub)
        return caf::make_error(ec::invalid_argument,
                               "remote agents talk to their workers over "
                               "NATS: use them with `orchestrator serve`");
      return spawn_remote_agent(sys, spec, hub, cfg.remote_timeout * 1000);
    }
    if (spec.backend == "vllm") {
      auto settings = vllm_settings_of(cfg, spec.params);
      if (settings.url.rfind("http://", 0) != 0
          && settings.url.rfind("https://", 0) != 0)
        return caf::make_error(ec::invalid_argument,
                               "vllm_url '" + settings.url
                                 + "' must start with http:// or https://");
      if (settings.temperature < 0 || settings.temperature > 2)
        return caf::make_error(ec::invalid_argument,
                               "temperature must be between 0 and 2");
      return spawn_local_agent(cfg, llm, sys, spec, in);
    }
    return caf::make_error(ec::invalid_argument,
                           "agent type '" + spec.backend
                             + "' is not available; use scripted, vllm or "
                               "remote");
  };
}

caf::expected<hosting> start_hosting(caf::actor_system& sys,
                                     const config& cfg, agent_hub_actor hub) {
  auto rules = std::make_shared<scorer_rules>(default_scorer_rules());
  if (!cfg.scorer_rules.empty()) {
    auto loaded = load_scorer_rules(cfg.scorer_rules);
    if (!loaded)
      return std::move(loaded.error());
    *rules = std::move(*loaded);
  }
  hosting h;
  auto threads = static_cast<size_t>(scheduler_threads(cfg));
  h.runner = spawn_process_runner(sys, threads);
  llm_client_settings lcs;
  lcs.max_per_endpoint = cfg.vllm_max_concurrency;
  lcs.max_retries = cfg.vllm_max_retries;
  lcs.gather_max_us = cfg.vllm_gather_us;
  lcs.curl_for_http = cfg.vllm_http_client == "curl";
  h.llm = spawn_llm_client(sys, lcs);
  h.make_agent = make_agent_factory(cfg, h.llm, hub);
  auto runner = h.runner;
  h.make_lane_scorer = [rules, runner](caf::actor_system& sys, lane in) {
    return spawn_scorer(sys, rules, runner, in);
  };
  h.make_scorer = [f = h.make_lane_scorer](caf::actor_system& sys) {
    return f(sys, lane{});
  };
  return h;
}

caf::expected<service> start_service(caf::actor_system& sys,
                                     const config& cfg, agent_hub_actor hub) {
  auto local = start_hosting(sys, cfg, hub);
  if (!local)
    return std::move(local.error());
  service svc;
  svc.runner = local->runner;
  svc.llm = local->llm;
  auto threads = static_cast<size_t>(scheduler_threads(cfg));
  auto num_scorers = cfg.scorers > 0 ? static_cast<size_t>(cfg.scorers)
                                     : threads;
  auto make_agent = local->make_agent;
  // Engine lanes need agents and scorers in this process: with nodes,
  // deliberations run without (their calls leave the process anyway).
  auto lanes = cfg.distributed() ? 1u : static_cast<uint32_t>(engine_lanes(cfg));
  if (cfg.distributed()) {
    // Agents and scorers live on nodes; this process hosts them only while
    // no node is up. `remote` agents stay here: they talk to NATS.
    auto placement = start_placement(sys, cfg, *local);
    if (!placement)
      return std::move(placement.error());
    svc.placement = *placement;
    std::chrono::milliseconds timeout{cfg.node_call_timeout * 1000LL};
    for (size_t i = 0; i < num_scorers; ++i)
      svc.scorers.push_back(spawn_placed_scorer(sys, svc.placement, timeout));
    make_agent = [local_agent = local->make_agent, placement = svc.placement,
                  timeout](caf::actor_system& sys,
                           const agent_spec& spec) -> caf::expected<agent_actor> {
      if (spec.backend == "remote")
        return local_agent(sys, spec);
      return spawn_placed_agent(sys, spec, placement, timeout);
    };
  } else {
    // Scorer i serves engine lane i % lanes (council_settings::scorers).
    for (size_t i = 0; i < num_scorers; ++i)
      svc.scorers.push_back(local->make_lane_scorer(
        sys, lane{static_cast<uint32_t>(i % lanes), lanes}));
  }
  svc.architect = cfg.architect_mode == "llm"
                    ? spawn_llm_architect(sys, vllm_settings_of(cfg), svc.llm)
                    : spawn_architect(sys);
  orchestrator_settings os;
  os.agent_type = cfg.agent_type == "mock" ? "scripted" : cfg.agent_type;
  os.quorum = cfg.quorum;
  os.deliberation_timeout = std::chrono::seconds(cfg.deliberation_timeout);
  os.cleanup_after = std::chrono::seconds(cfg.deliberation_cleanup);
  os.max_stored_results = static_cast<size_t>(cfg.max_stored_results);
  os.scorers = svc.scorers;
  os.architect = svc.architect;
  os.make_agent = std::move(make_agent);
  if (lanes > 1) {
    // One ORCHESTRATOR per lane, with its councils, agents and scorers
    // pinned there; each keeps its share of the stored results.
    std::vector<orchestrator_actor> per_lane;
    for (uint32_t k = 0; k < lanes; ++k) {
      auto lo = os;
      lo.home = lane{k, lanes};
      lo.make_agent = make_agent_factory(cfg, svc.llm, hub, lo.home);
      lo.max_stored_results = (os.max_stored_results + lanes - 1) / lanes;
      if (svc.scorers.size() >= lanes) {
        lo.scorers.clear();
        for (size_t i = k; i < svc.scorers.size(); i += lanes)
          lo.scorers.push_back(svc.scorers[i]);
      }
      per_lane.push_back(spawn_orchestrator(sys, std::move(lo)));
    }
    svc.orchestrator = spawn_orchestrator_group(sys, std::move(per_lane));
  } else {
    svc.orchestrator = spawn_orchestrator(sys, std::move(os));
  }
  caf::scoped_actor self{sys};
  caf::error failure;
  for (auto& c : cfg.councils) {
    council_config cc;
    cc.role = c.role;
    cc.num_agents = c.agents;
    cc.custom_params = c.params;
    cc.rounds = cfg.rounds;
    self->request(svc.orchestrator, caf::infinite, atom::create_v, cc)
      .receive(
        [&](council_info& info) {
          spdlog::debug("supervisor created {} with {} agents", info.council_id,
                        info.agent_ids.size());
        },
        [&](caf::error& err) { failure = std::move(err); });
    if (failure) {
      stop_service(sys, svc);
      return failure;
    }
  }
  return svc;
}

caf::expected<task_queue_actor> start_queue(caf::actor_system& sys,
                                            const config& cfg,
                                            int32_t max_attempts,
                                            bool bounded) {
  task_queue_settings qs;
  qs.max_attempts = max_attempts;
  if (bounded) {
    qs.retain_ms = static_cast<int64_t>(cfg.deliberation_cleanup) * 1000;
    qs.retain_max = static_cast<size_t>(cfg.max_stored_results);
  }
  if (cfg.redis_url.empty())
    return spawn_memory_queue(sys, qs);
  redis_queue_settings rs;
  rs.url = cfg.redis_url;
  rs.prefix = cfg.redis_prefix;
  rs.queue = qs;
  return spawn_redis_queue(sys, rs);
}

std::string worker_name(const config& cfg, const std::string& prefix) {
  if (!cfg.worker_id.empty())
    return cfg.worker_id;
  char host[256] = "host";
  gethostname(host, sizeof(host) - 1);
  return prefix + "-" + host + "-" + std::to_string(getpid());
}

void stop_service(caf::actor_system&, service& svc) {
  auto bye = caf::exit_reason::user_shutdown;
  if (svc.orchestrator)
    caf::anon_send_exit(svc.orchestrator, bye);
  if (svc.architect)
    caf::anon_send_exit(svc.architect, bye);
  for (auto& s : svc.scorers)
    caf::anon_send_exit(s, bye);
  if (svc.runner)
    caf::anon_send_exit(svc.runner, bye);
  if (svc.llm)
    caf::anon_send_exit(svc.llm, bye);
  if (svc.placement)
    caf::anon_send_exit(svc.placement, bye);
}

} // namespace orch
