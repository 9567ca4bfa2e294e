// Benchmark: in-process deliberations per second and latency percentiles with
// `scripted` agents, through the ORCHESTRATOR as the service runs them.
//
//   deliberation --agents 3 --rounds 1 --concurrency 64 --deliberations 200000
//
// Prints one JSON line.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "bench/bench_driver.hpp"
#include "runtime/supervisor.hpp"

using namespace orch;
using namespace orch::bench;

int main(int argc, char** argv) {
  int32_t agents = 3;
  int32_t rounds = 1;
  int64_t concurrency = 64;
  int64_t deliberations = 200'000;
  int64_t warmup = 2'000;
  config cfg;
  CLI::App app{"In-process deliberations per second with scripted agents"};
  app.add_option("--agents", agents, "agents per council (N)")
    ->capture_default_str();
  app.add_option("--rounds", rounds, "rounds of peer review (R)")
    ->capture_default_str();
  app.add_option("--concurrency", concurrency, "deliberations in flight (C)")
    ->capture_default_str();
  app
    .add_option("--deliberations", deliberations, "deliberations measured (D)")
    ->capture_default_str();
  app.add_option("--warmup", warmup, "deliberations before measuring")
    ->capture_default_str();
  app.add_option("--threads", cfg.threads, "scheduler threads, 0 = cores")
    ->capture_default_str();
  app.add_option("--scorers", cfg.scorers, "scorer actors, 0 = threads")
    ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (agents < 1 || rounds < 0 || concurrency < 1 || deliberations < 1) {
    std::fprintf(stderr, "deliberation: agents, concurrency and "
                         "deliberations must be positive, rounds >= 0\n");
    return 2;
  }
  cfg.councils = {council_spec{"DEV", agents}};
  cfg.rounds = rounds;
  cfg.max_stored_results = 1000;
  if (auto err = validate(cfg)) {
    std::fprintf(stderr, "deliberation: %s\n", render(err).c_str());
    return 2;
  }
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  auto svc = start_service(sys, cfg);
  if (!svc) {
    std::fprintf(stderr, "deliberation: %s\n", render(svc.error()).c_str());
    return 1;
  }
  auto task = bench_task(rounds);
  if (warmup > 0)
    run(sys, svc->orchestrator, task, warmup, concurrency);
  auto start = clock_type::now();
  auto stats = run(sys, svc->orchestrator, task, deliberations, concurrency);
  auto wall = std::chrono::duration<double>(clock_type::now() - start).count();
  auto ok = static_cast<int64_t>(stats.latencies_ns.size());
  auto p50 = percentile_ms(stats.latencies_ns, 50);
  auto p99 = percentile_ms(stats.latencies_ns, 99);
  std::printf("{\"bench\":\"deliberation\",\"backend\":\"scripted\","
              "\"agents\":%d,\"rounds\":%d,\"concurrency\":%lld,"
              "\"deliberations\":%lld,\"threads\":%d,\"scorers\":%d,"
              "\"completed\":%lld,\"failed\":%lld,\"wall_s\":%.3f,"
              "\"deliberations_per_s\":%.0f,\"p50_ms\":%.3f,"
              "\"p99_ms\":%.3f,\"agent_calls_per_s\":%.0f,"
              "\"peak_rss_mb\":%.1f}\n",
              agents, rounds, static_cast<long long>(concurrency),
              static_cast<long long>(deliberations), scheduler_threads(cfg),
              cfg.scorers > 0 ? cfg.scorers : scheduler_threads(cfg),
              static_cast<long long>(ok), static_cast<long long>(stats.failed),
              wall, ok / wall, p50, p99,
              ok * (agents * (1.0 + 2.0 * rounds)) / wall, peak_rss_mb());
  if (stats.failed > 0)
    std::fprintf(stderr, "deliberation: %lld failed, first: %s\n",
                 static_cast<long long>(stats.failed),
                 stats.first_error.c_str());
  stop_service(sys, *svc);
  return stats.failed > 0 ? 1 : 0;
}
