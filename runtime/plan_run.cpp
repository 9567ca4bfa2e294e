#include "runtime/plan_run.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <future>
#include <set>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/planner.hpp"
#include "bridges/redis_queue.hpp"
#include "messages/events.hpp"
#include "messages/json_codec.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/text.hpp"

namespace orch {

namespace {

/// The printing EVENT SINK of `orchestrator run`: one progress line per task
/// event; signals the end of the plan.
struct console_state {
  static inline const char* name = "console-sink";
  task_queue_actor queue;
  std::string plan_id;
  size_t total = 0;
  size_t done = 0;
  size_t failed = 0;
  int32_t running = 0;
  bool tty = false;
  std::shared_ptr<std::promise<void>> finished;
};

using console_ptr = event_sink_actor::stateful_pointer<console_state>;

void print_progress(console_state& st, const std::string& event) {
  if (st.tty) {
    std::fprintf(stderr, "\r\033[K[%zu/%zu done] running %d, failed %zu  %s",
                 st.done, st.total, st.running, st.failed, event.c_str());
    if (st.done + st.failed == st.total)
      std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "progress done=%zu/%zu running=%d failed=%zu %s\n",
                 st.done, st.total, st.running, st.failed, event.c_str());
  }
  std::fflush(stderr);
}

void show(console_ptr self, const outbound_event& ev) {
  auto& st = self->state;
  auto p = nlohmann::json::parse(ev.payload, nullptr, false);
  if (!p.is_object())
    return;
  auto id = p.value("task_id", "");
  auto& s = ev.subject;
  if (s == subject::task_dispatched) {
    ++st.running;
    print_progress(st, "started " + id + " (" + p.value("role", "") + ")");
  } else if (s == subject::task_completed) {
    --st.running;
    ++st.done;
    print_progress(st, "completed " + id);
  } else if (s == subject::failed) {
    --st.running;
    print_progress(st, "deliberation failed for " + id + ": "
                         + p.value("error", ""));
  } else if (s == subject::task_failed) {
    ++st.failed;
    print_progress(st, "failed " + id);
  } else if (s == subject::plan_completed) {
    if (p.value("plan_id", "") == st.plan_id && st.finished) {
      st.finished->set_value();
      st.finished.reset();
    }
  }
}

event_sink_actor::behavior_type console_sink(console_ptr self,
                                             task_queue_actor queue,
                                             std::string plan_id, size_t total,
                                             std::shared_ptr<std::promise<void>>
                                               finished) {
  auto& st = self->state;
  st.queue = std::move(queue);
  st.plan_id = std::move(plan_id);
  st.total = total;
  st.tty = isatty(STDERR_FILENO) != 0;
  st.finished = std::move(finished);
  return {
    [=](atom::publish,
        std::vector<outbound_event>& evs) -> caf::result<int32_t> {
      std::vector<std::string> keys;
      for (auto& ev : evs) {
        show(self, ev);
        if (ev.outbox)
          keys.push_back(ev.idempotency_key);
      }
      if (!keys.empty())
        self
          ->request(self->state.queue, std::chrono::seconds(30),
                    atom::outbox_v, std::move(keys))
          .then([](int32_t) {}, [](caf::error&) {});
      return static_cast<int32_t>(evs.size());
    },
    [=](atom::progress, outbound_event& ev) { show(self, ev); },
  };
}

} // namespace

caf::expected<std::pair<plan_input, std::vector<task_spec>>>
load_plan_tasks(const config& cfg, const std::string& path) {
  auto plan = load_plan_file(path);
  if (!plan)
    return std::move(plan.error());
  std::set<std::string> roles;
  for (auto& c : cfg.councils)
    roles.insert(c.role);
  auto tasks = derive_tasks(*plan, roles);
  if (!tasks)
    return caf::make_error(code_of(tasks.error()),
                           "plan " + path + ": " + render(tasks.error()));
  return std::make_pair(std::move(*plan), std::move(*tasks));
}

