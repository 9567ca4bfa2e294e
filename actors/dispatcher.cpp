// DISPATCHER: drives tasks from the TASK QUEUE through the ORCHESTRATOR and
// tells the EVENT SINK every step. The same actor runs `orchestrator run`
// (printing sink) and `orchestrator serve` (NATS sink).

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

#include "actors/actors.hpp"
#include "messages/events.hpp"
#include "messages/json_codec.hpp"

namespace orch {

namespace {

using std::chrono::milliseconds;

/// How long the DISPATCHER waits for the queue before it treats a call as
/// failed.
constexpr auto queue_timeout = std::chrono::seconds(30);

/// How often the outbox is published again after the start.
constexpr auto outbox_flush_interval = std::chrono::seconds(15);

/// Times a completion or failure is retried while the queue is unreachable.
constexpr int max_settle_retries = 20;

struct running_task {
  task_spec task;
  int32_t attempt = 1;
  std::chrono::steady_clock::time_point started;
  /// Status of the last progress event sent (phase granularity).
  std::string last_status;
};

struct dispatcher_state {
  static inline const char* name = "dispatcher";
  dispatcher_settings settings;
  task_queue_actor queue;
  orchestrator_actor orchestrator;
  event_sink_actor sink;
  std::unordered_map<std::string, running_task> running;
  /// Agent ids by role, refreshed on every tick.
  std::map<std::string, std::vector<std::string>> agents;
  bool leasing = false;
  /// A wake-up came while a lease was under way: lease again right after.
  bool again = false;
  /// A wake-up is already scheduled.
  bool poll_scheduled = false;
  bool draining = false;
  caf::typed_response_promise<int32_t> drained;
  std::chrono::steady_clock::time_point drain_deadline;
  /// Consecutive lease failures (queue unreachable), for the log.
  int lease_failures = 0;
  /// While the model endpoint is unavailable nothing is leased before
  /// this; the pause doubles (1 s ... 10 s) with every failed try after
  /// one, and a completion ends it.
  std::chrono::steady_clock::time_point paused_until;
  int unavailable_streak = 0;
  std::chrono::steady_clock::time_point last_outbox_flush;
  /// Keys of the outbox events this DISPATCHER handed to the sink (the most
  /// recent ones): at a plan's end, the plan's other outbox events are
  /// those of a process that died, published before plan.completed.
  std::unordered_set<std::string> delivered;
  std::deque<std::string> delivered_order;

