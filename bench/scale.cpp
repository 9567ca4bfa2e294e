// Benchmark: scale-out over CAF nodes and service replicas.
//
//   scale [--latency-ms 20] [--agents 12] [--concurrency 240] [--seconds 5]
//         [--nodes 3] [--plans 100] [--tasks 10]
//
// 1. Agent calls/s of latency-bound agents (`vllm` agents against the
//    project's stub server with latency L, C calls in flight over A agents)
//    hosted in this process, then on 1, 2 and 3 `orchestrator node`
//    processes (placed agents, as `serve` uses them): calls/s, p50, and the
//    capacity per node.
// 2. The cost of crossing a node: an instant (`scripted`) agent called one
//    call at a time, here and on one node; the difference of the mean round
//    trips in µs, and calls/s of instant agents at 64 in flight.
// 3. End to end with 1 and 2 replicas (bench/e2e with a Redis queue).
//
// Prints one JSON line. Every process shares this machine's cores: the
// figures bound what N machines do from below.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/nodes.hpp"
#include "bench/stub_process.hpp"
#include "bridges/node_auth.hpp"
#include "runtime/supervisor.hpp"
#include "tests/child_process.hpp"

using namespace orch;
using namespace orch::bench;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string secret = "bench-scale-node-secret-0123456";

struct call_stats {
  int64_t calls = 0;
  int64_t failed = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;

  double per_s() const {
    return seconds > 0 ? static_cast<double>(calls) / seconds : 0;
  }

  double pct(double p) const {
    if (latencies_ms.empty())
      return 0;
    auto xs = latencies_ms;
    std::sort(xs.begin(), xs.end());
    return xs[static_cast<size_t>(p * static_cast<double>(xs.size() - 1))];
  }

  double mean() const {
    double sum = 0;
    for (auto x : latencies_ms)
      sum += x;
    return latencies_ms.empty() ? 0 : sum / latencies_ms.size();
  }
};

struct drive_state {
  std::vector<agent_actor> agents;
  task_ref task;
  clock_type::time_point start;
  clock_type::time_point until;
  int64_t max_calls = 0;
  int64_t issued = 0;
  int64_t in_flight = 0;
  size_t next = 0;
  call_stats stats;
  std::promise<call_stats> done;
};

void issue(caf::event_based_actor* self, std::shared_ptr<drive_state> st) {
  auto& agent = st->agents[st->next++ % st->agents.size()];
  ++st->issued;
  ++st->in_flight;
  auto t0 = clock_type::now();
  auto next = [=](bool ok) {
    --st->in_flight;
    auto now = clock_type::now();
    if (ok) {
      ++st->stats.calls;
      st->stats.latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(now - t0).count());
    } else {
      ++st->stats.failed;
    }
    if (now < st->until && st->issued < st->max_calls) {
      issue(self, st);
    } else if (st->in_flight == 0) {
      st->stats.seconds
        = std::chrono::duration<double>(now - st->start).count();
      st->done.set_value(std::move(st->stats));
      self->quit();
    }
  };
  self->request(agent, std::chrono::seconds(60), atom::generate_v, st->task)
    .then([=](proposal&) { next(true); }, [=](caf::error&) { next(false); });
}

/// Generate calls over `agents`, `concurrency` in flight, for `seconds` or
/// `max_calls`, whichever ends first.
call_stats drive(caf::actor_system& sys, std::vector<agent_actor> agents,
                 int64_t concurrency, double seconds, int64_t max_calls) {
  auto st = std::make_shared<drive_state>();
  st->agents = std::move(agents);
  task_spec task;
  task.task_id = "bench-scale";
  task.role = "DEV";
  task.description = "Add a health endpoint with input validation";
  st->task = task_ref{std::move(task)};
  st->max_calls = max_calls;
  auto result = st->done.get_future();
  sys.spawn([=](caf::event_based_actor* self) {
    st->start = clock_type::now();
    st->until = st->start
                + std::chrono::duration_cast<clock_type::duration>(
                  std::chrono::duration<double>(seconds));
    for (int64_t i = 0; i < concurrency && st->issued < st->max_calls; ++i)
      issue(self, st);
  });
  return result.get();
}

agent_spec spec_of(int i, const std::string& backend) {
  agent_spec s;
  s.agent_id = "agent-dev-" + std::to_string(i + 1);
  s.role = "DEV";
  s.backend = backend;
  s.index = i;
  s.diversity_seed = static_cast<uint64_t>(i + 1) * 7919u;
  return s;
}

