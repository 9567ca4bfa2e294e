// Benchmark: in-process deliberations per second and latency percentiles,
// through the ORCHESTRATOR as the service runs them.
//
//   deliberation [--mode scripted|engine] --agents 3 --rounds 1
//                --concurrency 64 --deliberations 200000
//   deliberation --mode engine --table      (N in {3, 6, 12} x R in {0, 1, 2})
//
// `scripted` (the default): `scripted` agents write their full texts and the
// SCORER runs its full checks. `engine`: `scripted` agents of style `brief`
// answer with one line ("DEV-agent-2: solution for bench-17") and the SCORER
// runs its `trivial` profile (a substring test, a rule on length, a hash), so
// what is measured is the engine's own cost: messages, actors, ranking.
// Prints one JSON line per configuration.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <unistd.h>

#include "bench/bench_driver.hpp"
#include "bench/cpu_speed.hpp"
#include "runtime/supervisor.hpp"

using namespace orch;
using namespace orch::bench;

namespace {

struct options {
  std::string mode = "scripted";
  int32_t agents = 3;
  int32_t rounds = 1;
  int64_t concurrency = 64;
  int64_t deliberations = 200'000;
  int64_t warmup = 2'000;
  int32_t threads = 0;
  int32_t scorers = 0;
  int32_t lanes = 0;
  /// Clients sharing the deliberations; more than one: pinned to lanes.
  int32_t clients = 1;
  std::string scheduler_policy = "affine";
  /// CAF settings KEY=VALUE set after the service's own.
  std::vector<std::string> caf;
};

/// Runs one configuration in an actor system of its own and prints its line.
/// Returns false when a deliberation failed or the service did not start.
bool measure(const options& opt, const std::string& rules_file) {
  config cfg;
  cfg.threads = opt.threads;
  cfg.scorers = opt.scorers;
  cfg.engine_lanes = opt.lanes;
  cfg.scheduler_policy = opt.scheduler_policy;
  cfg.councils = {council_spec{"DEV", opt.agents, {}}};
  if (opt.mode == "engine") {
    cfg.councils.front().params["style"] = "brief";
    cfg.scorer_rules = rules_file;
  }
  cfg.rounds = opt.rounds;
  cfg.max_stored_results = 1000;
  if (auto err = validate(cfg)) {
    std::fprintf(stderr, "deliberation: %s\n", render(err).c_str());
    return false;
  }
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  for (auto& kv : opt.caf) {
    auto eq = kv.find('=');
    auto val = eq == std::string::npos
                 ? caf::expected<caf::config_value>{caf::sec::invalid_argument}
                 : caf::config_value::parse(kv.substr(eq + 1));
    if (!val) {
      std::fprintf(stderr, "deliberation: --caf %s: expected KEY=VALUE\n",
                   kv.c_str());
      return false;
    }
    sys_cfg.set(kv.substr(0, eq), std::move(*val));
  }
  caf::actor_system sys{sys_cfg};
  auto svc = start_service(sys, cfg);
  if (!svc) {
    std::fprintf(stderr, "deliberation: %s\n", render(svc.error()).c_str());
    return false;
  }
  auto task = bench_task(opt.rounds);
  if (opt.warmup > 0)
    run(sys, svc->orchestrator, task, opt.warmup, opt.concurrency,
        opt.clients);
  auto cpu0 = self_cpu_seconds();
  auto start = clock_type::now();
  auto stats = run(sys, svc->orchestrator, task, opt.deliberations,
                   opt.concurrency, opt.clients);
  auto wall = std::chrono::duration<double>(clock_type::now() - start).count();
  auto cpu = self_cpu_seconds() - cpu0;
  auto ok = static_cast<int64_t>(stats.latencies_ns.size());
  auto p50 = percentile_ms(stats.latencies_ns, 50);
  auto p99 = percentile_ms(stats.latencies_ns, 99);
  auto calls = opt.agents * (1.0 + 2.0 * opt.rounds);
  std::printf(
    "{\"bench\":\"deliberation\",\"mode\":\"%s\",\"measures\":\"%s\","
    "\"agents\":%d,\"rounds\":%d,\"concurrency\":%lld,"
    "\"deliberations\":%lld,\"threads\":%d,\"policy\":\"%s\","
    "\"scorers\":%d,\"lanes\":%d,\"clients\":%d,"
    "\"completed\":%lld,\"failed\":%lld,\"wall_s\":%.3f,"
    "\"deliberations_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
    "\"agent_calls_per_s\":%.0f,\"cpu_us_per_deliberation\":%.2f,"
    "\"cpu_us_per_agent_call\":%.3f,\"peak_rss_mb\":%.1f,%s}\n",
    opt.mode.c_str(),
    opt.mode == "engine"
      ? "the engine's own cost: brief scripted agents, trivial checks"
      : "full scripted agents and the full check suite",
    opt.agents, opt.rounds, static_cast<long long>(opt.concurrency),
    static_cast<long long>(opt.deliberations), scheduler_threads(cfg),
    cfg.scheduler_policy.c_str(),
    cfg.scorers > 0 ? cfg.scorers : scheduler_threads(cfg), engine_lanes(cfg),
    opt.clients,
    static_cast<long long>(ok), static_cast<long long>(stats.failed), wall,
    ok / wall, p50, p99, ok * calls / wall, ok > 0 ? cpu * 1e6 / ok : 0.0,
    ok > 0 ? cpu * 1e6 / (ok * calls) : 0.0, peak_rss_mb(),
              cpu_speed_json().c_str());
  std::fflush(stdout);
  if (stats.failed > 0)
    std::fprintf(stderr, "deliberation: %lld failed, first: %s\n",
                 static_cast<long long>(stats.failed),
                 stats.first_error.c_str());
  stop_service(sys, *svc);
  return stats.failed == 0;
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  bool table = false;
  CLI::App app{"In-process deliberations per second"};
  app.add_option("--mode", opt.mode,
                 "scripted: full scripted agents and checks; engine: brief "
                 "scripted agents and trivial checks (the engine's own cost)")
    ->check(CLI::IsMember({"scripted", "engine"}))
    ->capture_default_str();
  app.add_option("--agents", opt.agents, "agents per council (N)")
    ->capture_default_str();
  app.add_option("--rounds", opt.rounds, "rounds of peer review (R)")
    ->capture_default_str();
  app.add_option("--concurrency", opt.concurrency,
                 "deliberations in flight (C)")
    ->capture_default_str();
  app
    .add_option("--deliberations", opt.deliberations,
                "deliberations measured (D)")
    ->capture_default_str();
  app.add_option("--warmup", opt.warmup, "deliberations before measuring")
    ->capture_default_str();
  app.add_option("--threads", opt.threads, "scheduler threads, 0 = cores")
    ->capture_default_str();
  app.add_option("--scorers", opt.scorers, "scorer actors, 0 = threads")
    ->capture_default_str();
  app.add_option("--clients", opt.clients,
                 "clients sharing the deliberations; more than one: client "
                 "i pinned to engine lane i")
    ->capture_default_str();
  app.add_option("--lanes", opt.lanes,
                 "engine lanes, 0 = one per thread (affine), 1 = none")
    ->capture_default_str();
  app
    .add_option("--scheduler-policy", opt.scheduler_policy,
                "CAF scheduler: affine, lean, sharing or stealing")
    ->check(CLI::IsMember(scheduler_policies))
    ->capture_default_str();
  app.add_option("--caf", opt.caf,
                 "a CAF setting KEY=VALUE, e.g. "
                 "work-stealing.moderate-sleep-duration=0us (repeatable)");
  app.add_flag("--table", table,
               "one line for each N in {3, 6, 12} and R in {0, 1, 2}");
  CLI11_PARSE(app, argc, argv);
  if (opt.agents < 1 || opt.rounds < 0 || opt.concurrency < 1
      || opt.deliberations < 1) {
    std::fprintf(stderr, "deliberation: agents, concurrency and "
                         "deliberations must be positive, rounds >= 0\n");
    return 2;
  }
  // The `trivial` profile of the SCORER comes from a rules file, as a user
  // of the service would set it (SCORER_RULES).
  std::string rules_file;
  if (opt.mode == "engine") {
    rules_file = "/tmp/orch-bench-trivial-" + std::to_string(getpid())
                 + ".yaml";
    std::ofstream{rules_file} << "profile: trivial\n";
  }
  bool ok = true;
  if (table) {
    for (int32_t n : {3, 6, 12})
      for (int32_t r : {0, 1, 2}) {
        auto row = opt;
        row.agents = n;
        row.rounds = r;
        ok = measure(row, rules_file) && ok;
      }
  } else {
    ok = measure(opt, rules_file);
  }
  if (!rules_file.empty())
    std::remove(rules_file.c_str());
  return ok ? 0 : 1;
}
