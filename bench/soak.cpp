// Soak: a steady load through NATS for a long time. A private nats-server,
// `orchestrator serve` (scripted agents) as a child process; first its
// capacity (P plans of T independent tasks published at once), then plans
// on a schedule at half of it (or --rate) for M minutes.
//
//   soak --minutes 60 [--tasks 10] [--capacity-plans 200] [--rate TASKS/S]
//        [--redis] [--events-max-age S] [--memory-streams] [--binary PATH]
//
// Prints one JSON line at the start (the capacity and the rate), one per
// minute — serve's RSS and open file descriptors, nats-server's RSS, the
// CPU seconds serve and nats-server used in it, p50/p99 from a plan's
// publish to each task's task.completed in that minute, tasks published and
// completed — and a summary: tasks lost (published, never completed),
// completed twice, and RSS, descriptors and p99 of the first and last
// minute. Exit status 1 when a task is lost or completed twice.
//
// The event stream keeps five minutes of events (MaxAge, --events-max-age),
// so that an hour of events does not fill nats-server's store; with
// --memory-streams the plan and event streams are kept in memory instead of
// files (what nats-server's disk costs the latency, on a shared machine).

#include <chrono>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/nats_load.hpp"
#include "bench/stub_process.hpp"
#include "bridges/nats_link.hpp"
#include "messages/events.hpp"
#include "tests/child_process.hpp"

using namespace orch;
using namespace orch::test;
using namespace orch::bench;
using json = nlohmann::json;

namespace {

/// Plans are "<phase>-<index>"; what the recorder knows of each.
struct plan_record {
  clock_type::time_point sent;
  std::vector<uint8_t> done;
};

/// Reads task.completed on its own thread.
struct recorder {
  std::mutex mtx;
  std::vector<plan_record> soak_plans;
  std::vector<plan_record> capacity_plans;
  /// Latencies (ms) of the current minute.
  std::vector<double> minute;
  int64_t completed = 0;
  int64_t twice = 0;
  bool stop = false;

  void run(nats_follower& f) {
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mtx};
        if (stop)
          return;
      }
      auto m = f.next(std::chrono::milliseconds(200));
      if (!m)
        continue;
      auto now = clock_type::now();
      // "<phase>-<index>/T<k>"
      auto id = field(m->data, "\"task_id\":\"", '"');
      auto dash = id.find('-');
      auto slash = id.find("/T");
      if (dash == std::string::npos || slash == std::string::npos)
        continue;
      auto phase = id.substr(0, dash);
      auto plan = std::strtoul(id.c_str() + dash + 1, nullptr, 10);
      auto task = std::strtoul(id.c_str() + slash + 2, nullptr, 10);
      std::lock_guard<std::mutex> guard{mtx};
      auto& plans = phase == "soak" ? soak_plans : capacity_plans;
      if (plan >= plans.size() || task == 0
          || task > plans[plan].done.size())
        continue;
      auto& flag = plans[plan].done[task - 1];
      if (flag) {
        ++twice;
        continue;
      }
      flag = 1;
      ++completed;
      if (&plans == &soak_plans)
        minute.push_back(ms_since(plans[plan].sent, now));
    }
  }

  int64_t completed_now() {
    std::lock_guard<std::mutex> guard{mtx};
    return completed;
  }
};