/// A PLACEMENT over `nodes`, once every one is up.
placement_actor placement_over(caf::actor_system& sys,
                               const std::vector<std::string>& nodes,
                               const hosting& local) {
  placement_settings ps;
  ps.nodes = nodes;
  ps.connector = sys.middleman().actor_handle();
  ps.prove = make_node_prover(secret);
  ps.make_agent = local.make_agent;
  ps.make_scorer = local.make_scorer;
  auto p = spawn_placement(sys, std::move(ps));
  caf::scoped_actor self{sys};
  for (int i = 0; i < 200; ++i) {
    size_t up = 0;
    self->request(p, std::chrono::seconds(5), atom::list_v)
      .receive(
        [&](std::vector<node_info>& xs) {
          for (auto& x : xs)
            up += x.name != "local" && x.state == "up";
        },
        [](caf::error&) {});
    if (up == nodes.size())
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return p;
}

/// `count` placed agents of `backend`; waits until each has a home.
std::vector<agent_actor> placed_agents(caf::actor_system& sys,
                                       placement_actor p, int count,
                                       const std::string& backend) {
  std::vector<agent_actor> out;
  for (int i = 0; i < count; ++i)
    out.push_back(spawn_placed_agent(sys, spec_of(i, backend), p,
                                     std::chrono::seconds(60)));
  // One call each: placed and warm.
  drive(sys, out, count, 30, count);
  return out;
}

void stop_all(std::vector<agent_actor>& xs) {
  for (auto& x : xs)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  xs.clear();
}

/// Runs bench/e2e and returns its JSON line.
json run_e2e(const std::string& dir, int replicas, int plans, int tasks) {
  auto cmd = dir + "/e2e --plans " + std::to_string(plans) + " --tasks "
             + std::to_string(tasks) + " --seconds 0 --redis --replicas "
             + std::to_string(replicas) + " --limit-messages 1000";
  auto* p = popen(cmd.c_str(), "r");
  if (!p)
    return json{};
  std::string out;
  char buf[4096];
  while (auto n = fread(buf, 1, sizeof(buf), p))
    out.append(buf, n);
  pclose(p);
  // The JSON line; log lines may follow it.
  std::istringstream lines{out};
  std::string line;
  json result;
  while (std::getline(lines, line))
    if (!line.empty() && line.front() == '{')
      result = json::parse(line, nullptr, false);
  return result;
}

} // namespace