int run_plan(const config& cfg, const plan_run_options& opts) {
  auto loaded = load_plan_tasks(cfg, opts.plan_path);
  if (!loaded) {
    std::fprintf(stderr, "orchestrator: %s\n", render(loaded.error()).c_str());
    return 2;
  }
  auto plan = &loaded->first;
  auto tasks = &loaded->second;
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  auto svc = start_service(sys, cfg);
  if (!svc) {
    std::fprintf(stderr, "orchestrator: %s\n", render(svc.error()).c_str());
    return 2;
  }
  auto q = start_queue(sys, cfg, opts.max_attempts, false);
  if (!q) {
    std::fprintf(stderr, "orchestrator: %s\n", render(q.error()).c_str());
    stop_service(sys, *svc);
    return 2;
  }
  auto queue = *q;
  auto bail = [&](const std::string& why) {
    std::fprintf(stderr, "orchestrator: %s\n", why.c_str());
    caf::anon_send_exit(queue, caf::exit_reason::user_shutdown);
    stop_service(sys, *svc);
    return 1;
  };
  caf::scoped_actor self{sys};
  int rc = 0;
  // Redis connects in the background: a few seconds, then a clear error.
  if (!await_queue(sys, queue, std::chrono::seconds(5)))
    return bail("task queue: Redis at " + redact_url(cfg.redis_url)
                + " is unreachable (REDIS_URL)");
  std::string failure;
  self->request(queue, std::chrono::seconds(10), atom::add_v, *tasks)
    .receive([](int32_t) {},
             [&](caf::error& err) { failure = render(err); });
  if (!failure.empty())
    return bail(failure);
  auto finished = std::make_shared<std::promise<void>>();
  auto done = finished->get_future();
  auto sink = sys.spawn(console_sink, queue, plan->plan_id, tasks->size(),
                        finished);
  dispatcher_settings ds;
  ds.worker = worker_name(cfg, "run");
  ds.max_in_flight = opts.max_in_flight;
  ds.lease_ms = opts.lease_seconds * 1000;
  ds.idle_poll_ms = 200;
  ds.progress = "off";
  spdlog::info("plan run started plan_id={} tasks={} max_in_flight={}",
               plan->plan_id, tasks->size(), opts.max_in_flight);
  auto dispatcher = spawn_dispatcher(sys, ds, queue, svc->orchestrator,
                                     caf::actor_cast<event_sink_actor>(sink));
  // The plan ends when our DISPATCHER completes its last task, or when the
  // queue has no open task of it left: a plan resumed from Redis may have
  // nothing left to run, and with a shared Redis queue other processes
  // (serve, another run) may complete its tasks, which our sink never sees.
  auto nothing_open = [&] {
    bool none = false;
    self->request(queue, std::chrono::seconds(10), atom::counts_v,
                  plan->plan_id)
      .receive([&](std::map<std::string, int64_t>& n) {
                 none = open_tasks(n) == 0;
               },
               [](caf::error&) {});
    return none;
  };
  while (!nothing_open()
         && done.wait_for(std::chrono::seconds(1)) != std::future_status::ready)
    ; // asked again every second
  caf::anon_send_exit(dispatcher, caf::exit_reason::user_shutdown);
  // Summary and results: the plan's tasks (a queue shared with other plans
  // is not walked).
  std::vector<queued_task> all;
  self
    ->request(queue, caf::infinite, atom::list_v, std::string{},
              plan->plan_id)
    .receive([&](std::vector<queued_task>& xs) { all = std::move(xs); },
             [&](caf::error&) {});
  nlohmann::json doc{{"plan_id", plan->plan_id},
                     {"story_id", plan->story_id},
                     {"tasks", nlohmann::json::array()}};
  std::printf("%-28s  %-9s  %-10s  %-8s  %-18s  %s\n", "task", "role", "state",
              "attempts", "winner", "detail");
  size_t completed = 0;
  for (auto& q : all) {
    nlohmann::json item{{"task_id", q.task.task_id},
                        {"role", q.task.role},
                        {"state", q.state},
                        {"attempts", q.attempts},
                        {"dependencies", q.task.dependencies}};
    std::string winner;
    std::string detail;
    if (q.state == "COMPLETED") {
      ++completed;
      auto out = nlohmann::json::parse(q.result, nullptr, false);
      if (!out.is_discarded()) {
        winner = out.value("winner_id", "");
        detail = first_line(out.value("rationale", ""), 40);
        item["outcome"] = std::move(out);
      }
    } else {
      detail = first_line(q.error, 40);
      item["error"] = q.error;
    }
    std::printf("%-28s  %-9s  %-10s  %-8d  %-18s  %s\n", q.task.task_id.c_str(),
                q.task.role.c_str(), q.state.c_str(), q.attempts,
                winner.c_str(), detail.c_str());
    doc["tasks"].push_back(std::move(item));
  }
  std::printf("%zu of %zu tasks completed\n", completed, all.size());
  if (!opts.out_path.empty()) {
    std::ofstream out{opts.out_path};
    out << doc.dump(2) << '\n';
    if (!out) {
      std::fprintf(stderr, "orchestrator: cannot write %s\n",
                   opts.out_path.c_str());
      rc = 1;
    }
  }
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(queue, caf::exit_reason::user_shutdown);
  stop_service(sys, *svc);
  return rc != 0 ? rc : (completed == all.size() ? 0 : 1);
}

} // namespace orch
