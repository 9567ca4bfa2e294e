// Benchmark: the floor of CAF messaging on this machine — request/response
// pairs between event-based actors, with or without a task in each request,
// on the same scheduler settings the service uses. A deliberation is
// 2N(1 + 2R) + 8 such messages (its agent calls and its scoring request with
// their replies, and the six hops between the requester, the ORCHESTRATOR,
// the COUNCIL and its worker), so this sets the ceiling of
// `deliberation --mode engine`.
//
//   messaging --pairs 2000000 --concurrency 64 --responders 3 [--task]
//             [--send]
//
// `--send` measures one-way messages both ways instead (a send, answered by
// a send back): what an exchange costs without CAF's request bookkeeping.
//
// Prints one JSON line: pairs/s, and CPU µs per pair and per message.

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "bench/bench_driver.hpp"
#include "runtime/supervisor.hpp"

using namespace orch;
using namespace orch::bench;

namespace {

struct ping_state {
  std::vector<caf::actor> responders;
  task_spec task;
  bool with_task = false;
  int64_t total = 0;
  int64_t issued = 0;
  int64_t done = 0;
  std::promise<void> finished;
};

void ping(caf::event_based_actor* self, std::shared_ptr<ping_state> st) {
  auto& to = st->responders[st->issued % st->responders.size()];
  ++st->issued;
  auto next = [=](int32_t) {
    if (++st->done == st->total) {
      st->finished.set_value();
      self->quit();
    } else if (st->issued < st->total) {
      ping(self, st);
    }
  };
  if (st->with_task)
    self->request(to, caf::infinite, atom::generate_v, st->task).then(next);
  else
    self->request(to, caf::infinite, atom::tick_v).then(next);
}

caf::behavior responder(caf::event_based_actor*) {
  return {
    [](atom::generate, const task_spec& t) -> int32_t {
      return static_cast<int32_t>(t.description.size());
    },
    [](atom::tick) -> int32_t { return 1; },
  };
}

/// Answers with a one-way message to the sender instead of a response.
caf::behavior send_responder(caf::event_based_actor* self) {
  return {
    [self](atom::tick) {
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 atom::done_v);
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  int64_t pairs = 2'000'000;
  int64_t concurrency = 64;
  int responders = 3;
  bool with_task = false;
  config cfg;
  CLI::App app{"CAF messaging floor: request/response pairs per second"};
  app.add_option("--pairs", pairs, "request/response pairs")
    ->capture_default_str();
  app.add_option("--concurrency", concurrency, "requests in flight")
    ->capture_default_str();
  app.add_option("--responders", responders, "actors answering")
    ->capture_default_str();
  app.add_flag("--task", with_task,
               "each request carries the benchmarks' task (a task_spec "
               "copied per request, as agent calls do)");
  app.add_option("--threads", cfg.threads, "scheduler threads, 0 = cores")
    ->capture_default_str();
  app
    .add_option("--scheduler-policy", cfg.scheduler_policy,
                "CAF scheduler policy: affine, lean, sharing or stealing")
    ->check(CLI::IsMember(scheduler_policies))
    ->capture_default_str();
  bool one_way = false;
  app.add_flag("--send", one_way,
               "one-way messages both ways (send + send back) instead of "
               "request + response")
    ->excludes("--task");
  CLI11_PARSE(app, argc, argv);
  if (pairs <= 0 || concurrency <= 0 || responders <= 0) {
    std::fprintf(stderr, "messaging: --pairs, --concurrency and --responders "
                         "must be positive\n");
    return 2;
  }
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  // One requester per in-flight request would measure spawning; one actor
  // keeps all of them in flight, as a deliberation worker does per phase.
  auto st = std::make_shared<ping_state>();
  for (int i = 0; i < responders; ++i)
    st->responders.push_back(one_way ? sys.spawn(send_responder)
                                     : sys.spawn(responder));
  st->task = bench_task(1);
  st->task.task_id = "bench-1";
  st->with_task = with_task;
  st->total = pairs;
  auto done = st->finished.get_future();
  auto cpu0 = self_cpu_seconds();
  auto start = clock_type::now();
  if (one_way) {
    sys.spawn([st, concurrency](caf::event_based_actor* self) -> caf::behavior {
      auto fire = [=] {
        auto& to = st->responders[st->issued % st->responders.size()];
        ++st->issued;
        self->send(to, atom::tick_v);
      };
      for (int64_t i = 0; i < concurrency && st->issued < st->total; ++i)
        fire();
      return {
        [=](atom::done) {
          if (++st->done == st->total) {
            st->finished.set_value();
            self->quit();
          } else if (st->issued < st->total) {
            fire();
          }
        },
      };
    });
  } else {
    sys.spawn([st, concurrency](caf::event_based_actor* self) {
      for (int64_t i = 0; i < concurrency && st->issued < st->total; ++i)
        ping(self, st);
    });
  }
  done.wait();
  auto wall = std::chrono::duration<double>(clock_type::now() - start).count();
  auto cpu = self_cpu_seconds() - cpu0;
  std::printf("{\"bench\":\"messaging\",\"pairs\":%lld,\"concurrency\":%lld,"
              "\"responders\":%d,\"task\":%s,\"send\":%s,"
              "\"scheduler_policy\":\"%s\","
              "\"wall_s\":%.3f,\"pairs_per_s\":%.0f,\"cpu_us_per_pair\":%.3f,"
              "\"cpu_us_per_message\":%.3f}\n",
              static_cast<long long>(pairs),
              static_cast<long long>(concurrency), responders,
              with_task ? "true" : "false", one_way ? "true" : "false",
              cfg.scheduler_policy.c_str(), wall,
              pairs / wall, cpu * 1e6 / pairs, cpu * 1e6 / pairs / 2);
  for (auto& r : st->responders)
    caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  return 0;
}
