// TASK QUEUE, in-memory backend: dependencies, priorities, leases, retries
// with backoff, and blocking of dependents when a task fails for good.

#include <algorithm>
#include <deque>
#include <set>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/actors.hpp"
#include "actors/tombstones.hpp"
#include "messages/events.hpp"

namespace orch {

namespace {

struct entry {
  queued_task q;
  /// Dependencies not yet COMPLETED.
  int32_t unmet = 0;
  /// Tasks that depend on this one.
  std::vector<std::string> dependents;
};

/// Ready order: higher priority first, then enqueue order.
struct ready_key {
  int32_t priority;
  int64_t seq;
  std::string id;
  bool operator<(const ready_key& other) const {
    if (priority != other.priority)
      return priority > other.priority;
    return seq < other.seq;
  }
};

struct memory_queue_state {
  static inline const char* name = "memory-queue";
  task_queue_settings settings;
  std::unordered_map<std::string, entry> tasks;
  /// Dependents of tasks not enqueued yet.
  std::unordered_map<std::string, std::vector<std::string>> waiting_for;
  std::set<ready_key> ready;
  /// (time, id): leases by expiry, retries by due time.
  std::set<std::pair<int64_t, std::string>> leases;
  std::set<std::pair<int64_t, std::string>> delayed;
  int64_t seq = 0;
  /// Events recorded with completions, by idempotency key.
  /// With the plan of the task whose settle recorded them.
  struct boxed_event {
    std::string plan;
    outbound_event ev;
  };
  std::map<std::string, boxed_event> outbox;
  /// Outbox keys by plan.
  std::unordered_map<std::string, std::set<std::string>> outbox_by_plan;
  /// Task ids by plan.
  std::unordered_map<std::string, std::set<std::string>> by_plan;
  /// Tasks by plan and state, kept with every transition (counts by plan
  /// without walking the plan).
  std::unordered_map<std::string, std::map<std::string, int64_t>> plan_states;

  /// Tasks in memory by state.
  std::map<std::string, int64_t> state_counts;

  void set_state(queued_task& q, const char* state) {
    auto& n = plan_states[q.task.plan_id];
    if (auto i = n.find(q.state); i != n.end() && --i->second <= 0)
      n.erase(i);
    --state_counts[q.state];
    q.state = state;
    ++n[q.state];
    ++state_counts[q.state];
  }
  /// Finished tasks in the order they finished, for the retention limits.
  std::deque<std::pair<int64_t, std::string>> finished;
  /// Final states of tasks that left memory (1: COMPLETED, 0: another).
  tombstones gone{1};

  static bool is_final(const std::string& state) {
    return state == "COMPLETED" || state == "FAILED" || state == "BLOCKED"
           || state == "CANCELLED";
  }

  void finish(const entry& e) {
    if (settings.retain_ms > 0 || settings.retain_max > 0)
      finished.emplace_back(now(), e.q.task.task_id);
  }

  /// Drops finished tasks past the retention limits.
  void purge() {
    auto t = now();
    while (!finished.empty()
           && ((settings.retain_ms > 0
                && finished.front().first + settings.retain_ms <= t)
               || (settings.retain_max > 0
                   && finished.size() > settings.retain_max))) {
      auto id = finished.front().second;
      finished.pop_front();
      auto i = tasks.find(id);
      if (i == tasks.end() || !is_final(i->second.q.state))
        continue;
      auto plan = i->second.q.task.plan_id;
      gone.add(id, i->second.q.state == "COMPLETED" ? 1 : 0);
      --state_counts[i->second.q.state];
      tasks.erase(i);
      if (auto p = by_plan.find(plan); p != by_plan.end()) {
        p->second.erase(id);
        if (p->second.empty()) {
          // The whole plan left memory: so do its counts.
          by_plan.erase(p);
          plan_states.erase(plan);
        }
      }
    }
  }

  std::map<std::string, int64_t> plan_counts(const std::string& plan) const {
    auto i = plan_states.find(plan);
    return i == plan_states.end() ? std::map<std::string, int64_t>{}
                                  : i->second;
  }

  /// Completes (with `result`) or fails (with `error`) a task leased to
  /// `worker` and records its events in the outbox.
  caf::expected<queued_task> settle(const std::string& id,
                                    const std::string& worker,
                                    std::string* result,
                                    const std::string& error,
                                    std::vector<outbound_event> events) {
    auto e = owned(id, worker);
    if (!e)
      return std::move(e.error());
    if (result) {
      complete(**e, std::move(*result));
    } else {
      leases.erase({(*e)->q.lease_expires_ms, id});
      retry_or_fail(**e, error);
    }
    auto& plan = (*e)->q.task.plan_id;
    record(plan, events, (*e)->q.state == "FAILED",
           open_tasks(plan_counts(plan)) == 0);
    auto out = (*e)->q;
    purge();
    return out;
  }

