// Benchmark: the service end to end. A private nats-server, `orchestrator
// serve` (scripted agents) as a child process, P plans of T independent
// tasks published to planning.plan.approved, and the events read back from
// JetStream.
//
//   e2e --plans 200 --tasks 10 [--progress phase|step|off] [--seconds 10]
//       [--replicas N] [--redis]
//
// With --replicas N (or --redis), N serve processes share a private
// redis-server's TASK QUEUE and the JetStream durables.
//
// Prints one JSON line:
// - tasks_per_s: P*T tasks from the first publish to the last
//   deliberation.completed, everything published at once (maximum rate);
// - events_per_task, events_per_s: every orchestration.* event of those
//   plans, and its rate;
// - limit_msgs_per_s: what this nats-server sustains for asynchronous
//   JetStream publish with Nats-Msg-Id of messages of the mean event size;
// - p50/p99 latency from a plan's publish to each task's
//   deliberation.completed at half of tasks_per_s, and the same minus the
//   deliberation's own duration (added_*);
// - serve's RSS at the start, after the maximum-rate run and at the end.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
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

/// Reads the event stream on its own thread and records what it sees.
struct recorder {
  std::mutex mtx;
  /// task id -> receive time of its deliberation.completed, and the
  /// deliberation's duration.
  std::unordered_map<std::string, std::pair<clock_type::time_point, int64_t>>
    completed;
  std::map<std::string, int64_t> events_by_plan_prefix;
  int64_t events = 0;
  int64_t bytes = 0;
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
      std::lock_guard<std::mutex> guard{mtx};
      ++events;
      bytes += static_cast<int64_t>(m->data.size());
      if (m->subject != subject::completed)
        continue;
      // Only two fields matter: find them instead of parsing the whole
      // event, so that the reader adds as little as it can to the latency.
      auto id = field(m->data, "\"task_id\":\"", '"');
      auto ms = field(m->data, "\"duration_ms\":", ',');
      completed.emplace(id, std::make_pair(now, std::atoll(ms.c_str())));
    }
  }

  size_t count_prefix(const std::string& prefix) {
    std::lock_guard<std::mutex> guard{mtx};
    size_t n = 0;
    for (auto& [id, x] : completed)
      n += id.rfind(prefix, 0) == 0;
    return n;
  }
};