int main(int argc, char** argv) {
  int latency_ms = 20;
  int agents = 12;
  int64_t concurrency = 240;
  double seconds = 5;
  int max_nodes = 3;
  int plans = 100;
  int tasks = 10;
  CLI::App app{"scale-out: agents on CAF nodes, service replicas"};
  app.add_option("--latency-ms", latency_ms, "latency of the model (L)")
    ->capture_default_str();
  app.add_option("--agents", agents, "agents (A)")->capture_default_str();
  app.add_option("--concurrency", concurrency, "calls in flight (C)")
    ->capture_default_str();
  app.add_option("--seconds", seconds, "length of each run")
    ->capture_default_str();
  app.add_option("--nodes", max_nodes, "largest number of nodes")
    ->capture_default_str();
  app.add_option("--plans", plans, "plans of the replica runs")
    ->capture_default_str();
  app.add_option("--tasks", tasks, "tasks per plan of the replica runs")
    ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  auto bin = own_dir();
  stub_process stub;
  if (!stub.start(bin + "/llm_stub", latency_ms)) {
    std::fprintf(stderr, "scale: could not start %s/llm_stub\n", bin.c_str());
    return 1;
  }
  auto stub_url = "http://127.0.0.1:" + std::to_string(stub.port);
  config cfg;
  cfg.node_secret = secret;
  cfg.vllm_url = stub_url;
  cfg.vllm_model = "stub-model";
  cfg.vllm_max_concurrency = 1'000'000;
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg, true);
  caf::actor_system sys{sys_cfg};
  auto local = start_hosting(sys, cfg);
  if (!local) {
    std::fprintf(stderr, "scale: %s\n", render(local.error()).c_str());
    return 1;
  }
  test::scratch_dir dir;
  std::vector<test::child> nodes;
  std::vector<std::string> names;
  for (int i = 0; i < max_nodes; ++i) {
    auto port = test::free_port();
    names.push_back("127.0.0.1:" + std::to_string(port));
    nodes.emplace_back(
      std::vector<std::string>{bin + "/../orchestrator", "node", "--listen",
                               names.back()},
      std::vector<std::string>{"NODE_SECRET=" + secret, "VLLM_URL=" + stub_url,
                               "VLLM_MODEL=stub-model",
                               "VLLM_MAX_CONCURRENCY=1000000",
                               "LOG_LEVEL=warn"},
      dir.path + "/node-" + std::to_string(i) + ".log");
  }
  for (auto& n : names) {
    auto port = std::stoi(n.substr(n.rfind(':') + 1));
    for (int i = 0; i < 100 && !test::port_open(port); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  json out{{"bench", "scale"},
           {"latency_ms", latency_ms},
           {"agents", agents},
           {"concurrency", concurrency},
           {"cores", std::thread::hardware_concurrency()}};
  // 1. Latency-bound agents: here, then on 1..N nodes.
  auto ideal = static_cast<double>(concurrency) * 1000.0 / latency_ms;
  json rows = json::array();
  {
    std::vector<agent_actor> here;
    for (int i = 0; i < agents; ++i)
      here.push_back(*local->make_agent(sys, spec_of(i, "vllm")));
    drive(sys, here, agents, 30, agents);
    auto s = drive(sys, here, concurrency, seconds, INT64_MAX);
    rows.push_back({{"hosts", "local"},
                    {"nodes", 0},
                    {"calls_per_s", s.per_s()},
                    {"ideal_calls_per_s", ideal},
                    {"p50_ms", s.pct(0.5)},
                    {"p99_ms", s.pct(0.99)},
                    {"failed", s.failed}});
    stop_all(here);
  }
  for (int k = 1; k <= max_nodes; ++k) {
    std::fprintf(stderr, "scale: latency-bound agents on %d node(s)\n", k);
    std::vector<std::string> use(names.begin(), names.begin() + k);
    auto p = placement_over(sys, use, *local);
    auto xs = placed_agents(sys, p, agents, "vllm");
    auto s = drive(sys, xs, concurrency, seconds, INT64_MAX);
    rows.push_back({{"hosts", std::to_string(k) + " node(s)"},
                    {"nodes", k},
                    {"calls_per_s", s.per_s()},
                    {"calls_per_s_per_node", s.per_s() / k},
                    {"ideal_calls_per_s", ideal},
                    {"p50_ms", s.pct(0.5)},
                    {"p99_ms", s.pct(0.99)},
                    {"failed", s.failed}});
    stop_all(xs);
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  }
  out["latency_bound"] = rows;
  // 2. The cost of crossing a node, with instant agents.
  std::fprintf(stderr, "scale: instant agents here and on a node\n");
  {
    std::vector<agent_actor> here;
    for (int i = 0; i < agents; ++i)
      here.push_back(spawn_scripted_agent(sys, spec_of(i, "scripted")));
    drive(sys, here, 1, 30, 200);
    auto serial_here = drive(sys, here, 1, seconds, 5000);
    auto many_here = drive(sys, here, 64, seconds, INT64_MAX);
    auto p = placement_over(sys, {names.front()}, *local);
    auto there = placed_agents(sys, p, agents, "scripted");
    drive(sys, there, 1, 30, 200);
    auto serial_there = drive(sys, there, 1, seconds, 5000);
    auto many_there = drive(sys, there, 64, seconds, INT64_MAX);
    out["instant"] = {
      {"local_mean_us", serial_here.mean() * 1000},
      {"remote_mean_us", serial_there.mean() * 1000},
      {"remote_overhead_us", (serial_there.mean() - serial_here.mean()) * 1000},
      {"local_calls_per_s_c64", many_here.per_s()},
      {"remote_calls_per_s_c64", many_there.per_s()}};
    stop_all(here);
    stop_all(there);
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  }
  for (auto& n : nodes)
    n.signal(SIGTERM);
  // 3. Replicas.
  json reps = json::array();
  for (int r : {1, 2}) {
    std::fprintf(stderr, "scale: end to end with %d replica(s)\n", r);
    auto e = run_e2e(bin, r, plans, tasks);
    if (!e.is_object()) {
      std::fprintf(stderr, "scale: bench/e2e with %d replicas failed\n", r);
      continue;
    }
    reps.push_back({{"replicas", r},
                    {"tasks_per_s", e.value("tasks_per_s", 0.0)},
                    {"serve_exit", e.value("serve_exit", -1)}});
  }
  out["replicas"] = reps;
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  kill(stub.pid, SIGTERM);
  waitpid(stub.pid, nullptr, 0);
  // The actor system's middleman threads: leave without tearing them down.
  std::_Exit(0);
}