  void remember(const std::string& key) {
    if (!delivered.insert(key).second)
      return;
    delivered_order.push_back(key);
    if (delivered_order.size() > 16384) {
      delivered.erase(delivered_order.front());
      delivered_order.pop_front();
    }
  }
};

/// The DISPATCHER's interface plus its own timers and retries.
using dispatcher_internal = dispatcher_actor::extend<
  // Drain limit, council refresh and outbox flush.
  caf::reacts_to<atom::tick>,
  // Retries a completion or failure the queue could not take.
  caf::reacts_to<atom::complete, std::string, deliberation_outcome, int>,
  caf::reacts_to<atom::fail, std::string, caf::error, int>>;

using dispatcher_ptr = dispatcher_internal::stateful_pointer<dispatcher_state>;

void lease_more(dispatcher_ptr self);

void schedule_poll(dispatcher_ptr self, milliseconds delay) {
  auto& st = self->state;
  if (st.poll_scheduled)
    return;
  st.poll_scheduled = true;
  self->delayed_send(self, delay, atom::wake_v);
}

/// Ends a drain once nothing runs any more.
void check_drained(dispatcher_ptr self) {
  auto& st = self->state;
  if (st.draining && st.running.empty() && st.drained.pending())
    st.drained.deliver(int32_t{0});
}

/// Hands the events recorded in the outbox to the sink.
void deliver(dispatcher_ptr self, std::vector<outbound_event> evs) {
  for (auto& ev : evs) {
    ev.outbox = true;
    self->state.remember(ev.idempotency_key);
  }
  self->request(self->state.sink, caf::infinite, atom::publish_v,
                std::move(evs))
    .then([](int32_t) {}, [](caf::error&) {});
}

/// Drops the plan's marker (plan_done_marker) from the outbox: the plan
/// is open again (it got new tasks).
void drop_marker(dispatcher_ptr self, const task_spec& task) {
  self
    ->request(self->state.queue, queue_timeout, atom::outbox_v,
              std::vector<std::string>{plan_done_marker(task).idempotency_key})
    .then([](int32_t) {}, [](caf::error&) {});
}

void warn_uncounted(const task_spec& task, const caf::error& err) {
  spdlog::warn("dispatcher cannot count plan plan_id={}: {}", task.plan_id,
               render(err));
}

/// Publishes the completion event of a plan found finished, with its counts
/// by state (asked again: the plan may have got new tasks since).
void publish_plan_done(dispatcher_ptr self, task_spec task, bool from_outbox) {
  auto& st = self->state;
  self->request(st.queue, queue_timeout, atom::counts_v, task.plan_id)
    .then(
      [=](std::map<std::string, int64_t>& n) {
        auto& st = self->state;
        if (open_tasks(n) > 0 || n.empty()) {
          if (from_outbox)
            drop_marker(self, task);
          return;
        }
        spdlog::info("dispatcher finished plan plan_id={}", task.plan_id);
        auto done = plan_completed_event(task, n);
        done.outbox = true;
        // Events of the plan that a process which died left in the outbox
        // go first, so that plan.completed follows every event of the plan.
        self->request(st.queue, queue_timeout, atom::outbox_v, task.plan_id)
          .then(
            [=](std::vector<outbound_event>& box) mutable {
              std::vector<outbound_event> evs;
              for (auto& ev : box)
                if (ev.subject != subject::plan_completed
                    && self->state.delivered.count(ev.idempotency_key) == 0)
                  evs.push_back(std::move(ev));
              evs.push_back(std::move(done));
              deliver(self, std::move(evs));
            },
            [=](caf::error&) mutable {
              deliver(self, {std::move(done)});
            });
      },
      [=](caf::error& err) { warn_uncounted(task, err); });
}

/// Publishes the plan's completion event when it has no open task left.
/// The event replaces the plan's marker in the outbox (plan_done_marker),
/// which JetStream's acknowledgement drops; a marker found open again (the
/// plan got new tasks) is dropped here. Whether the plan is finished comes
/// from a count the queue keeps (asked after every task); its counts by
/// state, which may walk the plan, only once it is.
void check_plan(dispatcher_ptr self, task_spec task, bool from_outbox = false) {
  if (task.plan_id.empty()) // a task without a plan finishes none
    return;
  self->request(self->state.queue, queue_timeout, atom::finished_v,
                task.plan_id)
    .then(
      [=](bool finished) {
        if (finished)
          publish_plan_done(self, task, from_outbox);
        else if (from_outbox)
          drop_marker(self, task);
      },
      [=](caf::error& err) { warn_uncounted(task, err); });
}

bool transient(const caf::error& err) {
  auto c = code_of(err);
  return c != ec::invalid_argument && c != ec::not_found;
}

void settle_done(dispatcher_ptr self, const std::string& id) {
  self->state.running.erase(id);
  check_drained(self);
  lease_more(self);
}

/// The result a task keeps in the queue when full results are off.
std::string summary_of(const deliberation_outcome& out) {
  double score = 0;
  for (auto& r : out.results)
    if (r.proposal.author_id == out.winner_id)
      score = r.score;
  deliberation_outcome s;
  s.task_id = out.task_id;
  s.execution_id = out.execution_id;
  s.role = out.role;
  s.story_id = out.story_id;
  s.plan_id = out.plan_id;
  s.winner_id = out.winner_id;
  s.rationale = out.rationale;
  s.duration_ms = out.duration_ms;
  s.status = out.status;
  s.usage = out.usage;
  auto text = to_json(s);
  // One more field than the outcome has: the winner's score.
  text.pop_back();
  return text + ",\"winner_score\":" + std::to_string(score) + "}";
}

/// Completes the task in the queue with its events in the outbox.
void complete(dispatcher_ptr self, std::string id, deliberation_outcome out,
              int tries) {
  auto& st = self->state;
  auto i = st.running.find(id);
  if (i == st.running.end())
    return; // released during a drain
  // The model endpoint answers: leasing goes on at once.
  st.unavailable_streak = 0;
  st.paused_until = {};
  auto& task = i->second.task;
  std::vector<outbound_event> evs{deliberation_completed_event(task, out),
                                  task_completed_event(task, out)};
  auto recorded = evs;
  recorded.push_back(plan_done_marker(task));
  auto result = st.settings.full_results ? to_json(out) : summary_of(out);
  self
    ->request(st.queue, queue_timeout, atom::complete_v, id, st.settings.worker,
              std::move(result), std::move(recorded))
    .then(
      [=](queued_task& q) mutable {
        spdlog::info("dispatcher completes task_id={} execution_id={} "
                     "winner={}",
                     id, out.execution_id, out.winner_id);
        deliver(self, std::move(evs));
        check_plan(self, q.task);
        settle_done(self, id);
      },
      [=](caf::error& err) {
        if (transient(err) && tries < max_settle_retries) {
          spdlog::warn("dispatcher cannot complete task_id={} yet: {}", id,
                       render(err));
          self->delayed_send(self, milliseconds(500), atom::complete_v, id,
                             out, tries + 1);
          return;
        }
        spdlog::warn("dispatcher lost task task_id={}: {}", id, render(err));
        settle_done(self, id);
      });
}

/// A task whose model endpoint is unavailable goes back to READY without
/// counting an attempt (the endpoint failed, not the task), and leasing
/// pauses: tasks wait for the endpoint instead of failing for good.
void wait_for_endpoint(dispatcher_ptr self, std::string id, caf::error err,
                       int tries) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  if (now >= st.paused_until) {
    auto pause = milliseconds(
      std::min<int64_t>(10'000, int64_t{1000} << std::min(st.unavailable_streak,
                                                          4)));
    ++st.unavailable_streak;
    st.paused_until = now + pause;
    spdlog::warn("dispatcher pauses leasing for {} ms: {}", pause.count(),
                 render(err));
  }
  self
    ->request(st.queue, queue_timeout, atom::release_v, id,
              st.settings.worker)
    .then([=](queued_task&) { settle_done(self, id); },
          [=](caf::error& e2) {
            if (transient(e2) && tries < max_settle_retries) {
              self->delayed_send(self, milliseconds(500), atom::fail_v, id,
                                 err, tries + 1);
              return;
            }
            // The lease expires and the task runs again.
            spdlog::warn("dispatcher cannot release task_id={}: {}", id,
                         render(e2));
            settle_done(self, id);
          });
}