  void record(const std::string& plan, std::vector<outbound_event>& events,
              bool final_failure, bool plan_done) {
    for (auto& ev : events) {
      if ((ev.when == "final" && !final_failure)
          || (ev.when == "plan_done" && !plan_done))
        continue;
      ev.outbox = true;
      auto key = ev.idempotency_key;
      outbox_by_plan[plan].insert(key);
      outbox[key] = boxed_event{plan, std::move(ev)};
    }
  }

  /// Drops one delivered event; whether it was held.
  bool drop_event(const std::string& key) {
    auto b = outbox.find(key);
    if (b == outbox.end())
      return false;
    if (auto i = outbox_by_plan.find(b->second.plan);
        i != outbox_by_plan.end()) {
      i->second.erase(key);
      if (i->second.empty())
        outbox_by_plan.erase(i);
    }
    outbox.erase(b);
    return true;
  }

  int64_t now() const {
    return settings.clock ? settings.clock() : now_ms();
  }

  void make_ready(entry& e) {
    set_state(e.q, "READY");
    ready.insert(ready_key{e.q.task.priority, e.q.seq, e.q.task.task_id});
  }

  void unready(const entry& e) {
    ready.erase(ready_key{e.q.task.priority, e.q.seq, e.q.task.task_id});
  }

  bool enqueue(task_spec t) {
    auto id = t.task_id;
    if (tasks.count(id) > 0 || gone.find(id))
      return false;
    by_plan[t.plan_id].insert(id);
    entry e;
    e.q.task = std::move(t);
    e.q.max_attempts = settings.max_attempts;
    e.q.seq = ++seq;
    std::string blocked_by;
    for (auto& dep : e.q.task.dependencies) {
      auto i = tasks.find(dep);
      if (auto g = gone.find(dep); i == tasks.end() && g) {
        if (*g != 1) {
          ++e.unmet;
          blocked_by = dep;
        }
        continue;
      }
      if (i == tasks.end()) {
        ++e.unmet;
        waiting_for[dep].push_back(id);
        continue;
      }
      auto& d = i->second;
      d.dependents.push_back(id);
      if (d.q.state == "COMPLETED")
        continue;
      ++e.unmet;
      if (d.q.state == "FAILED" || d.q.state == "BLOCKED"
          || d.q.state == "CANCELLED")
        blocked_by = dep;
    }
    if (auto w = waiting_for.find(id); w != waiting_for.end()) {
      e.dependents = std::move(w->second);
      waiting_for.erase(w);
    }
    auto& stored = tasks.emplace(id, std::move(e)).first->second;
    ++plan_states[stored.q.task.plan_id][stored.q.state];
    ++state_counts[stored.q.state];
    if (!blocked_by.empty())
      block(stored, "dependency " + blocked_by + " did not complete");
    else if (stored.unmet == 0)
      make_ready(stored);
    return true;
  }

  /// Marks `e` and, transitively, its dependents BLOCKED with the cause.
  void block(entry& e, const std::string& cause) {
    std::vector<std::pair<entry*, std::string>> todo{{&e, cause}};
    while (!todo.empty()) {
      auto [x, why] = std::move(todo.back());
      todo.pop_back();
      auto& q = x->q;
      if (q.state != "QUEUED" && q.state != "READY")
        continue;
      if (q.state == "READY")
        unready(*x);
      delayed.erase({q.not_before_ms, q.task.task_id});
      set_state(q, "BLOCKED");
      q.error = why;
      finish(*x);
      for (auto& d : x->dependents)
        if (auto i = tasks.find(d); i != tasks.end())
          todo.emplace_back(&i->second, "dependency " + q.task.task_id
                                          + " is blocked: " + why);
    }
  }

  void promote_due(int64_t t) {
    while (!delayed.empty() && delayed.begin()->first <= t) {
      auto id = delayed.begin()->second;
      delayed.erase(delayed.begin());
      if (auto i = tasks.find(id);
          i != tasks.end() && i->second.q.state == "QUEUED")
        make_ready(i->second);
    }
    while (!leases.empty() && leases.begin()->first <= t) {
      auto id = leases.begin()->second;
      leases.erase(leases.begin());
      auto i = tasks.find(id);
      if (i == tasks.end() || i->second.q.state != "IN_PROGRESS")
        continue;
      // An expired lease counts as an attempt and returns the task to
      // READY at once (no backoff: the worker died, the task did not fail).
      retry_or_fail(i->second,
                    "lease of " + i->second.q.lease_owner + " expired",
                    false);
    }
  }

