#pragma once

// Drives D deliberations through the ORCHESTRATOR with C in flight and
// measures their latencies; shared by the benchmarks.

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <sys/resource.h>

#include "actors/actors.hpp"
#include "actors/lanes.hpp"

namespace orch::bench {

using clock_type = std::chrono::steady_clock;

struct run_stats {
  std::vector<int64_t> latencies_ns;
  /// Model calls of the completed deliberations and the sum of their
  /// latencies as the LLM client measured them (HTTP only).
  int64_t model_calls = 0;
  int64_t model_latency_ms = 0;
  int64_t failed = 0;
  std::string first_error;
};

struct driver_state {
  orchestrator_actor orchestrator;
  task_spec task;
  /// Task ids are this prefix and a number.
  std::string prefix;
  int64_t total = 0;
  int64_t issued = 0;
  int64_t done = 0;
  run_stats stats;
  std::promise<run_stats> finished;
};

inline void issue(caf::event_based_actor* self,
                  std::shared_ptr<driver_state> st) {
  auto t = st->task;
  t.task_id = st->prefix + std::to_string(st->issued++);
  auto start = clock_type::now();
  auto next = [=] {
    if (++st->done == st->total) {
      st->finished.set_value(std::move(st->stats));
      self->quit();
    } else if (st->issued < st->total) {
      issue(self, st);
    }
  };
  self
    ->request(st->orchestrator, caf::infinite, atom::deliberate_v, std::move(t),
              progress_listener_actor{})
    .then(
      [=](const deliberation_outcome& out) {
        st->stats.model_calls += out.usage.calls;
        st->stats.model_latency_ms += out.usage.latency_ms;
        st->stats.latencies_ns.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now()
                                                               - start)
            .count());
        next();
      },
      [=](caf::error& err) {
        ++st->stats.failed;
        if (st->stats.first_error.empty())
          st->stats.first_error = render(err);
        next();
      });
}

/// A client: keeps `concurrency` deliberations in flight from its start
/// message on.
inline caf::behavior driver(caf::event_based_actor* self,
                            std::shared_ptr<driver_state> st,
                            int64_t concurrency) {
  return {
    [=](atom::run) {
      for (int64_t i = 0; i < concurrency && st->issued < st->total; ++i)
        issue(self, st);
    },
  };
}

/// Runs `count` deliberations of `task` with `concurrency` in flight, from
/// `clients` clients that share both evenly; with more than one, client i
/// is an actor pinned to engine lane i (as an actor of the service that
/// deliberates, e.g. a dispatcher in a lane, would be).
inline run_stats run(caf::actor_system& sys, orchestrator_actor orchestrator,
                     const task_spec& task, int64_t count,
                     int64_t concurrency, int32_t clients = 1) {
  clients = std::max(clients, 1);
  std::vector<std::future<run_stats>> results;
  for (int32_t i = 0; i < clients; ++i) {
    auto st = std::make_shared<driver_state>();
    st->orchestrator = orchestrator;
    st->task = task;
    st->prefix = clients == 1 ? "bench-" : "bench-" + std::to_string(i) + "-";
    st->total = count / clients + (i < count % clients ? 1 : 0);
    auto in_flight = concurrency / clients + (i < concurrency % clients ? 1 : 0);
    st->stats.latencies_ns.reserve(static_cast<size_t>(st->total));
    results.push_back(st->finished.get_future());
    if (st->total == 0) {
      st->finished.set_value({});
      continue;
    }
    auto d = spawn_in_lane(sys, lane{static_cast<uint32_t>(i),
                                     static_cast<uint32_t>(clients)},
                           driver, st, std::max<int64_t>(in_flight, 1));
    caf::anon_send(d, atom::run_v);
  }
  run_stats all;
  for (auto& f : results) {
    auto s = f.get();
    all.latencies_ns.insert(all.latencies_ns.end(), s.latencies_ns.begin(),
                            s.latencies_ns.end());
    all.model_calls += s.model_calls;
    all.model_latency_ms += s.model_latency_ms;
    all.failed += s.failed;
    if (all.first_error.empty())
      all.first_error = s.first_error;
  }
  return all;
}

inline double percentile_ms(const std::vector<int64_t>& xs_ns, double p) {
  return percentile_of(xs_ns, p) / 1e6;
}

/// The DEV task every benchmark deliberates.
inline task_spec bench_task(int32_t rounds) {
  task_spec task;
  task.role = "DEV";
  task.description = "Implement the login endpoint with session handling";
  task.constraints.rubric = "Secure, maintainable implementation with tests";
  task.constraints.requirements = {"input validation", "rate limiting",
                                   "audit logging"};
  task.constraints.rounds = rounds;
  return task;
}

/// CPU time this process has used so far, in seconds, user and system time
/// apart: what the process's own code costs, and what the kernel does for it
/// (system calls, wake-ups).
struct cpu_split {
  double user = 0;
  double system = 0;
};

inline cpu_split self_cpu_split() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return {secs(ru.ru_utime), secs(ru.ru_stime)};
}

/// CPU time (user + system) this process has used so far, in seconds.
inline double self_cpu_seconds() {
  auto t = self_cpu_split();
  return t.user + t.system;
}

/// Peak resident set size of this process in MiB.
inline double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

} // namespace orch::bench