/// Fails the task in the queue (retry or final) with its events.
void fail(dispatcher_ptr self, std::string id, caf::error err, int tries) {
  auto& st = self->state;
  auto i = st.running.find(id);
  if (i == st.running.end())
    return;
  if (code_of(err) == ec::unavailable) {
    wait_for_endpoint(self, std::move(id), std::move(err), tries);
    return;
  }
  auto& r = i->second;
  auto why = render(err);
  std::string type = code_of(err) != ec::none ? to_string(code_of(err))
                                              : "error";
  auto ms = std::chrono::duration_cast<milliseconds>(
              std::chrono::steady_clock::now() - r.started)
              .count();
  std::vector<outbound_event> evs{
    deliberation_failed_event(r.task, why, type, r.attempt),
    task_failed_event(r.task, why, type, ms)};
  auto recorded = evs;
  recorded.push_back(plan_done_marker(r.task));
  self
    ->request(st.queue, queue_timeout, atom::fail_v, id, st.settings.worker,
              why, std::move(recorded))
    .then(
      [=](queued_task& q) mutable {
        auto final = q.state == "FAILED";
        spdlog::warn("dispatcher failed task task_id={} attempt={} state={}: "
                     "{}",
                     id, q.attempts, q.state, why);
        if (!final)
          evs.pop_back(); // task.failed only when final
        deliver(self, std::move(evs));
        if (final)
          check_plan(self, q.task);
        if (q.state == "QUEUED" && q.not_before_ms > 0)
          self->delayed_send(
            self, milliseconds(std::max<int64_t>(0, q.not_before_ms - now_ms())),
            atom::wake_v);
        settle_done(self, id);
      },
      [=](caf::error& e2) {
        if (transient(e2) && tries < max_settle_retries) {
          self->delayed_send(self, milliseconds(500), atom::fail_v, id, err,
                             tries + 1);
          return;
        }
        spdlog::warn("dispatcher lost task task_id={}: {}", id, render(e2));
        settle_done(self, id);
      });
}

