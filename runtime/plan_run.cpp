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
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/planner.hpp"
#include "bridges/redis_queue.hpp"
#include "messages/json_codec.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/text.hpp"

namespace orch {

namespace {

/// Progress of the run, shared between the driver actor and the main thread.
struct run_state {
  orchestrator_actor orchestrator;
  task_queue_actor queue;
  int32_t max_in_flight = 8;
  int32_t lease_ms = 0;
  size_t total = 0;
  size_t done = 0;
  size_t failed = 0;
  int32_t running = 0;
  bool leasing = false;
  bool tty = false;
  std::string worker = "plan-run";
  /// Task ids of this plan start with this.
  std::string scope;
  /// Leases held right now, extended every third of their time.
  std::set<std::string> held;
  std::promise<void> finished;
};

/// The tasks of this run's plan among `xs`.
std::vector<queued_task> of_plan(const run_state& st,
                                 std::vector<queued_task> xs) {
  xs.erase(std::remove_if(xs.begin(), xs.end(),
                          [&](const queued_task& q) {
                            return q.task.task_id.rfind(st.scope, 0) != 0;
                          }),
           xs.end());
  return xs;
}

void print_progress(run_state& st, const std::string& event) {
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

void lease_more(caf::event_based_actor* self, std::shared_ptr<run_state> st);

/// Runs one leased task through the ORCHESTRATOR and reports to the queue.
void run_task(caf::event_based_actor* self, std::shared_ptr<run_state> st,
              queued_task qt) {
  ++st->running;
  auto id = qt.task.task_id;
  st->held.insert(id);
  print_progress(*st, "started " + id + " (" + qt.task.role + ")");
  auto settle = [=](const char* what) {
    --st->running;
    st->held.erase(id);
    print_progress(*st, std::string{what} + " " + id);
    lease_more(self, st);
  };
  self
    ->request(st->orchestrator, caf::infinite, atom::orchestrate_v, qt.task,
              progress_listener_actor{})
    .then(
      [=](deliberation_outcome& out) {
        self
          ->request(st->queue, caf::infinite, atom::complete_v, id, st->worker,
                    to_json(out))
          .then(
            [=](queued_task&) {
              ++st->done;
              settle("completed");
            },
            [=](caf::error&) { settle("lost lease of"); });
      },
      [=](caf::error& err) {
        self
          ->request(st->queue, caf::infinite, atom::fail_v, id, st->worker,
                    render(err))
          .then(
            [=](queued_task& after) {
              if (after.state == "FAILED")
                ++st->failed;
              settle(after.state == "FAILED" ? "failed" : "will retry");
            },
            [=](caf::error&) { settle("lost lease of"); });
      });
}

/// Leases what the cap allows; ends the run when nothing is left to do.
void lease_more(caf::event_based_actor* self, std::shared_ptr<run_state> st) {
  if (st->leasing)
    return;
  auto room = st->max_in_flight - st->running;
  if (room <= 0)
    return;
  st->leasing = true;
  self
    ->request(st->queue, caf::infinite, atom::lease_v, st->worker, st->lease_ms,
              room)
    .then([=](std::vector<queued_task>& got) {
      st->leasing = false;
      for (auto& t : got)
        run_task(self, st, std::move(t));
      if (!got.empty() || st->running > 0)
        return;
      // Nothing ready and nothing running: finished, or waiting for a
      // retry's backoff, or for a lease of a dead worker to expire.
      self->request(st->queue, caf::infinite, atom::list_v, std::string{})
        .then([=](std::vector<queued_task>& all) {
          auto open = 0;
          for (auto& q : of_plan(*st, std::move(all)))
            open += q.state == "QUEUED" || q.state == "READY"
                    || q.state == "IN_PROGRESS";
          if (open == 0) {
            st->finished.set_value();
            self->quit();
            return;
          }
          self->delayed_send(self, std::chrono::milliseconds(200),
                             atom::tick_v);
        });
    });
}

void run_driver(caf::event_based_actor* self, std::shared_ptr<run_state> st) {
  auto every = std::chrono::milliseconds(std::max(100, st->lease_ms / 3));
  self->become([=](atom::tick) { lease_more(self, st); },
               [=](atom::extend) {
                 // Heartbeat: keep the leases of the tasks still running.
                 for (auto& id : st->held)
                   self->send(st->queue, atom::extend_v, id, st->worker,
                              st->lease_ms);
                 self->delayed_send(self, every, atom::extend_v);
               },
               [=](queued_task&) {}, [=](caf::error&) {});
  self->delayed_send(self, every, atom::extend_v);
  lease_more(self, st);
}

} // namespace

int run_plan(const config& cfg, const plan_run_options& opts) {
  auto plan = load_plan_file(opts.plan_path);
  if (!plan) {
    std::fprintf(stderr, "orchestrator: %s\n", render(plan.error()).c_str());
    return 2;
  }
  std::set<std::string> roles;
  for (auto& c : cfg.councils)
    roles.insert(c.role);
  auto tasks = derive_tasks(*plan, roles);
  if (!tasks) {
    std::fprintf(stderr, "orchestrator: plan %s: %s\n", opts.plan_path.c_str(),
                 render(tasks.error()).c_str());
    return 2;
  }
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  auto svc = start_service(sys, cfg);
  if (!svc) {
    std::fprintf(stderr, "orchestrator: %s\n", render(svc.error()).c_str());
    return 2;
  }
  task_queue_settings qs;
  qs.max_attempts = opts.max_attempts;
  task_queue_actor queue;
  if (cfg.redis_url.empty()) {
    queue = spawn_memory_queue(sys, qs);
  } else {
    redis_queue_settings rs;
    rs.url = cfg.redis_url;
    rs.prefix = cfg.redis_prefix;
    rs.queue = qs;
    auto q = spawn_redis_queue(sys, rs);
    if (!q) {
      std::fprintf(stderr, "orchestrator: %s\n", render(q.error()).c_str());
      return 2;
    }
    queue = *q;
  }
  caf::scoped_actor self{sys};
  int rc = 0;
  // Redis may still be connecting.
  await_queue(sys, queue, std::chrono::seconds(5));
  self->request(queue, caf::infinite, atom::add_v, *tasks)
    .receive([](int32_t) {},
             [&](caf::error& err) {
               std::fprintf(stderr, "orchestrator: %s\n", render(err).c_str());
               rc = 1;
             });
  if (rc != 0)
    return rc;
  auto st = std::make_shared<run_state>();
  st->orchestrator = svc->orchestrator;
  st->queue = queue;
  st->max_in_flight = opts.max_in_flight;
  st->lease_ms = opts.lease_seconds * 1000;
  st->scope = plan->plan_id + "/";
  char host[256] = "host";
  gethostname(host, sizeof(host) - 1);
  st->worker = std::string{"run-"} + host + "-" + std::to_string(getpid());
  st->total = tasks->size();
  st->tty = isatty(STDERR_FILENO) != 0;
  spdlog::info("plan run started plan_id={} tasks={} max_in_flight={}",
               plan->plan_id, tasks->size(), opts.max_in_flight);
  auto finished = st->finished.get_future();
  sys.spawn(run_driver, st);
  finished.wait();
  // Summary and results.
  std::vector<queued_task> all;
  self->request(queue, caf::infinite, atom::list_v, std::string{})
    .receive([&](std::vector<queued_task>& xs) { all = of_plan(*st, xs); },
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
  caf::anon_send_exit(queue, caf::exit_reason::user_shutdown);
  stop_service(sys, *svc);
  return rc != 0 ? rc : (completed == all.size() ? 0 : 1);
}

} // namespace orch