bool wait_for(recorder& rec, const std::string& prefix, size_t n,
              std::chrono::seconds limit) {
  auto until = clock_type::now() + limit;
  while (clock_type::now() < until) {
    if (rec.count_prefix(prefix) >= n)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"end-to-end benchmark through NATS JetStream"};
  int plans = 200;
  int tasks = 10;
  std::string progress = "phase";
  int seconds = 10;
  int max_in_flight = 64;
  int limit_msgs = 20000;
  int store_max = 2000;
  double rate = 0;
  std::string binary;
  int replicas = 1;
  bool use_redis = false;
  app.add_option("--replicas", replicas,
                 "serve processes sharing the work (Redis queue)")
    ->capture_default_str();
  app.add_flag("--redis", use_redis, "the TASK QUEUE in a private redis-server");
  app.add_option("--plans", plans, "plans at maximum rate")->capture_default_str();
  app.add_option("--tasks", tasks, "tasks per plan")->capture_default_str();
  app.add_option("--progress", progress, "PROGRESS_EVENTS of serve")
    ->capture_default_str();
  app.add_option("--seconds", seconds, "length of the half-rate run")
    ->capture_default_str();
  app.add_option("--max-in-flight", max_in_flight, "MAX_IN_FLIGHT of serve")
    ->capture_default_str();
  app.add_option("--limit-messages", limit_msgs,
                 "messages of the publish-limit measurement")
    ->capture_default_str();
  app.add_option("--rate", rate,
                 "tasks/s of the latency run (default: half of tasks_per_s)");
  app.add_option("--result-store-max", store_max,
                 "RESULT_STORE_MAX of serve (finished tasks kept in memory)")
    ->capture_default_str();
  app.add_option("--binary", binary, "orchestrator binary (default: next to "
                                     "bench/)");
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
  if (!link || ensure_streams(**link)) {
    std::fprintf(stderr, "e2e: cannot reach the private nats-server\n");
    return 1;
  }
  child redis;
  std::string redis_url;
  if (use_redis || replicas > 1) {
    auto rport = free_port();
    redis = child({"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port",
                   std::to_string(rport), "--save", "", "--appendonly", "no"},
                  {}, dir.path + "/redis.log");
    for (int i = 0; i < 100 && !port_open(rport); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    redis_url = "redis://127.0.0.1:" + std::to_string(rport);
  }
  std::vector<child> serves;
  for (int i = 0; i < std::max(1, replicas); ++i) {
    std::vector<std::string> env{
      "NATS_URL=" + url, "HTTP_PORT=0", "GRPC_PORT=0", "LOG_LEVEL=warn",
      "PROGRESS_EVENTS=" + progress,
      "MAX_IN_FLIGHT=" + std::to_string(max_in_flight),
      "RESULT_STORE_MAX=" + std::to_string(store_max),
      "WORKER_ID=replica-" + std::to_string(i)};
    if (!redis_url.empty())
      env.push_back("REDIS_URL=" + redis_url);
    serves.emplace_back(std::vector<std::string>{binary, "serve"},
                        std::move(env),
                        dir.path + "/serve-" + std::to_string(i) + ".log");
  }
  auto& serve = serves.front();
  auto follower = follow(**link, "orchestration.>");
  if (!follower) {
    std::fprintf(stderr, "e2e: %s\n", render(follower.error()).c_str());
    return 1;
  }
  recorder rec;
  std::thread reader{[&] { rec.run(**follower); }};
  auto publish = [&](const std::string& plan_id) {
    std::map<std::string, std::string> h{{"Nats-Msg-Id", "bench:" + plan_id}};
    return publish_sync(**link, subject::plan_approved_in,
                        plan_bytes(plan_id, tasks), h);
  };
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "e2e: %s\n%s\n", why.c_str(), serve.output().c_str());
    {
      std::lock_guard<std::mutex> guard{rec.mtx};
      rec.stop = true;
    }
    reader.join();
    return 1;
  };
  // Warm-up: one plan through, so that serve is bound and ready.
  if (publish("warmup") || !wait_for(rec, "warmup/", tasks, std::chrono::seconds(60)))
    return fail("serve did not finish the warm-up plan");
  auto rss_start = rss_mb(serve.pid());
  int64_t events_before = 0;
  {
    std::lock_guard<std::mutex> guard{rec.mtx};
    events_before = rec.events;
  }
  // 1. Maximum rate: everything at once.
  auto total = static_cast<size_t>(plans) * static_cast<size_t>(tasks);
  auto t0 = clock_type::now();
  for (int i = 0; i < plans; ++i)
    if (publish("max-" + std::to_string(i)))
      return fail("publish failed");
  if (!wait_for(rec, "max-", total, std::chrono::seconds(600)))
    return fail("not every task of the maximum-rate run completed");
  auto t1 = clock_type::now();
  // Events that trail the last completion (task.completed, plan.completed).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  double max_s = ms_since(t0, t1) / 1000.0;
  double tasks_per_s = static_cast<double>(total) / max_s;
  int64_t events = 0;
  int64_t bytes = 0;
  {
    std::lock_guard<std::mutex> guard{rec.mtx};
    events = rec.events - events_before;
    bytes = rec.bytes;
  }
  double events_per_task = static_cast<double>(events)
                           / static_cast<double>(total);
  auto rss_after_max = rss_mb(serve.pid());
  // 2. Half rate: plans on a schedule for `seconds`.
  if (rate <= 0)
    rate = tasks_per_s / 2.0;
  double plan_rate = rate / tasks;
  auto interval = std::chrono::duration<double>(1.0 / plan_rate);
  std::vector<std::pair<std::string, clock_type::time_point>> sent;
  auto start = clock_type::now();
  for (int i = 0;; ++i) {
    auto due = start + std::chrono::duration_cast<clock_type::duration>(
                         interval * i);
    if (due - start > std::chrono::seconds(seconds))
      break;
    std::this_thread::sleep_until(due);
    auto id = "half-" + std::to_string(i);
    auto at = clock_type::now();
    if (publish(id))
      return fail("publish failed");
    sent.emplace_back(id, at);
  }
  if (!wait_for(rec, "half-", sent.size() * static_cast<size_t>(tasks),
                std::chrono::seconds(120)))
    return fail("not every task of the half-rate run completed");
  std::vector<double> lat;
  std::vector<double> added;
  // E2E_LATENCY_DUMP=file: every latency sample with its send time (ms).
  FILE* dump = nullptr;
  if (auto path = std::getenv("E2E_LATENCY_DUMP"))
    dump = std::fopen(path, "w");
  {
    std::lock_guard<std::mutex> guard{rec.mtx};
    for (auto& [plan, at] : sent)
      for (int k = 1; k <= tasks; ++k) {
        auto i = rec.completed.find(plan + "/T" + std::to_string(k));
        if (i == rec.completed.end())
          continue;
        auto l = ms_since(at, i->second.first);
        if (dump)
          std::fprintf(dump, "%.3f %.3f\n", ms_since(start, at), l);
        lat.push_back(l);
        added.push_back(std::max(0.0, l - static_cast<double>(i->second.second)));
      }
    rec.stop = true;
  }
  if (dump)
    std::fclose(dump);
  reader.join();
  auto rss_end = rss_mb(serve.pid());
  // 3. The limit: asynchronous publish with Nats-Msg-Id, mean event size.
  auto mean_size = static_cast<size_t>(bytes / std::max<int64_t>(1, rec.events));
  double limit = 0;
  if (!ensure_stream(**link, "BENCH_LIMIT", "bench.limit.>")) {
    auto took = publish_burst(**link, "bench.limit.x",
                              std::string(mean_size, 'x'), limit_msgs);
    if (took)
      limit = limit_msgs / *took;
  }
  for (auto& s : serves)
    s.signal(SIGTERM);
  int rc = 0;
  for (auto& s : serves)
    rc = std::max(rc, s.wait(std::chrono::seconds(30)));
  redis.signal(SIGTERM);
  redis.wait(std::chrono::seconds(10));
  json out{{"bench", "e2e"},
           {"agents", "scripted"},
           {"plans", plans},
           {"replicas", replicas},
           {"queue", redis_url.empty() ? "memory" : "redis"},
           {"tasks_per_plan", tasks},
           {"progress", progress},
           {"max_in_flight", max_in_flight},
           {"result_store_max", store_max},
           {"tasks_per_s", tasks_per_s},
           {"events_per_task", events_per_task},
           {"events_per_s", static_cast<double>(events) / max_s},
           {"mean_event_bytes", mean_size},
           {"limit_msgs_per_s", limit},
           {"events_share_of_limit",
            limit > 0 ? static_cast<double>(events) / max_s / limit : 0.0},
           {"latency_rate_tasks_per_s", rate},
           {"latency_tasks", lat.size()},
           {"p50_ms", pct(lat, 0.50)},
           {"p99_ms", pct(lat, 0.99)},
           {"added_p50_ms", pct(added, 0.50)},
           {"added_p99_ms", pct(added, 0.99)},
           {"rss_start_mb", rss_start},
           {"rss_after_max_mb", rss_after_max},
           {"rss_end_mb", rss_end},
           {"serve_exit", rc}};
  std::printf("%s\n", out.dump().c_str());
  nats.signal(SIGTERM);
  nats.wait(std::chrono::seconds(10));
  return 0;
}