void start(dispatcher_ptr self, queued_task qt) {
  auto& st = self->state;
  auto id = qt.task.task_id;
  running_task r;
  r.task = qt.task;
  r.attempt = qt.attempts;
  r.started = std::chrono::steady_clock::now();
  st.running[id] = r;
  std::vector<std::string> ids;
  if (auto i = st.agents.find(qt.task.role); i != st.agents.end())
    ids = i->second;
  self->send(st.sink, atom::progress_v,
             task_dispatched_event(qt.task, ids, qt.attempts));
  spdlog::debug("dispatcher dispatched task task_id={} attempt={}", id,
                qt.attempts);
  self
    ->request(st.orchestrator, caf::infinite, atom::orchestrate_v,
              std::move(qt.task),
              caf::actor_cast<progress_listener_actor>(self))
    .then([=](const deliberation_outcome& out) { complete(self, id, out, 0); },
          [=](caf::error& err) { fail(self, id, err, 0); });
}

void lease_more(dispatcher_ptr self) {
  auto& st = self->state;
  if (st.draining)
    return;
  if (st.leasing) {
    st.again = true;
    return;
  }
  if (auto now = std::chrono::steady_clock::now(); now < st.paused_until) {
    schedule_poll(self, std::chrono::duration_cast<milliseconds>(
                          st.paused_until - now)
                          + milliseconds(1));
    return;
  }
  st.again = false;
  auto room = st.settings.max_in_flight
              - static_cast<int32_t>(st.running.size());
  if (room <= 0)
    return;
  st.leasing = true;
  self
    ->request(st.queue, queue_timeout, atom::lease_v, st.settings.worker,
              st.settings.lease_ms, room)
    .then(
      [=](std::vector<queued_task>& got) {
        auto& st = self->state;
        st.leasing = false;
        if (st.lease_failures > 0)
          spdlog::info("dispatcher reaches the task queue again");
        st.lease_failures = 0;
        auto n = static_cast<int32_t>(got.size());
        if (st.draining) {
          // Leased while a drain began: give them back.
          for (auto& q : got)
            self
              ->request(st.queue, queue_timeout, atom::release_v,
                        q.task.task_id, st.settings.worker)
              .then([](queued_task&) {}, [](caf::error&) {});
          return;
        }
        for (auto& q : got)
          start(self, std::move(q));
        if (n == room || st.again)
          lease_more(self);
        else
          schedule_poll(self, milliseconds(st.settings.idle_poll_ms));
      },
      [=](caf::error& err) {
        auto& st = self->state;
        st.leasing = false;
        if (st.lease_failures++ == 0)
          spdlog::warn("dispatcher cannot lease: {}", render(err));
        schedule_poll(self, milliseconds(
                              std::max(st.settings.idle_poll_ms, 1000)));
      });
}

void refresh_agents(dispatcher_ptr self) {
  self->request(self->state.orchestrator, queue_timeout, atom::list_v)
    .then(
      [=](std::vector<council_info>& xs) {
        auto& agents = self->state.agents;
        agents.clear();
        for (auto& c : xs)
          agents[c.role] = c.agent_ids;
      },
      [](caf::error&) {});
}

void flush_outbox(dispatcher_ptr self) {
  self->request(self->state.queue, queue_timeout, atom::outbox_v)
    .then(
      [=](std::vector<outbound_event>& evs) {
        if (evs.empty())
          return;
        spdlog::info("dispatcher republishes {} events from the outbox",
                     evs.size());
        // A plan's marker becomes its completion event, from its counts.
        std::vector<outbound_event> rest;
        for (auto& ev : evs) {
          if (ev.subject == subject::plan_completed)
            check_plan(self, plan_task_of(ev), true);
          else
            rest.push_back(std::move(ev));
        }
        if (!rest.empty())
          deliver(self, std::move(rest));
      },
      [](caf::error&) {});
}

