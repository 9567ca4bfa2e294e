// Fault injection with figures: `orchestrator serve` with a private
// nats-server (JetStream) and redis-server (AOF, fsync always) on loopback,
// `vllm` agents against the project's OpenAI-compatible test server with a
// fixed latency, one plan of T tasks (four dependency chains, fan-out from
// the first task) and, while it runs, one fault at a time. Every row starts
// from fresh servers.
//
//   faults [--tasks 60] [--latency-ms 200] [--rows all|ROW,ROW...]
//          [--format table|json] [--binary PATH]
//
// Rows: none (the baseline), serve_kill (SIGKILL, started again),
// replica_kill (two replicas, one SIGKILLed), node_kill (agents on two CAF
// nodes, one SIGKILLed), nats_restart (SIGKILL and start on the same store),
// redis_restart (SIGKILL and start on the same AOF), the model endpoint
// failing every request for 5 s: llm_500, llm_429 (with Retry-After: 1),
// llm_timeout (no answer), llm_garbage (not JSON), llm_drop (closed),
// slow_consumer (a NATS client subscribed to everything that reads
// nothing), disk_full (the JetStream store on a small tmpfs filled up, then
// freed; needs root for the mount, skipped otherwise).
//
// Per row: tasks completed (a task.completed event in the stream), lost
// (none), completed twice (more than one task.completed or
// deliberation.completed), duplicate events (any terminal event —
// deliberation.completed, task.completed, task.failed, plan.completed —
// stored more than once for the same task or plan), recover_s (from the
// fault's start to the first task.completed seen after the fault ended),
// max_gap_s (the longest wait between two task.completed seen), plan_s
// (publish to plan.completed). Exit status 1 when a row loses a task,
// completes one twice or duplicates an event.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/fault_rig.hpp"

using namespace orch;
using namespace orch::bench;
using namespace orch::test;

namespace {

/// One row of the table.
struct row {
  std::string fault;
  int tasks = 0;
  int completed = 0;
  int lost = 0;
  int twice = 0;
  int duplicate_events = 0;
  int failed_events = 0;
  int dead_letters = 0;
  double recover_s = 0;
  double max_gap_s = 0;
  double plan_s = 0;
  std::string note;