  void retry_or_fail(entry& e, const std::string& why, bool backoff = true) {
    auto& q = e.q;
    q.lease_owner.clear();
    q.lease_expires_ms = 0;
    q.error = why;
    if (q.attempts >= q.max_attempts) {
      set_state(q, "FAILED");
      finish(e);
      for (auto& d : e.dependents)
        if (auto i = tasks.find(d); i != tasks.end())
          block(i->second, "dependency " + q.task.task_id + " failed: " + why);
      return;
    }
    auto delay = std::min<int64_t>(
      static_cast<int64_t>(settings.backoff_base_ms)
        << std::min(q.attempts - 1, 20),
      settings.backoff_max_ms);
    if (delay <= 0 || !backoff) {
      make_ready(e);
      return;
    }
    set_state(q, "QUEUED");
    q.not_before_ms = now() + delay;
    delayed.emplace(q.not_before_ms, q.task.task_id);
  }

  std::vector<queued_task> lease(const std::string& worker, int32_t ttl,
                                 int32_t n) {
    auto t = now();
    promote_due(t);
    std::vector<queued_task> out;
    while (n-- > 0 && !ready.empty()) {
      auto id = ready.begin()->id;
      ready.erase(ready.begin());
      auto& q = tasks.at(id).q;
      set_state(q, "IN_PROGRESS");
      q.lease_owner = worker;
      q.lease_expires_ms = t + ttl;
      ++q.attempts;
      leases.emplace(q.lease_expires_ms, id);
      out.push_back(q);
    }
    return out;
  }

  caf::expected<entry*> owned(const std::string& id,
                              const std::string& worker) {
    auto i = tasks.find(id);
    if (i == tasks.end())
      return caf::make_error(ec::not_found, "no task " + id);
    auto& q = i->second.q;
    if (q.state != "IN_PROGRESS" || q.lease_owner != worker)
      return caf::make_error(ec::invalid_argument,
                             "task " + id + " is " + q.state
                               + (q.lease_owner.empty()
                                    ? std::string{}
                                    : " (leased to " + q.lease_owner + ")")
                               + ", not leased to " + worker);
    return &i->second;
  }