dispatcher_internal::behavior_type
dispatcher(dispatcher_ptr self,
           dispatcher_settings settings, task_queue_actor queue,
           orchestrator_actor orchestrator, event_sink_actor sink) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.queue = std::move(queue);
  st.orchestrator = std::move(orchestrator);
  st.sink = std::move(sink);
  auto typed = self;
  auto heartbeat = milliseconds(std::max(100, st.settings.lease_ms / 3));
  self->delayed_send(self, heartbeat, atom::extend_v);
  self->send(self, atom::tick_v);
  lease_more(typed);
  return {
    [=](atom::wake) {
      self->state.poll_scheduled = false;
      lease_more(typed);
    },
    [=](deliberation_update& up) {
      auto& st = self->state;
      auto& mode = st.settings.progress;
      if (mode == "off")
        return;
      auto i = st.running.find(up.task_id);
      if (i == st.running.end())
        return;
      if (mode == "phase") {
        if (i->second.last_status == up.status)
          return;
        i->second.last_status = up.status;
      }
      self->send(st.sink, atom::progress_v, progress_event(i->second.task, up));
    },
    [=](atom::extend) {
      auto& st = self->state;
      for (auto& [id, r] : st.running)
        self
          ->request(st.queue, queue_timeout, atom::extend_v, id,
                    st.settings.worker, st.settings.lease_ms)
          .then([](queued_task&) {},
                [id = id](caf::error& err) {
                  spdlog::warn("dispatcher cannot extend lease task_id={}: {}",
                               id, render(err));
                });
      self->delayed_send(self, heartbeat, atom::extend_v);
    },
    [=](atom::drain, int32_t limit_ms) -> caf::result<int32_t> {
      auto& st = self->state;
      st.draining = true;
      if (st.running.empty())
        return int32_t{0};
      st.drained = self->make_response_promise<int32_t>();
      spdlog::info("dispatcher drains {} running tasks (at most {} ms)",
                   st.running.size(), limit_ms);
      self->delayed_send(self, milliseconds(std::max(0, limit_ms)),
                         atom::tick_v);
      st.drain_deadline = std::chrono::steady_clock::now()
                          + milliseconds(std::max(0, limit_ms));
      return st.drained;
    },
    [=](atom::status) -> caf::result<int32_t> {
      return static_cast<int32_t>(self->state.running.size());
    },
    [=](atom::tick) {
      auto& st = self->state;
      auto now = std::chrono::steady_clock::now();
      if (st.draining) {
        if (now < st.drain_deadline || !st.drained.pending())
          return;
        // Past the drain limit: give the rest back to the queue.
        auto n = static_cast<int32_t>(st.running.size());
        for (auto& [id, r] : st.running)
          self
            ->request(st.queue, queue_timeout, atom::release_v, id,
                      st.settings.worker)
            .then([](queued_task&) {}, [](caf::error&) {});
        spdlog::info("dispatcher released {} leases at the drain limit", n);
        st.running.clear();
        st.drained.deliver(n);
        return;
      }
      refresh_agents(typed);
      // The outbox holds what an earlier process left behind (published at
      // start) and, as a safety net, whatever a sink could not deliver; the
      // sink itself retries until JetStream acknowledges.
      if (st.last_outbox_flush == std::chrono::steady_clock::time_point{}
          || now - st.last_outbox_flush >= outbox_flush_interval) {
        st.last_outbox_flush = now;
        flush_outbox(typed);
      }
      self->delayed_send(self, std::chrono::seconds(5), atom::tick_v);
    },
    [=](atom::complete, std::string& id, deliberation_outcome& out, int tries) {
      complete(typed, std::move(id), std::move(out), tries);
    },
    [=](atom::fail, std::string& id, caf::error& err, int tries) {
      fail(typed, std::move(id), std::move(err), tries);
    },
  };
}

} // namespace

dispatcher_actor spawn_dispatcher(caf::actor_system& sys,
                                  dispatcher_settings settings,
                                  task_queue_actor queue,
                                  orchestrator_actor orchestrator,
                                  event_sink_actor sink) {
  auto h = sys.spawn(dispatcher, std::move(settings), std::move(queue),
                     std::move(orchestrator), std::move(sink));
  return caf::actor_cast<dispatcher_actor>(h);
}

} // namespace orch
