// Benchmark: D deliberations of `vllm` agents, C at once, against the
// project's own OpenAI-compatible stub server (started as a child process
// with latency L) or against any endpoint given with --url.
//
//   llm_concurrency --agents 3 --rounds 1 --concurrency 100
//                   --deliberations 1000 --latency-ms 50
//
// Prints one JSON line; efficiency = ideal / wall with
// ideal = ceil(D / C) * (1 + 2R) * L.

#include <cmath>
#include <csignal>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_driver.hpp"
#include "bench/cpu_speed.hpp"
#include "bench/nats_load.hpp"
#include "bench/stub_process.hpp"
#include "runtime/supervisor.hpp"

using namespace orch;
using namespace orch::bench;

int main(int argc, char** argv) {
  int32_t agents = 3;
  int32_t rounds = 1;
  int64_t concurrency = 100;
  int64_t deliberations = 1000;
  int32_t latency_ms = 50;
  int64_t warm = -1;
  std::string url;
  config cfg;
  cfg.vllm_max_concurrency = 1'000'000;
  CLI::App app{"Concurrent deliberations of vllm agents against an "
               "OpenAI-compatible endpoint"};
  app.add_option("--agents", agents, "agents per council (N)")
    ->capture_default_str();
  app.add_option("--rounds", rounds, "rounds of peer review (R)")
    ->capture_default_str();
  app.add_option("--concurrency", concurrency, "deliberations in flight (C)")
    ->capture_default_str();
  app.add_option("--deliberations", deliberations, "deliberations (D)")
    ->capture_default_str();
  app
    .add_option("--latency-ms", latency_ms,
                "latency of the stub server, or what --url is known to add "
                "(L)")
    ->capture_default_str();
  app.add_option("--url", url,
                 "an OpenAI-compatible endpoint instead of the stub server");
  app.add_option("--model", cfg.vllm_model, "model name for --url")
    ->capture_default_str();
  app.add_option("--threads", cfg.threads, "scheduler threads, 0 = cores")
    ->capture_default_str();
  app.add_option("--lanes", cfg.engine_lanes,
                 "engine lanes, 0 = one per thread (affine), 1 = none")
    ->capture_default_str();
  app
    .add_option("--scheduler-policy", cfg.scheduler_policy,
                "CAF scheduler: affine, lean, sharing or stealing")
    ->check(CLI::IsMember(scheduler_policies))
    ->capture_default_str();
  app
    .add_option("--max-per-endpoint", cfg.vllm_max_concurrency,
                "cap of requests in flight per endpoint")
    ->capture_default_str();
  app
    .add_option("--gather-us", cfg.vllm_gather_us,
                "longest wait between reads of replies (as VLLM_GATHER_US; 0: "
                "at once)")
    ->capture_default_str();
  app
    .add_option("--http-client", cfg.vllm_http_client,
                "builtin (the client's own HTTP/1.1) or curl (libcurl)")
    ->capture_default_str();
  app.add_option("--warm", warm,
                 "deliberations of the unmeasured warm-up wave (default C: "
                 "every connection the run needs is open)");
  CLI11_PARSE(app, argc, argv);
  if (warm < 0)
    warm = concurrency;
  if (agents < 1 || rounds < 0 || concurrency < 1 || deliberations < 1
      || latency_ms < 0) {
    std::fprintf(stderr, "llm_concurrency: bad parameters\n");
    return 2;
  }
  stub_process stub;
  if (url.empty()) {
    if (!stub.start(own_dir() + "/llm_stub", latency_ms)) {
      std::fprintf(stderr, "llm_concurrency: could not start %s/llm_stub\n",
                   own_dir().c_str());
      return 1;
    }
    url = "http://127.0.0.1:" + std::to_string(stub.port);
    cfg.vllm_model = "stub-model";
  }
  cfg.agent_type = "vllm";
  cfg.vllm_url = url;
  cfg.vllm_timeout = 120;
  cfg.vllm_max_tokens = 256;
  cfg.councils = {council_spec{"DEV", agents}};
  cfg.rounds = rounds;
  cfg.deliberation_timeout = 600;
  cfg.max_stored_results = 1000;
  if (auto err = validate(cfg)) {
    std::fprintf(stderr, "llm_concurrency: %s\n", render(err).c_str());
    return 2;
  }
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  auto svc = start_service(sys, cfg);
  if (!svc) {
    std::fprintf(stderr, "llm_concurrency: %s\n", render(svc.error()).c_str());
    return 1;
  }
  auto task = bench_task(rounds);
  // Warm the connection pool and the allocator with one wave: a service
  // keeps its connections to the model open, so the measured waves should
  // not open them (C=1000 needs 3,000, and opening them took the first
  // measured wave ~0.3 s longer).
  if (warm > 0)
    run(sys, svc->orchestrator, task, warm, warm);
  auto cpu0 = self_cpu_split();
  auto stub_cpu0 = stub.pid > 0 ? cpu_seconds(stub.pid) : 0.0;
  auto start = clock_type::now();
  auto stats = run(sys, svc->orchestrator, task, deliberations, concurrency);
  auto wall = std::chrono::duration<double>(clock_type::now() - start).count();
  // Client: this whole process (prompts, JSON, curl, actors, the driver).
  auto cpu1 = self_cpu_split();
  auto client_user = cpu1.user - cpu0.user;
  auto client_system = cpu1.system - cpu0.system;
  auto client_cpu = client_user + client_system;
  auto stub_cpu = stub.pid > 0 ? cpu_seconds(stub.pid) - stub_cpu0 : -1.0;
  auto ok = static_cast<int64_t>(stats.latencies_ns.size());
  auto waves = std::ceil(static_cast<double>(deliberations) / concurrency);
  auto ideal = waves * (1 + 2 * rounds) * latency_ms / 1000.0;
  auto requests = static_cast<double>(deliberations) * agents
                  * (1 + 2 * rounds);
  auto p50 = percentile_ms(stats.latencies_ns, 50);
  auto p99 = percentile_ms(stats.latencies_ns, 99);
  std::printf("{\"bench\":\"llm_concurrency\",\"backend\":\"vllm\","
              "\"http_client\":\"%s\",\"gather_us\":%d,\"scheduler_policy\":\"%s\",\"lanes\":%d,\"endpoint\":\"%s\",\"agents\":%d,\"rounds\":%d,"
              "\"concurrency\":%lld,\"deliberations\":%lld,"
              "\"latency_ms\":%d,\"warm\":%lld,\"requests_in_flight\":%lld,"
              "\"completed\":%lld,\"failed\":%lld,\"wall_s\":%.3f,"
              "\"ideal_s\":%.3f,\"efficiency\":%.3f,\"requests_per_s\":%.0f,"
              "\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"model_call_ms\":%.1f,"
              "\"client_cpu_us_per_request\":%.1f,"
              "\"client_user_us_per_request\":%.1f,"
              "\"client_system_us_per_request\":%.1f,"
              "\"stub_cpu_us_per_request\":%.1f,\"peak_rss_mb\":%.1f,%s}\n",
              cfg.vllm_http_client.c_str(), cfg.vllm_gather_us,
              cfg.scheduler_policy.c_str(), engine_lanes(cfg),
              stub.pid > 0 ? "stub" : url.c_str(),
              agents, rounds,
              static_cast<long long>(concurrency),
              static_cast<long long>(deliberations), latency_ms,
              static_cast<long long>(warm),
              static_cast<long long>(concurrency * agents),
              static_cast<long long>(ok), static_cast<long long>(stats.failed),
              wall, ideal, ideal / wall, requests / wall, p50, p99,
              stats.model_calls > 0 ? static_cast<double>(stats.model_latency_ms)
                                        / stats.model_calls
                                    : 0.0,
              client_cpu * 1e6 / requests, client_user * 1e6 / requests,
              client_system * 1e6 / requests,
              stub_cpu >= 0 ? stub_cpu * 1e6 / requests : -1.0, peak_rss_mb(),
              cpu_speed_json().c_str());
  if (stats.failed > 0)
    std::fprintf(stderr, "llm_concurrency: %lld failed, first: %s\n",
                 static_cast<long long>(stats.failed),
                 stats.first_error.c_str());
  stop_service(sys, *svc);
  return stats.failed > 0 ? 1 : 0;
}