  void complete(entry& e, std::string result) {
    auto& q = e.q;
    leases.erase({q.lease_expires_ms, q.task.task_id});
    set_state(q, "COMPLETED");
    q.result = std::move(result);
    q.error.clear();
    q.lease_owner.clear();
    q.lease_expires_ms = 0;
    finish(e);
    for (auto& d : e.dependents) {
      auto i = tasks.find(d);
      if (i == tasks.end())
        continue;
      auto& dep = i->second;
      if (dep.q.state == "QUEUED" && --dep.unmet == 0
          && dep.q.not_before_ms == 0)
        make_ready(dep);
    }
  }
};

using memory_queue_ptr
  = task_queue_actor::stateful_pointer<memory_queue_state>;

task_queue_actor::behavior_type memory_queue(memory_queue_ptr self,
                                             task_queue_settings settings) {
  self->state.settings = std::move(settings);
  self->state.gone = tombstones{self->state.settings.tombstones_max};
  auto sweep = self->state.settings.sweep_interval_ms;
  if (sweep > 0)
    self->delayed_send(self, std::chrono::milliseconds(sweep), atom::tick_v);
  return {
    [=](atom::add, std::vector<task_spec>& xs) -> caf::result<int32_t> {
      for (auto& t : xs)
        if (is_blank(t.task_id))
          return caf::make_error(ec::invalid_argument,
                                 "a task without task_id cannot be queued");
      int32_t added = 0;
      for (auto& t : xs)
        added += self->state.enqueue(std::move(t)) ? 1 : 0;
      return added;
    },
    [=](atom::lease, const std::string& worker, int32_t ttl_ms,
        int32_t n) -> caf::result<std::vector<queued_task>> {
      if (is_blank(worker) || ttl_ms <= 0 || n <= 0)
        return caf::make_error(ec::invalid_argument,
                               "lease needs a worker id, a positive ttl and "
                               "a positive count");
      return self->state.lease(worker, ttl_ms, n);
    },
    [=](atom::extend, const std::string& id, const std::string& worker,
        int32_t ttl_ms) -> caf::result<queued_task> {
      auto& st = self->state;
      st.promote_due(st.now());
      auto e = st.owned(id, worker);
      if (!e)
        return std::move(e.error());
      auto& q = (*e)->q;
      st.leases.erase({q.lease_expires_ms, id});
      q.lease_expires_ms = st.now() + ttl_ms;
      st.leases.emplace(q.lease_expires_ms, id);
      return q;
    },
    [=](atom::complete, const std::string& id, const std::string& worker,
        std::string& result) -> caf::result<queued_task> {
      return self->state.settle(id, worker, &result, "",
                                std::vector<outbound_event>{});
    },
    [=](atom::complete, const std::string& id, const std::string& worker,
        std::string& result,
        std::vector<outbound_event>& events) -> caf::result<queued_task> {
      return self->state.settle(id, worker, &result, "", std::move(events));
    },
    [=](atom::fail, const std::string& id, const std::string& worker,
        const std::string& error,
        std::vector<outbound_event>& events) -> caf::result<queued_task> {
      return self->state.settle(id, worker, nullptr, error, std::move(events));
    },
    [=](atom::release, const std::string& id,
        const std::string& worker) -> caf::result<queued_task> {
      auto& st = self->state;
      auto e = st.owned(id, worker);
      if (!e)
        return std::move(e.error());
      auto& q = (*e)->q;
      st.leases.erase({q.lease_expires_ms, id});
      q.lease_owner.clear();
      q.lease_expires_ms = 0;
      q.attempts = std::max(0, q.attempts - 1);
      st.make_ready(**e);
      return q;
    },
    [=](atom::counts,
        const std::string& plan) -> caf::result<std::map<std::string, int64_t>> {
      auto& st = self->state;
      st.promote_due(st.now());
      return st.plan_counts(plan);
    },
    [=](atom::outbox) -> caf::result<std::vector<outbound_event>> {
      std::vector<outbound_event> out;
      for (auto& [k, b] : self->state.outbox)
        out.push_back(b.ev);
      return out;
    },
    [=](atom::outbox,
        const std::string& plan) -> caf::result<std::vector<outbound_event>> {
      auto& st = self->state;
      std::vector<outbound_event> out;
      if (auto i = st.outbox_by_plan.find(plan); i != st.outbox_by_plan.end())
        for (auto& k : i->second)
          if (auto b = st.outbox.find(k); b != st.outbox.end())
            out.push_back(b->second.ev);
      return out;
    },
    [=](atom::outbox,
        const std::vector<std::string>& keys) -> caf::result<int32_t> {
      int32_t n = 0;
      for (auto& k : keys)
        n += self->state.drop_event(k) ? 1 : 0;
      return n;
    },
    [=](atom::fail, const std::string& id, const std::string& worker,
        const std::string& error) -> caf::result<queued_task> {
      return self->state.settle(id, worker, nullptr, error,
                                std::vector<outbound_event>{});
    },
    [=](atom::cancel, const std::string& id) -> caf::result<queued_task> {
      auto& st = self->state;
      auto i = st.tasks.find(id);
      if (i == st.tasks.end())
        return caf::make_error(ec::not_found, "no task " + id);
      auto& e = i->second;
      auto& q = e.q;
      if (q.state == "COMPLETED" || q.state == "FAILED"
          || q.state == "CANCELLED")
        return caf::make_error(ec::invalid_argument,
                               "task " + id + " is already " + q.state);
      if (q.state == "READY")
        st.unready(e);
      st.leases.erase({q.lease_expires_ms, id});
      st.delayed.erase({q.not_before_ms, id});
      st.set_state(q, "CANCELLED");
      q.lease_owner.clear();
      for (auto& d : e.dependents)
        if (auto j = st.tasks.find(d); j != st.tasks.end())
          st.block(j->second, "dependency " + id + " was cancelled");
      return q;
    },
    [=](atom::status, const std::string& id) -> caf::result<queued_task> {
      auto& st = self->state;
      st.promote_due(st.now());
      auto i = st.tasks.find(id);
      if (i == st.tasks.end())
        return caf::make_error(ec::not_found, "no task " + id);
      return i->second.q;
    },
    [=](atom::list,
        const std::string& state) -> caf::result<std::vector<queued_task>> {
      auto& st = self->state;
      st.promote_due(st.now());
      std::vector<queued_task> out;
      for (auto& [id, e] : st.tasks)
        if (state.empty() || e.q.state == state)
          out.push_back(e.q);
      std::sort(out.begin(), out.end(),
                [](auto& a, auto& b) { return a.seq < b.seq; });
      return out;
    },
    [=](atom::counts) -> caf::result<std::map<std::string, int64_t>> {
      auto& st = self->state;
      st.promote_due(st.now());
      std::map<std::string, int64_t> out;
      for (auto s : {"QUEUED", "READY", "IN_PROGRESS", "COMPLETED", "FAILED",
                     "BLOCKED", "CANCELLED"}) {
        auto i = st.state_counts.find(s);
        out[s] = i == st.state_counts.end() ? 0 : i->second;
      }
      return out;
    },
    [=](atom::tick) {
      auto& st = self->state;
      st.promote_due(st.now());
      st.purge();
      if (st.settings.sweep_interval_ms > 0)
        self->delayed_send(
          self, std::chrono::milliseconds(st.settings.sweep_interval_ms),
          atom::tick_v);
    },
  };
}

} // namespace

task_queue_actor spawn_memory_queue(caf::actor_system& sys,
                                    task_queue_settings settings) {
  return sys.spawn(memory_queue, std::move(settings));
}

} // namespace orch