int64_t missing(const std::vector<plan_record>& plans) {
  int64_t n = 0;
  for (auto& p : plans)
    for (auto d : p.done)
      n += d == 0;
  return n;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"soak: a steady load through NATS, figures every minute"};
  int minutes = 60;
  int tasks = 10;
  int capacity_plans = 200;
  double rate = 0;
  bool use_redis = false;
  int events_max_age = 300;
  bool memory_streams = false;
  std::string binary;
  app.add_option("--minutes", minutes, "length of the steady load")
    ->capture_default_str();
  app.add_option("--tasks", tasks, "tasks per plan")->capture_default_str();
  app.add_option("--capacity-plans", capacity_plans,
                 "plans of the capacity measurement")
    ->capture_default_str();
  app.add_option("--rate", rate,
                 "tasks/s of the steady load (default: half of the capacity)");
  app.add_flag("--redis", use_redis, "the TASK QUEUE in a private redis-server");
  app.add_option("--events-max-age", events_max_age,
                 "seconds of events the event stream keeps")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  app.add_flag("--memory-streams", memory_streams,
               "plan and event streams in memory storage instead of files");
  app.add_option("--binary", binary,
                 "orchestrator binary (default: next to bench/)");
  CLI11_PARSE(app, argc, argv);
  if (binary.empty())
    binary = orchestrator_beside();
  scratch_dir dir;
  auto port = free_port();
  auto nats = start_nats_server(dir.path, port);
  auto url = "nats://127.0.0.1:" + std::to_string(port);
  nats_settings ns;
  ns.url = url;
  ns.retry_forever = false;
  ns.max_pending = 8192;
  auto link = nats_connect(ns);
  if (!link
      || ensure_stream(**link, "ORCHESTRATOR_EVENTS", "orchestration.>",
                       std::chrono::seconds(events_max_age), memory_streams)
      || ensure_stream(**link, "PLANNING_EVENTS", "planning.>",
                       std::chrono::seconds(events_max_age), memory_streams)
      || ensure_streams(**link)) {
    std::fprintf(stderr, "soak: cannot reach the private nats-server\n");
    return 1;
  }
  child redis;
  std::vector<std::string> env{"NATS_URL=" + url, "HTTP_PORT=0", "GRPC_PORT=0",
                               "LOG_LEVEL=warn", "MAX_IN_FLIGHT=64"};
  if (use_redis) {
    auto rport = free_port();
    redis = child({"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port",
                   std::to_string(rport), "--save", "", "--appendonly", "no"},
                  {}, dir.path + "/redis.log");
    for (int i = 0; i < 100 && !port_open(rport); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    env.push_back("REDIS_URL=redis://127.0.0.1:" + std::to_string(rport));
  }
  child serve({binary, "serve"}, env, dir.path + "/serve.log");
  auto follower = follow(**link, subject::task_completed);
  if (!follower) {
    std::fprintf(stderr, "soak: %s\n", render(follower.error()).c_str());
    return 1;
  }
  recorder rec;
  std::thread reader{[&] { rec.run(**follower); }};
  int serve_exit = -1;
  auto finish = [&](int rc) {
    {
      std::lock_guard<std::mutex> guard{rec.mtx};
      rec.stop = true;
    }
    reader.join();
    serve.signal(SIGTERM);
    serve_exit = serve.wait(std::chrono::seconds(30));
    return rc;
  };
  auto publish = [&](std::vector<plan_record>& plans, const char* phase) {
    auto index = plans.size();
    auto id = std::string{phase} + "-" + std::to_string(index);
    {
      std::lock_guard<std::mutex> guard{rec.mtx};
      plans.push_back({clock_type::now(),
                       std::vector<uint8_t>(static_cast<size_t>(tasks), 0)});
    }
    return publish_sync(**link, subject::plan_approved_in,
                        plan_bytes(id, tasks), {{"Nats-Msg-Id", "bench:" + id}});
  };
  auto await_completed = [&](int64_t n, std::chrono::seconds limit) {
    auto until = clock_type::now() + limit;
    while (rec.completed_now() < n && clock_type::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return rec.completed_now() >= n;
  };
  // Warm-up and capacity: the capacity phase's plan 0 is the warm-up.
  if (publish(rec.capacity_plans, "capacity")
      || !await_completed(tasks, std::chrono::seconds(60))) {
    std::fprintf(stderr, "soak: serve did not finish the warm-up plan\n%s\n",
                 serve.output().c_str());
    return finish(1);
  }
  auto t0 = clock_type::now();
  for (int i = 0; i < capacity_plans; ++i)
    if (publish(rec.capacity_plans, "capacity"))
      return finish(1);
  if (!await_completed(static_cast<int64_t>(capacity_plans + 1) * tasks,
                       std::chrono::seconds(600))) {
    std::fprintf(stderr, "soak: the capacity run did not complete\n");
    return finish(1);
  }
  double capacity = static_cast<double>(capacity_plans) * tasks
                    / (ms_since(t0, clock_type::now()) / 1000.0);
  if (rate <= 0)
    rate = capacity / 2;
  std::printf("%s\n", json{{"bench", "soak"},
                           {"agents", "scripted"},
                           {"queue", use_redis ? "redis" : "memory"},
                           {"capacity_tasks_per_s", capacity},
                           {"rate_tasks_per_s", rate},
                           {"tasks_per_plan", tasks},
                           {"events_max_age_s", events_max_age},
                           {"streams", memory_streams ? "memory" : "file"},
                           {"minutes", minutes}}
                        .dump()
                        .c_str());
  std::fflush(stdout);
  {
    std::lock_guard<std::mutex> guard{rec.mtx};
    rec.minute.clear();
  }
  // The steady load; a line per minute.
  auto interval = std::chrono::duration<double>(tasks / rate);
  auto start = clock_type::now();
  auto next_report = start + std::chrono::minutes(1);
  int64_t published_in_minute = 0;
  int64_t completed_at_report = rec.completed_now();
  auto serve_cpu = cpu_seconds(serve.pid());
  auto nats_cpu = cpu_seconds(nats.pid());
  std::vector<json> lines;
  for (int64_t i = 0;; ++i) {
    auto due = start
               + std::chrono::duration_cast<clock_type::duration>(interval * i);
    while (due >= next_report) {
      std::this_thread::sleep_until(next_report);
      std::vector<double> lat;
      {
        std::lock_guard<std::mutex> guard{rec.mtx};
        lat.swap(rec.minute);
      }
      auto done = rec.completed_now();
      auto serve_cpu_now = cpu_seconds(serve.pid());
      auto nats_cpu_now = cpu_seconds(nats.pid());
      json line{{"minute", static_cast<int>(lines.size()) + 1},
                {"rss_mb", rss_mb(serve.pid())},
                {"fds", fd_count(serve.pid())},
                {"nats_rss_mb", rss_mb(nats.pid())},
                {"serve_cpu_s", serve_cpu_now - serve_cpu},
                {"nats_cpu_s", nats_cpu_now - nats_cpu},
                {"p50_ms", pct(lat, 0.50)},
                {"p99_ms", pct(lat, 0.99)},
                {"tasks_published", published_in_minute * tasks},
                {"tasks_completed", done - completed_at_report}};
      std::printf("%s\n", line.dump().c_str());
      std::fflush(stdout);
      lines.push_back(std::move(line));
      published_in_minute = 0;
      completed_at_report = done;
      serve_cpu = serve_cpu_now;
      nats_cpu = nats_cpu_now;
      next_report += std::chrono::minutes(1);
    }
    if (static_cast<int>(lines.size()) >= minutes)
      break;
    std::this_thread::sleep_until(due);
    if (publish(rec.soak_plans, "soak")) {
      std::fprintf(stderr, "soak: publish failed\n");
      return finish(1);
    }
    ++published_in_minute;
  }
  // Everything published completes, once.
  int64_t total = static_cast<int64_t>(rec.capacity_plans.size()
                                       + rec.soak_plans.size())
                  * tasks;
  await_completed(total, std::chrono::seconds(120));
  int64_t lost = 0;
  int64_t twice = 0;
  {
    std::lock_guard<std::mutex> guard{rec.mtx};
    lost = missing(rec.soak_plans) + missing(rec.capacity_plans);
    twice = rec.twice;
  }
  auto rc = finish(lost == 0 && twice == 0 ? 0 : 1);
  json summary{{"summary", "soak"},
               {"minutes", minutes},
               {"tasks", total},
               {"lost", lost},
               {"twice", twice},
               {"serve_exit", serve_exit}};
  if (!lines.empty()) {
    for (auto key : {"rss_mb", "fds", "p99_ms"}) {
      summary[std::string{"first_"} + key] = lines.front()[key];
      summary[std::string{"last_"} + key] = lines.back()[key];
    }
  }
  std::printf("%s\n", summary.dump().c_str());
  return rc;
}
