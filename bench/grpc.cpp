// Benchmark: Deliberate over gRPC against `orchestrator serve` (scripted
// agents, a private nats-server), C concurrent clients for C in --clients,
// next to the same deliberations through an in-process ORCHESTRATOR; the
// difference per call is the gRPC overhead.
//
//   grpc --requests 2000 --clients 1,16,128
//
// Prints one JSON line per C.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "bench/bench_driver.hpp"
#include "bench/stub_process.hpp"
#include "bridges/grpc_client.hpp"
#include "runtime/supervisor.hpp"
#include "tests/child_process.hpp"

using namespace orch;
using namespace orch::bench;
using namespace orch::test;

namespace {

/// Runs `requests` Deliberate calls from `clients` threads; latencies in ns.
std::pair<double, std::vector<int64_t>>
over_grpc(const std::string& target, int64_t requests, int clients,
          int64_t& failed, std::string& first_error) {
  std::atomic<int64_t> next{0};
  std::mutex mtx;
  std::vector<int64_t> lat;
  lat.reserve(static_cast<size_t>(requests));
  auto task = bench_task(1);
  auto start = clock_type::now();
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c)
    ts.emplace_back([&] {
      auto client = make_grpc_client(target);
      std::vector<int64_t> mine;
      while (next++ < requests) {
        auto t0 = clock_type::now();
        auto out = client->deliberate(task, std::chrono::seconds(60));
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    clock_type::now() - t0)
                    .count();
        std::lock_guard<std::mutex> guard{mtx};
        if (out) {
          lat.push_back(ns);
        } else {
          if (failed++ == 0)
            first_error = render(out.error());
        }
      }
    });
  for (auto& t : ts)
    t.join();
  auto wall = std::chrono::duration<double>(clock_type::now() - start).count();
  return {wall, std::move(lat)};
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Deliberate over gRPC next to the in-process path"};
  int64_t requests = 2000;
  std::string clients_list = "1,16,128";
  std::string binary;
  app.add_option("--requests", requests, "Deliberate calls per C")
    ->capture_default_str();
  app.add_option("--clients", clients_list, "concurrent clients, comma list")
    ->capture_default_str();
  app.add_option("--binary", binary, "orchestrator binary (default: next to "
                                     "bench/)");
  CLI11_PARSE(app, argc, argv);
  std::vector<int> clients;
  std::stringstream ss{clients_list};
  for (std::string item; std::getline(ss, item, ',');)
    clients.push_back(std::atoi(item.c_str()));
  if (binary.empty())
    binary = orchestrator_beside();
  scratch_dir dir;
  auto nats_port = free_port();
  auto nats = start_nats_server(dir.path, nats_port);
  auto grpc_port = free_port();
  auto target = "127.0.0.1:" + std::to_string(grpc_port);
  child serve({binary, "serve"},
              {"NATS_URL=nats://127.0.0.1:" + std::to_string(nats_port),
               "HTTP_PORT=0", "GRPC_PORT=" + std::to_string(grpc_port),
               "LOG_LEVEL=warn", "COUNCILS=DEV:3", "RESULT_STORE_MAX=1000",
               "GRPC_MAX_DELIBERATIONS=100000"},
              dir.path + "/serve.log");
  auto probe = make_grpc_client(target);
  bool ready = false;
  for (int i = 0; i < 100 && !ready; ++i) {
    auto st = probe->status();
    ready = st && st->status == "healthy";
    if (!ready)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ready) {
    std::fprintf(stderr, "grpc: serve did not get ready\n%s\n",
                 serve.output().c_str());
    return 1;
  }
  // The in-process path: the same task through an ORCHESTRATOR here.
  config cfg;
  cfg.councils = {council_spec{"DEV", 3}};
  cfg.max_stored_results = 1000;
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  auto svc = start_service(sys, cfg);
  if (!svc)
    return 1;
  int rc = 0;
  for (auto c : clients) {
    int64_t failed = 0;
    std::string first_error;
    over_grpc(target, std::min<int64_t>(requests / 10 + 1, 200), c, failed,
              first_error); // warm-up
    failed = 0;
    auto [wall, lat] = over_grpc(target, requests, c, failed, first_error);
    auto ok = static_cast<double>(lat.size());
    auto p50 = percentile_ms(lat, 50);
    auto p99 = percentile_ms(lat, 99);
    run(sys, svc->orchestrator, bench_task(1), 200, c); // warm-up
    auto start = clock_type::now();
    auto local = run(sys, svc->orchestrator, bench_task(1), requests, c);
    auto lwall = std::chrono::duration<double>(clock_type::now() - start)
                   .count();
    auto lok = static_cast<double>(local.latencies_ns.size());
    auto lp50 = percentile_ms(local.latencies_ns, 50);
    auto lp99 = percentile_ms(local.latencies_ns, 99);
    std::printf("{\"bench\":\"grpc\",\"agents\":\"scripted\",\"clients\":%d,"
                "\"requests\":%lld,\"failed\":%lld,\"grpc_per_s\":%.0f,"
                "\"grpc_p50_ms\":%.3f,\"grpc_p99_ms\":%.3f,"
                "\"in_process_per_s\":%.0f,\"in_process_p50_ms\":%.3f,"
                "\"in_process_p99_ms\":%.3f,\"overhead_p50_ms\":%.3f}\n",
                c, static_cast<long long>(requests),
                static_cast<long long>(failed), ok / wall, p50, p99,
                lok / lwall, lp50, lp99, p50 - lp50);
    std::fflush(stdout);
    if (failed > 0) {
      std::fprintf(stderr, "grpc: %lld failed, first: %s\n",
                   static_cast<long long>(failed), first_error.c_str());
      rc = 1;
    }
  }
  stop_service(sys, *svc);
  serve.signal(SIGTERM);
  serve.wait(std::chrono::seconds(20));
  nats.signal(SIGTERM);
  nats.wait(std::chrono::seconds(10));
  return rc;
}
