#include "runtime/cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bridges/grpc_client.hpp"
#include "messages/json_codec.hpp"
#include "runtime/logging.hpp"
#include "runtime/plan_run.hpp"
#include "runtime/nodes.hpp"
#include "runtime/provision.hpp"
#include "runtime/serve.hpp"
#include "runtime/submit.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/text.hpp"

namespace orch {

namespace {

// -- progress on stderr -------------------------------------------------------

/// Prints progress lines; answers `get` once everything before it is printed.
using printer_actor
  = progress_listener_actor::extend<caf::replies_to<atom::get>::with<int32_t>>;

struct printer_state {
  static inline const char* name = "progress-printer";
  int32_t lines = 0;
};

printer_actor::behavior_type
printer(printer_actor::stateful_pointer<printer_state> self) {
  return {
    [=](deliberation_update& up) {
      ++self->state.lines;
      std::fprintf(stderr, "[%3d%%] %-18s %s\n", up.progress_percent,
                   up.current_step.c_str(), up.current_agent.c_str());
    },
    [=](atom::get) -> caf::result<int32_t> { return self->state.lines; },
  };
}

// -- output -------------------------------------------------------------------

void print_table(const deliberation_outcome& out) {
  std::printf("task %s  execution %s  winner %s  %lld ms\n",
              out.task_id.c_str(), out.execution_id.c_str(),
              out.winner_id.c_str(), static_cast<long long>(out.duration_ms));
  std::printf("%-4s  %-18s  %-5s  %-6s  %s\n", "rank", "author", "score",
              "checks", "proposal");
  for (auto& r : out.results) {
    auto checks = fmt::format("{}/{}", checks_passed(r.checks),
                              checks_total(r.checks));
    std::printf("%-4d  %-18s  %.3f  %-6s  %s\n", r.rank,
                r.proposal.author_id.c_str(), r.score, checks.c_str(),
                first_line(r.proposal.content, 60).c_str());
  }
  if (!out.rationale.empty())
    std::printf("architect: %s\n", out.rationale.c_str());
  for (auto& f : out.failed_agents)
    std::printf("dropped %s in %s: %s\n", f.agent_id.c_str(), f.phase.c_str(),
                f.reason.c_str());
}

// -- commands -----------------------------------------------------------------

struct deliberate_options {
  std::string role = "DEV";
  int32_t agents = 0;
  int32_t rounds = -1;
  bool json = false;
  bool orchestrate = false;
  std::string task_id;
  std::string rubric;
  std::vector<std::string> requirements;
  int32_t timeout_seconds = 0;
  int32_t k = 3;
  std::string text;
  /// HOST:PORT of a running service; empty: deliberate in this process.
  std::string server;
};

int fail_config(const caf::error& err) {
  std::fprintf(stderr, "orchestrator: configuration error: %s\n",
               render(err).c_str());
  return 2;
}

/// The task `deliberate` describes.
task_spec task_of(const deliberate_options& opts) {
  task_spec task;
  task.task_id = opts.task_id;
  task.role = normalize_role(opts.role);
  task.description = opts.text;
  task.constraints.rubric = opts.rubric;
  task.constraints.requirements = opts.requirements;
  task.constraints.timeout_seconds = opts.timeout_seconds;
  task.constraints.k = opts.k;
  task.constraints.rounds = opts.rounds;
  return task;
}

int remote_failure(const caf::error& err) {
  std::fprintf(stderr, "orchestrator: %s\n", render(err).c_str());
  return code_of(err) == ec::invalid_argument ? 2 : 1;
}

/// `deliberate --server`: progress from StreamDeliberation, then the same
/// output as the local mode.
int run_remote_deliberate(const deliberate_options& opts) {
  auto client = make_grpc_client(opts.server);
  auto out = client->stream(
    task_of(opts),
    [](const deliberation_update& up) {
      std::fprintf(stderr, "[%3d%%] %-18s %s\n", up.progress_percent,
                   up.current_step.c_str(), up.current_agent.c_str());
      return true;
    },
    std::chrono::milliseconds(0));
  if (!out)
    return remote_failure(out.error());
  if (opts.json)
    std::printf("%s\n", to_json(*out).c_str());
  else
    print_table(*out);
  return out->status == "completed" ? 0 : 1;
}

int run_deliberate(config cfg, const deliberate_options& opts) {
  if (!opts.server.empty())
    return run_remote_deliberate(opts);
  auto role = normalize_role(opts.role);
  if (opts.agents > 0) {
    cfg.councils = {council_spec{role, opts.agents}};
  }
  if (opts.rounds >= 0)
    cfg.rounds = opts.rounds;
  if (auto err = validate(cfg))
    return fail_config(err);
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  auto svc = start_service(sys, cfg);
  if (!svc)
    return fail_config(svc.error());
  auto task = task_of(opts);
  auto listener = sys.spawn<caf::detached>(printer);
  caf::scoped_actor self{sys};
  int rc = 0;
  auto on_outcome = [&](const deliberation_outcome& out) {
    self->request(listener, caf::infinite, atom::get_v)
      .receive([](int32_t) {}, [](caf::error&) {});
    if (opts.json)
      std::printf("%s\n", to_json(out).c_str());
    else
      print_table(out);
  };
  auto on_error = [&](caf::error& err) {
    std::fprintf(stderr, "orchestrator: deliberation failed: %s\n",
                 render(err).c_str());
    rc = 1;
  };
  auto handle = caf::actor_cast<progress_listener_actor>(listener);
  if (opts.orchestrate)
    self
      ->request(svc->orchestrator, caf::infinite, atom::orchestrate_v, task,
                handle)
      .receive(on_outcome, on_error);
  else
    self
      ->request(svc->orchestrator, caf::infinite, atom::deliberate_v, task,
                handle)
      .receive(on_outcome, on_error);
  self->send_exit(listener, caf::exit_reason::user_shutdown);
  stop_service(sys, *svc);
  return rc;
}

void print_councils(const std::vector<council_info>& xs, bool json) {
  if (json) {
    std::string out = "[";
    for (size_t i = 0; i < xs.size(); ++i) {
      if (i > 0)
        out += ',';
      out += to_json(xs[i]);
    }
    out += ']';
    std::printf("%s\n", out.c_str());
    return;
  }
  std::printf("%-18s  %-10s  %-8s  %-6s  %s\n", "council", "role", "backend",
              "rounds", "agents");
  for (auto& x : xs) {
    std::string ids;
    for (auto& id : x.agent_ids)
      ids += (ids.empty() ? "" : " ") + id;
    std::printf("%-18s  %-10s  %-8s  %-6d  %s\n", x.council_id.c_str(),
                x.role.c_str(), x.agent_type.c_str(), x.rounds, ids.c_str());
  }
}

int run_councils(config cfg, bool json) {
  if (auto err = validate(cfg))
    return fail_config(err);
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  auto svc = start_service(sys, cfg);
  if (!svc)
    return fail_config(svc.error());
  caf::scoped_actor self{sys};
  int rc = 0;
  self->request(svc->orchestrator, caf::infinite, atom::list_v)
    .receive(
      [&](std::vector<council_info>& xs) { print_councils(xs, json); },
      [&](caf::error& err) {
        std::fprintf(stderr, "orchestrator: %s\n", render(err).c_str());
        rc = 1;
      });
  stop_service(sys, *svc);
  return rc;
}

/// The remote commands: status, councils create|list|delete, agents
/// register|unregister.
struct remote_options {
  std::string server;
  bool json = false;
  std::string role;
  int32_t agents = 3;
  std::string agent_type;
  std::string agent_id;
};

int run_remote_status(const remote_options& o) {
  auto st = make_grpc_client(o.server)->status();
  if (!st)
    return remote_failure(st.error());
  std::string nodes;
  for (auto& n : st->nodes) {
    nodes += nodes.empty() ? "[" : ",";
    nodes += to_json(n);
  }
  nodes += nodes.empty() ? "[]" : "]";
  if (o.json) {
    std::printf("{\"status\":\"%s\",\"uptime_seconds\":%lld,\"stats\":%s,"
                "\"nodes\":%s}\n",
                st->status.c_str(), static_cast<long long>(st->uptime_seconds),
                to_json(st->stats).c_str(), nodes.c_str());
    return 0;
  }
  std::printf("%s at %s, up %llds\n", st->status.c_str(), o.server.c_str(),
              static_cast<long long>(st->uptime_seconds));
  std::printf("deliberations %lld, orchestrations %lld, avg %.1f ms, "
              "councils %lld\n",
              static_cast<long long>(st->stats.total_deliberations),
              static_cast<long long>(st->stats.total_orchestrations),
              st->stats.avg_ms,
              static_cast<long long>(st->stats.active_councils));
  for (auto& [role, n] : st->stats.role_counts)
    std::printf("  %-10s %lld\n", role.c_str(), static_cast<long long>(n));
  if (!st->nodes.empty())
    std::printf("nodes (agents, scorers, joins):\n");
  for (auto& n : st->nodes)
    std::printf("  %-24s %-10s %3d %3d %3d\n", n.name.c_str(), n.state.c_str(),
                n.agents, n.scorers, n.epoch);
  return st->status == "healthy" ? 0 : 1;
}

int run_remote_councils(const std::string& op, const remote_options& o) {
  auto client = make_grpc_client(o.server);
  if (op == "list") {
    auto xs = client->list_councils();
    if (!xs)
      return remote_failure(xs.error());
    print_councils(*xs, o.json);
    return 0;
  }
  if (op == "create") {
    council_config cc;
    cc.role = normalize_role(o.role);
    cc.num_agents = o.agents;
    cc.agent_type = o.agent_type;
    auto info = client->create_council(cc);
    if (!info)
      return remote_failure(info.error());
    std::printf("created %s with %zu agents\n", info->council_id.c_str(),
                info->agent_ids.size());
    return 0;
  }
  auto n = client->delete_council(normalize_role(o.role));
  if (!n)
    return remote_failure(n.error());
  std::printf("deleted council of %s (%d agents)\n",
              normalize_role(o.role).c_str(), *n);
  return 0;
}

int run_remote_agents(const std::string& op, const remote_options& o) {
  auto client = make_grpc_client(o.server);
  auto role = normalize_role(o.role);
  auto msg = op == "register" ? client->register_agent(o.agent_id, role)
                              : client->unregister_agent(o.agent_id, role);
  if (!msg)
    return remote_failure(msg.error());
  std::printf("%s\n", msg->c_str());
  return 0;
}

} // namespace

int run_cli(int argc, char** argv) {
  config cfg;
  if (auto err = apply_environment(cfg, [](const char* name) {
        return std::getenv(name);
      }))
    return fail_config(err);
  CLI::App app{"Orchestrator: councils of AI agents through deliberation"};
  app.set_version_flag("--version", std::string{ORCH_VERSION});
  app.require_subcommand(1);
  std::string councils_flag;
  app.add_option("--agent-type", cfg.agent_type,
                 "agent backend: scripted (deterministic, alias mock) or "
                 "vllm (OpenAI-compatible) [env AGENT_TYPE]");
  app.add_option("--vllm-url", cfg.vllm_url,
                 "base URL of the model server [env VLLM_URL]");
  app.add_option("--vllm-model", cfg.vllm_model, "model [env VLLM_MODEL]");
  app.add_option("--architect-mode", cfg.architect_mode,
                 "rule or llm [env ARCHITECT_MODE]");
  app.add_option("--councils", councils_flag,
                 "councils to create, e.g. DEV:3,QA:3 [env COUNCILS]");
  app.add_option("--deliberation-timeout", cfg.deliberation_timeout,
                 "limit of one deliberation in seconds "
                 "[env DELIBERATION_TIMEOUT]");
  app.add_option("--deliberation-cleanup", cfg.deliberation_cleanup,
                 "seconds results are kept [env DELIBERATION_CLEANUP]");
  app.add_option("--quorum", cfg.quorum,
                 "minimum surviving proposals [env DELIBERATION_QUORUM]");
  app.add_option("--scorer-rules", cfg.scorer_rules,
                 "YAML file with scorer rules [env SCORER_RULES]");
  app.add_option("--threads", cfg.threads,
                 "scheduler threads, 0 = cores [env SCHEDULER_THREADS]");
  app.add_option("--scheduler-policy", cfg.scheduler_policy,
                 "affine (a queue per thread, ours), lean (one FIFO queue, "
                 "ours), sharing (CAF's one FIFO queue) or stealing "
                 "[env SCHEDULER_POLICY]");
  app.add_option("--scorers", cfg.scorers, "scorer actors, 0 = threads");
  app.add_option("--engine-lanes", cfg.engine_lanes,
                 "engine lanes (an orchestrator each), 0 = one per scheduler thread "
                 "(affine policy), 1 = none [env ENGINE_LANES]");
  app.add_option("--log-level", cfg.log_level, "log level [env LOG_LEVEL]");
  app.add_option("--log-format", cfg.log_format,
                 "text or json [env LOG_FORMAT]");
  app.add_option("--nats-url", cfg.nats_url, "NATS server [env NATS_URL]");
  app.add_option("--redis-url", cfg.redis_url,
                 "task queue in Redis [env REDIS_URL]");

  deliberate_options dopts;
  auto* deliberate = app.add_subcommand(
    "deliberate", "run one deliberation and print the ranked results");
  deliberate->add_option("--role", dopts.role, "council role")
    ->capture_default_str();
  deliberate->add_option("--agents", dopts.agents,
                         "agents in the council (default: from COUNCILS)");
  deliberate->add_option("--rounds", dopts.rounds,
                         "rounds of peer review (default: 1)");
  deliberate->add_flag("--json", dopts.json, "print the outcome as JSON");
  deliberate->add_flag("--orchestrate", dopts.orchestrate,
                       "let the architect pick the winner among the top k");
  deliberate->add_option("--task-id", dopts.task_id, "task id");
  deliberate->add_option("--rubric", dopts.rubric, "rubric text");
  deliberate->add_option("--requirement", dopts.requirements,
                         "a requirement (repeatable)");
  deliberate->add_option("--timeout-seconds", dopts.timeout_seconds,
                         "time limit per agent call (0 = none)");
  deliberate->add_option("-k", dopts.k, "architect considers the top k")
    ->capture_default_str();
  deliberate->add_option("task", dopts.text, "the task text")->required();

  plan_run_options ropts;
  auto* run = app.add_subcommand(
    "run", "run a plan (YAML, JSON or markdown) task by task in dependency "
           "order");
  run->add_option("plan", ropts.plan_path, "plan file")->required();
  run->add_option("--out", ropts.out_path, "write the results as JSON");
  run
    ->add_option("--max-in-flight", ropts.max_in_flight,
                 "tasks deliberated at once")
    ->capture_default_str();
  run
    ->add_option("--max-attempts", ropts.max_attempts,
                 "attempts per task before it fails")
    ->capture_default_str();
  run
    ->add_option("--lease-seconds", ropts.lease_seconds,
                 "lease of a running task (extended while it runs)")
    ->capture_default_str();

  auto* serve = app.add_subcommand(
    "serve", "run the service: plans from NATS JetStream in, deliberation "
             "events out, until SIGTERM or SIGINT");
  serve->add_option("--max-in-flight", cfg.max_in_flight,
                    "tasks deliberated at once [env MAX_IN_FLIGHT]");
  serve->add_option("--progress-events", cfg.progress_events,
                    "step, phase or off [env PROGRESS_EVENTS]");
  serve->add_option("--drain-timeout", cfg.drain_timeout,
                    "seconds in-flight tasks get on SIGTERM "
                    "[env DRAIN_TIMEOUT]");

  auto* node = app.add_subcommand(
    "node", "host agents and scorers for the orchestrators that connect "
            "(CAF middleman; NODE_SECRET or mutual TLS), until SIGTERM");
  node->add_option("--listen", cfg.node_listen,
                   "HOST:PORT to listen on [env NODE_LISTEN]");
  node->add_option("--announce", cfg.node_announce,
                   "HOST:PORT of a serve's NODE_LISTEN to announce this node "
                   "to [env NODE_ANNOUNCE]");

  int provision_timeout = 120;
  auto* provision = app.add_subcommand(
    "provision", "create the JetStream streams and durables, then exit");
  provision
    ->add_option("--timeout", provision_timeout,
                 "seconds to keep trying while NATS is not reachable")
    ->capture_default_str();

  submit_options sopts;
  auto* submit = app.add_subcommand(
    "submit", "publish a plan file to a running service as "
              "planning.plan.approved");
  submit->add_option("plan", sopts.plan_path, "plan file (YAML, JSON, markdown)")
    ->required();
  submit->add_flag("--follow", sopts.follow,
                   "show the plan's progress and results until it finished");
  submit->add_flag("--json", sopts.json,
                   "with --follow: print every event of the plan as JSON");
  submit->add_flag("--msgpack", sopts.msgpack, "publish the plan as msgpack");
  submit
    ->add_option("--timeout", sopts.timeout_seconds,
                 "seconds --follow waits at most (0: no limit)")
    ->capture_default_str();

  bool councils_json = false;
  auto* councils = app.add_subcommand(
    "councils", "list the configured councils; with a subcommand, manage "
                "those of a running service");
  councils->add_flag("--json", councils_json, "print as JSON");
  remote_options ropt;
  auto default_server = std::getenv("ORCHESTRATOR_SERVER")
                          ? std::string{std::getenv("ORCHESTRATOR_SERVER")}
                          : "127.0.0.1:" + std::to_string(cfg.grpc_port);
  ropt.server = default_server;
  auto server_opt = [&](CLI::App* cmd) {
    cmd->add_option("--server", ropt.server,
                    "HOST:PORT of `orchestrator serve` (gRPC) "
                    "[env ORCHESTRATOR_SERVER]")
      ->capture_default_str();
  };
  auto* c_list = councils->add_subcommand("list", "councils of a service");
  server_opt(c_list);
  c_list->add_flag("--json", ropt.json, "print as JSON");
  auto* c_create = councils->add_subcommand("create", "create a council");
  server_opt(c_create);
  c_create->add_option("role", ropt.role, "role")->required();
  c_create->add_option("--agents", ropt.agents, "agents")->capture_default_str();
  c_create->add_option("--agent-type", ropt.agent_type,
                       "scripted, vllm or remote (default: the service's)");
  auto* c_delete = councils->add_subcommand("delete", "delete a council");
  server_opt(c_delete);
  c_delete->add_option("role", ropt.role, "role")->required();
  auto* agents = app.add_subcommand("agents",
                                    "register or unregister agents of a "
                                    "running service");
  agents->require_subcommand(1);
  auto* a_reg = agents->add_subcommand("register", "add an agent to a council");
  auto* a_unreg = agents->add_subcommand("unregister",
                                         "remove an agent from its council");
  for (auto* cmd : {a_reg, a_unreg}) {
    server_opt(cmd);
    cmd->add_option("agent_id", ropt.agent_id, "agent id")->required();
    cmd->add_option("--role", ropt.role, "role of its council")->required();
  }
  auto* status = app.add_subcommand("status",
                                    "status of a running service (gRPC)");
  server_opt(status);
  status->add_flag("--json", ropt.json, "print as JSON");
  deliberate->add_option("--server", dopts.server,
                         "deliberate on a running service (HOST:PORT, gRPC) "
                         "instead of in this process");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!councils_flag.empty()) {
    auto xs = parse_councils(councils_flag);
    if (!xs)
      return fail_config(xs.error());
    cfg.councils = std::move(*xs);
  }
  if (auto err = validate(cfg))
    return fail_config(err);
  if (auto err = setup_logging(cfg.log_level, cfg.log_format))
    return fail_config(err);
  if (deliberate->parsed()) {
    if (is_blank(dopts.text)) {
      std::fprintf(stderr, "orchestrator: the task text must not be blank\n");
      return 2;
    }
    return run_deliberate(cfg, dopts);
  }
  if (run->parsed()) {
    if (ropts.max_in_flight < 1 || ropts.max_attempts < 1
        || ropts.lease_seconds < 1) {
      std::fprintf(stderr, "orchestrator: --max-in-flight, --max-attempts and "
                           "--lease-seconds must be at least 1\n");
      return 2;
    }
    return run_plan(cfg, ropts);
  }
  if (serve->parsed()) {
    if (auto err = validate(cfg))
      return fail_config(err);
    return run_serve(cfg);
  }
  if (node->parsed()) {
    if (auto err = validate(cfg))
      return fail_config(err);
    return run_node(cfg);
  }
  if (provision->parsed())
    return run_provision(cfg, provision_timeout);
  if (submit->parsed())
    return run_submit(cfg, sopts);
  if (status->parsed())
    return run_remote_status(ropt);
  for (auto [cmd, op] : {std::pair{c_list, "list"}, std::pair{c_create, "create"},
                         std::pair{c_delete, "delete"}})
    if (cmd->parsed())
      return run_remote_councils(op, ropt);
  if (a_reg->parsed())
    return run_remote_agents("register", ropt);
  if (a_unreg->parsed())
    return run_remote_agents("unregister", ropt);
  return run_councils(cfg, councils_json);
}

} // namespace orch