  bool clean() const {
    return note.rfind("skipped", 0) == 0
           || (lost == 0 && twice == 0 && duplicate_events == 0);
  }
};

/// The plan: four chains (T5 after T1, T6 after T2, ...), every task of the
/// first level after T1 (fan-out).
json plan_payload(const std::string& plan_id, int tasks) {
  auto arr = json::array();
  for (int i = 1; i <= tasks; ++i) {
    auto deps = json::array();
    if (i > 4)
      deps.push_back("T" + std::to_string(i - 4));
    else if (i > 1)
      deps.push_back("T1");
    arr.push_back(
      {{"task_id", "T" + std::to_string(i)},
       {"role", i % 3 == 0 ? "QA" : "DEV"},
       {"description", "Implement step " + std::to_string(i) + " of " + plan_id
                         + " with input validation"},
       {"dependencies", deps},
       {"priority", 1},
       {"constraints",
        {{"requirements", {"input validation"}},
         {"rubric", "secure and tested"}}}});
  }
  return {{"story_id", "story-" + plan_id},
          {"plan_id", plan_id},
          {"approved_by", "faults"},
          {"timestamp", epoch_seconds()},
          {"tasks", arr}};
}

/// A row: the processes it runs and its fault.
struct row_spec {
  std::string name;
  int replicas = 1;
  int nodes = 0;
  /// What to do once a third of the plan is done (none: the baseline);
  /// returns when the fault has ended, with a note for the row.
  std::function<std::string(rig&)> inject;
  /// Before the servers start; a non-empty answer skips the row with it.
  std::function<std::string(rig&)> prepare;
};

/// What the observer has seen so far.
struct observation {
  /// task id -> when its first task.completed was seen.
  std::map<std::string, clock_type::time_point> first_seen;
  bool plan_done = false;
};

row run_row(const settings& s, const row_spec& spec) {
  auto& name = spec.name;
  auto& inject = spec.inject;
  row r;
  r.fault = name;
  r.tasks = s.tasks;
  rig g{s, name};
  if (spec.prepare) {
    auto why = spec.prepare(g);
    if (!why.empty()) {
      r.note = "skipped: " + why;
      return r;
    }
  }
  if (auto why = g.start(spec.replicas, spec.nodes); !why.empty()) {
    r.note = "error: " + why;
    r.lost = s.tasks;
    return r;
  }
  auto plan = "faults-" + name;
  outbound_event ev;
  ev.subject = subject::plan_approved_in;
  ev.idempotency_key = "faults:" + plan;
  ev.correlation_id = plan;
  ev.payload = plan_payload(plan, s.tasks).dump();
  auto published = clock_type::now();
  if (auto err = publish_sync(*g.link_, subject::plan_approved_in,
                              encode_envelope(ev, false),
                              {{"Nats-Msg-Id", ev.idempotency_key}})) {
    r.note = "error: publish: " + render(err);
    r.lost = s.tasks;
    return r;
  }
  observation obs;
  // Polls the stream; a task.completed counts as seen at the end of the
  // read that found it (an upper bound, about 0.2 s late at most).
  auto observe = [&] {
    auto evs = g.events(milliseconds(1000), milliseconds(100));
    auto now = clock_type::now();
    for (auto& [subj, p] : evs) {
      if (subj == subject::task_completed)
        obs.first_seen.emplace(p.value("task_id", ""), now);
      else if (subj == subject::plan_completed
               && p.value("plan_id", "") == plan)
        obs.plan_done = true;
    }
  };
  // The fault comes once a third of the tasks are done.
  auto limit = published + seconds(60 + s.tasks * 3);
  while (static_cast<int>(obs.first_seen.size()) < s.tasks / 3
         && clock_type::now() < limit)
    observe();
  auto fault_start = clock_type::now();
  if (std::getenv("FAULTS_DEBUG"))
    std::fprintf(stderr, "%s: fault after %zu tasks (plan done: %d)\n",
                 name.c_str(), obs.first_seen.size(), obs.plan_done);
  auto note = inject ? inject(g) : std::string{};
  auto fault_end = clock_type::now();
  while (!obs.plan_done && clock_type::now() < limit)
    observe();
  auto finished = clock_type::now();
  // Events that trail plan.completed have had time; count the stream.
  std::this_thread::sleep_for(milliseconds(500));
  std::map<std::string, int> per_key;
  std::map<std::string, int> completed;
  std::map<std::string, int> deliberated;
  for (auto& [subj, p] : g.events()) {
    auto task = p.value("task_id", "");
    if (subj == subject::task_completed)
      ++completed[task];
    else if (subj == subject::completed)
      ++deliberated[task];
    else if (subj == subject::task_failed)
      ++r.failed_events;
    else if (subj == subject::dead_letter)
      ++r.dead_letters;
    if (subj == subject::task_completed || subj == subject::completed
        || subj == subject::task_failed || subj == subject::plan_completed)
      ++per_key[subj + ":" + (task.empty() ? p.value("plan_id", "") : task)];
  }
  for (int i = 1; i <= s.tasks; ++i) {
    auto id = plan + "/T" + std::to_string(i);
    auto c = completed.count(id) ? completed[id] : 0;
    auto d = deliberated.count(id) ? deliberated[id] : 0;
    r.completed += c > 0;
    r.lost += c == 0;
    r.twice += c > 1 || d > 1;
  }
  for (auto& [key, n] : per_key)
    r.duplicate_events += n - 1;
  std::vector<clock_type::time_point> seen;
  for (auto& [id, at] : obs.first_seen)
    seen.push_back(at);
  std::sort(seen.begin(), seen.end());
  auto prev = published;
  for (auto at : seen) {
    r.max_gap_s = std::max(r.max_gap_s, secs(at - prev));
    prev = at;
  }
  auto after = std::find_if(seen.begin(), seen.end(),
                            [&](auto at) { return at > fault_end; });
  if (inject && after != seen.end())
    r.recover_s = secs(*after - fault_start);
  r.plan_s = obs.plan_done ? secs(finished - published) : -1;
  r.note = note;
  {
    std::ifstream log{g.dir_.path + "/nats.log"};
    std::string text{std::istreambuf_iterator<char>{log}, {}};
    if (text.find("Slow Consumer Detected") != std::string::npos)
      r.note += ", cut by nats-server as a slow consumer";
  }
  if (std::getenv("FAULTS_DEBUG")) {
    auto keep = "/tmp/faults-debug-" + name;
    auto cmd = "rm -rf " + keep + " && cp -r " + g.dir_.path + " " + keep
               + " 2>/dev/null";
    if (std::system(cmd.c_str()) == 0)
      std::fprintf(stderr, "%s: logs in %s\n", name.c_str(), keep.c_str());
  }
  if (!obs.plan_done)
    r.note += (r.note.empty() ? "" : "; ") + std::string{"plan not completed"};
  return r;
}

/// The model endpoint answers every request with `kind` for `secs`.
std::function<std::string(rig&)> llm_outage(stub_fault kind, int secs,
                                            int retry_after = -1) {
  return [=](rig& g) {
    auto base = g.stub_.request_count();
    g.stub_.set_default_fault({kind, retry_after});
    std::this_thread::sleep_for(seconds(secs));
    g.stub_.set_default_fault({});
    return "every reply for " + std::to_string(secs) + " s ("
           + std::to_string(g.stub_.request_count() - base) + " requests)";
  };
}

std::vector<row_spec> all_rows() {
  auto restart = [](child rig::*proc, void (rig::*start)(), const char* how) {
    return [=](rig& g) {
      (g.*proc).kill_now();
      std::this_thread::sleep_for(seconds(2));
      (g.*start)();
      return std::string{how};
    };
  };
  std::vector<row_spec> out;
  out.push_back({"none", 1, 0, {}, {}});
  out.push_back({"serve_kill",
                 1,
                 0,
                 [](rig& g) {
                   g.serves_.back().kill_now();
                   g.start_serve();
                   return std::string{"SIGKILL, started again"};
                 },
                 {}});
  out.push_back({"replica_kill",
                 2,
                 0,
                 [](rig& g) {
                   g.serves_.front().kill_now();
                   return std::string{"1 of 2 replicas SIGKILLed"};
                 },
                 {}});
  out.push_back({"node_kill",
                 1,
                 2,
                 [](rig& g) {
                   g.nodes_.front().kill_now();
                   return std::string{"1 of 2 nodes SIGKILLed"};
                 },
                 {}});
  out.push_back(
    {"nats_restart",
     1,
     0,
     restart(&rig::nats_, &rig::start_nats, "SIGKILL, 2 s down, same store"),
     {}});
  out.push_back({"redis_restart",
                 1,
                 0,
                 restart(&rig::redis_, &rig::start_redis,
                         "SIGKILL, 2 s down, AOF fsync always"),
                 {}});
  out.push_back({"llm_500", 1, 0, llm_outage(stub_fault::http_500, 5), {}});
  out.push_back({"llm_429", 1, 0, llm_outage(stub_fault::http_429, 5, 1), {}});
  out.push_back({"llm_timeout", 1, 0, llm_outage(stub_fault::timeout, 5), {}});
  out.push_back(
    {"llm_garbage", 1, 0, llm_outage(stub_fault::garbage_json, 5), {}});
  out.push_back(
    {"llm_drop", 1, 0, llm_outage(stub_fault::drop_connection, 5), {}});
  // nats-server buffers what the subscriber does not read (up to its
  // max_pending, 64 MiB) and cuts it beyond; either way the service
  // must not slow down.
  out.push_back({"slow_consumer",
                 1,
                 0,
                 [](rig& g) {
                   g.stuck_.emplace(g.nats_port_);
                   return std::string{
                     "a subscriber to everything that never reads"};
                 },
                 {}});
  out.push_back(
    {"disk_full", 1, 0,
     [](rig& g) {
       // Fill the store's file system, hold it full, free it.
       auto filler = g.tmpfs_ + "/filler";
       if (auto* f = std::fopen(filler.c_str(), "w")) {
         std::vector<char> block(1 << 16, 'x');
         while (std::fwrite(block.data(), 1, block.size(), f) == block.size())
           ;
         std::fclose(f);
       }
       std::this_thread::sleep_for(seconds(5));
       ::unlink(filler.c_str());
       // nats-server 2.9 does not take JetStream writes again after its
       // store was full: the operator's remedy, a restart, once freed.
       if (!publish_sync(*g.link_, "orchestration.faults.probe", "x", {}))
         return std::string{"store tmpfs full for 5 s"};
       g.nats_.kill_now();
       g.start_nats();
       return std::string{"store tmpfs full for 5 s, freed, nats-server "
                          "restarted (JetStream stalled)"};
     },
     [](rig& g) {
       if (::geteuid() != 0)
         return std::string{"needs root to mount a tmpfs"};
       return g.store_on_tmpfs(64) ? std::string{}
                                   : std::string{"mount tmpfs failed"};
     }});
  return out;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"fault injection during a running plan, one fault per row"};
  settings s;
  std::string rows = "all";
  std::string format = "table";
  app.add_option("--tasks", s.tasks, "tasks of the plan (at least 12)")
    ->capture_default_str();
  app.add_option("--latency-ms", s.latency_ms, "latency of every model reply")
    ->capture_default_str();
  app.add_option("--rows", rows, "rows to run: all, or names separated by ','")
    ->capture_default_str();
  app.add_option("--format", format, "table or json (one object per row)")
    ->check(CLI::IsMember({"table", "json"}))
    ->capture_default_str();
  app.add_option("--binary", s.binary,
                 "orchestrator binary (default: next to bench/)");
  CLI11_PARSE(app, argc, argv);
  if (s.tasks < 12) {
    std::fprintf(stderr, "faults: --tasks must be at least 12\n");
    return 2;
  }
  if (s.binary.empty())
    s.binary = orchestrator_beside();
  std::signal(SIGPIPE, SIG_IGN);
  auto table = all_rows();
  std::set<std::string> wanted;
  if (rows != "all") {
    size_t at = 0;
    while (at <= rows.size()) {
      auto end = std::min(rows.find(',', at), rows.size());
      wanted.insert(rows.substr(at, end - at));
      at = end + 1;
    }
    for (auto& w : wanted)
      if (std::none_of(table.begin(), table.end(),
                       [&](auto& x) { return x.name == w; })) {
        std::fprintf(stderr, "faults: unknown row '%s'\n", w.c_str());
        return 2;
      }
  }
  if (format == "table") {
    std::printf("%-14s %5s %9s %4s %5s %10s %9s %9s %7s  %s\n", "fault",
                "tasks", "completed", "lost", "twice", "dup_events",
                "recover_s", "max_gap_s", "plan_s", "note");
    std::fflush(stdout);
  }
  bool clean = true;
  for (auto& spec : table) {
    if (!wanted.empty() && !wanted.count(spec.name))
      continue;
    auto r = run_row(s, spec);
    clean = clean && r.clean();
    if (format == "json") {
      std::printf("%s\n", json{{"fault", r.fault},
                               {"tasks", r.tasks},
                               {"completed", r.completed},
                               {"lost", r.lost},
                               {"twice", r.twice},
                               {"duplicate_events", r.duplicate_events},
                               {"task_failed_events", r.failed_events},
                               {"dead_letters", r.dead_letters},
                               {"recover_s", r.recover_s},
                               {"max_gap_s", r.max_gap_s},
                               {"plan_s", r.plan_s},
                               {"note", r.note}}
                            .dump()
                            .c_str());
    } else {
      std::printf("%-14s %5d %9d %4d %5d %10d %9.2f %9.2f %7.2f  %s\n",
                  r.fault.c_str(), r.tasks, r.completed, r.lost, r.twice,
                  r.duplicate_events, r.recover_s, r.max_gap_s, r.plan_s,
                  r.note.c_str());
    }
    std::fflush(stdout);
  }
  return clean ? 0 : 1;
}
