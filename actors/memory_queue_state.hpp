// The in-memory TASK QUEUE's state: its tasks, their states and lists,
// the READY order, leases, retries, blocking, the outbox and the retention
// of finished tasks. Every transition is a member of memory_queue_state;
// actors/memory_queue.cpp holds only the actor's message handlers, and
// actors/memory_queue_entry.hpp what the queue keeps of a task. Included
// by that file alone.

#pragma once

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/actors.hpp"
#include "actors/id_table.hpp"
#include "actors/memory_queue_entry.hpp"
#include "actors/ready_queue.hpp"
#include "actors/timer_heap.hpp"
#include "actors/tombstones.hpp"
#include "messages/events.hpp"

namespace orch::memq {

/// How many tasks ahead a batch (enqueue, completions) prefetches the id
/// table's slot of.
constexpr size_t prefetch_ahead = 8;

struct memory_queue_state {
  static inline const char* name = "memory-queue";
  task_queue_settings settings;
  id_table<entry, entry_id> tasks;
  /// Dependents of tasks not enqueued yet.
  std::unordered_map<std::string, std::vector<std::string>> waiting_for;
  /// READY tasks in lease order (higher priority first, then enqueue
  /// order). Entries are held by address: addresses in `tasks` stay, and
  /// an entry leaves `ready` (where a removed one is never read again),
  /// `leases` and `delayed` before it can leave `tasks`.
  ready_queue<entry> ready;
  /// Leases by expiry, retries by due time.
  timer_heap<entry, &entry::lease_slot> leases;
  timer_heap<entry, &entry::delay_slot> delayed;
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
  /// Tasks by plan and state, kept with every transition (counts by plan
  /// without walking the plan); a plan leaves when its last task leaves
  /// memory.
  std::unordered_map<std::string, plan_tally> plans;

  /// Tasks in memory by state: how many, and a list of them (`list` of
  /// one state walks only that state's tasks).
  std::array<int64_t, task_state_count> state_counts{};
  std::array<state_list, task_state_count> state_lists{};

  static const char* name_of(task_state s) {
    return task_state_names[index(s)];
  }

  /// Appends the task as the queue answers with it (see `fill`).
  static void append(std::vector<queued_task>& out, const entry& e) {
    fill(out.emplace_back(), e);
  }

  /// One task as the queue answers with it (see `fill`).
  static queued_task snapshot(const entry& e) {
    queued_task out;
    fill(out, e);
    return out;
  }

  /// Leases held, by holder (see `entry::owner`).
  owner_table owners;

  /// The holder `worker` in `owners`, for leases about to be counted.
  owner_ref* holder_of(const std::string& worker) {
    return &*owners.try_emplace(worker, 0).first;
  }

  /// Ends `e`'s lease, if it has one: out of `leases`, no holder (a
  /// holder of no more leases leaves `owners`), no expiry.
  void end_lease(entry& e) {
    leases.erase(&e);
    e.lease_expires_ms = 0;
    if (e.owner == nullptr)
      return;
    if (--e.owner->second == 0)
      owners.erase(owners.find(e.owner->first));
    e.owner = nullptr;
  }

  void set_state(entry& e, task_state to) {
    auto& n = e.tally->by_state;
    --n[index(e.state)];
    --state_counts[index(e.state)];
    state_lists[index(e.state)].unlink(e);
    e.state = to;
    state_lists[index(to)].link(e);
    ++n[index(to)];
    ++state_counts[index(to)];
  }

  /// Finished tasks in the order they finished, for the retention limits.
  std::deque<std::pair<int64_t, std::string>> finished;
  /// Final states of tasks that left memory (1: COMPLETED, 0: another).
  tombstones gone{1};

  static bool is_final(task_state s) {
    return s == task_state::completed || s == task_state::failed
           || s == task_state::blocked || s == task_state::cancelled;
  }

  void finish(const entry& e) {
    if (settings.retain_ms > 0 || settings.retain_max > 0)
      finished.emplace_back(now(), e.task_id);
  }

  /// Drops finished tasks past the retention limits.
  void purge() {
    auto t = now();
    while (!finished.empty()
           && ((settings.retain_ms > 0
                && finished.front().first + settings.retain_ms <= t)
               || (settings.retain_max > 0
                   && finished.size() > settings.retain_max))) {
      auto id = std::move(finished.front().second);
      finished.pop_front();
      auto* e = tasks.find(id);
      if (e == nullptr || !is_final(e->state))
        continue;
      gone.add(id, e->state == task_state::completed ? 1 : 0);
      --state_counts[index(e->state)];
      state_lists[index(e->state)].unlink(*e);
      e->tally->tasks.unlink(*e);
      for (auto& dep : e->dependencies)
        if (auto* d = tasks.find(dep)) {
          auto& xs = d->dependents;
          xs.erase(std::remove(xs.begin(), xs.end(), e), xs.end());
        } else if (auto w = waiting_for.find(dep); w != waiting_for.end()) {
          // Still waiting for one not enqueued yet: the wait goes too, or
          // a task of the same id enqueued later (after its tombstone went)
          // would be taken for a dependent of it.
          auto& xs = w->second;
          xs.erase(std::remove(xs.begin(), xs.end(), id), xs.end());
          if (xs.empty())
            waiting_for.erase(w);
        }
      if (--e->tally->resident <= 0) // the whole plan left memory:
        plans.erase(e->plan_id); // so do its counts
      tasks.erase(e);
    }
  }

  /// Tasks of a plan not finished yet.
  int64_t open_in_plan(const std::string& plan) const {
    auto i = plans.find(plan);
    if (i == plans.end())
      return 0;
    auto& n = i->second.by_state;
    return n[index(task_state::queued)] + n[index(task_state::ready)]
           + n[index(task_state::in_progress)];
  }

  std::map<std::string, int64_t> plan_counts(const std::string& plan) const {
    std::map<std::string, int64_t> out;
    if (auto i = plans.find(plan); i != plans.end())
      for (size_t k = 0; k < task_state_count; ++k)
        if (i->second.by_state[k] > 0)
          out.emplace(task_state_names[k], i->second.by_state[k]);
    return out;
  }

  /// Completes (with `result`) or fails (with `error`) a task leased to
  /// `worker` and records its events in the outbox.
  caf::expected<entry*> settle_one(const std::string& id,
                                   const std::string& worker,
                                   std::string* result,
                                   const std::string& error,
                                   std::vector<outbound_event>& events) {
    auto e = owned(id, worker);
    if (!e)
      return e;
    if (result) {
      complete(**e, std::move(*result));
    } else {
      retry_or_fail(**e, error);
    }
    if (!events.empty()) {
      auto& plan = (*e)->plan_id;
      record(plan, events, (*e)->state == task_state::failed,
             open_in_plan(plan) == 0);
    }
    return e;
  }

  /// `settle_one`, answered with the task as it is now.
  caf::expected<queued_task> settle(const std::string& id,
                                    const std::string& worker,
                                    std::string* result,
                                    const std::string& error,
                                    std::vector<outbound_event> events) {
    auto e = settle_one(id, worker, result, error, events);
    if (!e)
      return std::move(e.error());
    auto out = snapshot(**e);
    purge();
    return out;
  }

  /// Completes a batch in order; one error per completion (none: done).
  std::vector<caf::error> complete_all(std::vector<task_completion>& xs) {
    std::vector<caf::error> out;
    out.reserve(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      if (i + prefetch_ahead < xs.size())
        tasks.prefetch(xs[i + prefetch_ahead].task_id);
      auto& c = xs[i];
      auto e = settle_one(c.task_id, c.worker, &c.result, "", c.events);
      out.push_back(e ? caf::error{} : std::move(e.error()));
    }
    purge();
    return out;
  }

  void record(const std::string& plan, std::vector<outbound_event>& events,
              bool final_failure, bool plan_done) {
    for (auto& ev : events) {
      if ((ev.when == "final" && !final_failure)
          || (ev.when == "plan_done" && !plan_done))
        continue;
      // Recorded: unconditional from now on (as the Redis queue keeps it).
      ev.outbox = true;
      ev.when.clear();
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
    set_state(e, task_state::ready);
    ready.push(e.priority, e.seq, &e);
  }

  void unready(entry& e) {
    ready.remove(e.seq);
  }

  bool enqueue(task_spec&& t) {
    if (gone.find(t.task_id))
      return false;
    auto [at, added] = tasks.try_emplace(t.task_id, std::move(t));
    if (!added)
      return false;
    auto& stored = *at;
    auto& id = stored.task_id;
    stored.max_attempts = settings.max_attempts;
    stored.seq = ++seq;
    std::string blocked_by;
    for (auto& dep : stored.dependencies) {
      auto* d = tasks.find(dep);
      if (d == nullptr) {
        if (auto g = gone.find(dep)) {
          if (*g != 1) {
            ++stored.unmet;
            blocked_by = dep;
          }
          continue;
        }
        ++stored.unmet;
        waiting_for[dep].push_back(id);
        continue;
      }
      d->dependents.push_back(&stored);
      if (d->state == task_state::completed)
        continue;
      ++stored.unmet;
      if (is_final(d->state)) // and not COMPLETED: it never will be
        blocked_by = dep;
    }
    if (!waiting_for.empty())
      if (auto w = waiting_for.find(id); w != waiting_for.end()) {
        // A task purged since it began to wait left this list (purge).
        for (auto& waiting : w->second)
          if (auto* x = tasks.find(waiting))
            stored.dependents.push_back(x);
        waiting_for.erase(w);
      }
    // A new entry is QUEUED (`state` starts so).
    stored.tally = &plans[stored.plan_id];
    stored.tally->tasks.link(stored);
    ++stored.tally->resident;
    ++stored.tally->by_state[index(task_state::queued)];
    ++state_counts[index(task_state::queued)];
    state_lists[index(task_state::queued)].link(stored);
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
      if (x->state != task_state::queued && x->state != task_state::ready)
        continue;
      if (x->state == task_state::ready)
        unready(*x);
      delayed.erase(x);
      set_state(*x, task_state::blocked);
      x->outcome = why;
      finish(*x);
      for (auto* dep : x->dependents)
        todo.emplace_back(dep, "dependency " + x->task_id
                                 + " is blocked: " + why);
    }
  }

  void promote_due(int64_t t) {
    while (!delayed.empty() && delayed.top().first <= t) {
      auto* e = delayed.top().second;
      delayed.pop();
      if (e->state == task_state::queued)
        make_ready(*e);
    }
    if (leases.empty() || leases.top().first > t)
      return;
    // By expiry, then by id (as the Redis queue takes them): which of two
    // tasks that fail at once blocks a dependent first names the cause,
    // and finishes first (retention).
    std::vector<std::pair<int64_t, entry*>> expired;
    while (!leases.empty() && leases.top().first <= t) {
      expired.push_back(leases.top());
      leases.pop();
    }
    std::sort(expired.begin(), expired.end(), [](auto& a, auto& b) {
      return a.first != b.first ? a.first < b.first
                                : a.second->task_id < b.second->task_id;
    });
    for (auto& [at, e] : expired) {
      if (e->state != task_state::in_progress)
        continue;
      // An expired lease counts as an attempt and returns the task to
      // READY at once (no backoff: the worker died, the task did not fail).
      retry_or_fail(*e, "lease of " + e->owner_name() + " expired", false);
    }
  }

  void retry_or_fail(entry& e, const std::string& why, bool backoff = true) {
    end_lease(e);
    e.outcome = why;
    if (e.attempts >= e.max_attempts) {
      set_state(e, task_state::failed);
      finish(e);
      for (auto* dep : e.dependents)
        block(*dep, "dependency " + e.task_id + " failed: " + why);
      return;
    }
    auto delay = std::min<int64_t>(
      static_cast<int64_t>(settings.backoff_base_ms)
        << std::min(e.attempts - 1, 20),
      settings.backoff_max_ms);
    if (delay <= 0 || !backoff) {
      make_ready(e);
      return;
    }
    set_state(e, task_state::queued);
    e.not_before_ms = now() + delay;
    delayed.insert(e.not_before_ms, &e);
  }

  std::vector<queued_task> lease(const std::string& worker, int32_t ttl,
                                 int32_t n) {
    auto t = now();
    promote_due(t);
    std::vector<queued_task> out;
    out.reserve(std::min(static_cast<size_t>(n), ready.size()));
    // Looked up once per lease, and only when a task is there to hold (a
    // holder of none would stay in `owners`).
    owner_ref* holder = nullptr;
    while (n-- > 0 && !ready.empty()) {
      auto& e = *ready.pop();
      if (holder == nullptr)
        holder = holder_of(worker);
      set_state(e, task_state::in_progress);
      e.owner = holder;
      ++holder->second;
      e.lease_expires_ms = t + ttl;
      ++e.attempts;
      leases.insert(e.lease_expires_ms, &e);
      append(out, e);
    }
    return out;
  }

  caf::expected<entry*> owned(const std::string& id,
                              const std::string& worker) {
    auto* e = tasks.find(id);
    if (e == nullptr)
      return caf::make_error(ec::not_found, "no task " + id);
    auto& owner = e->owner_name();
    if (e->state != task_state::in_progress || owner != worker)
      return caf::make_error(ec::invalid_argument,
                             "task " + id + " is " + name_of(e->state)
                               + (owner.empty()
                                    ? std::string{}
                                    : " (leased to " + owner + ")")
                               + ", not leased to " + worker);
    return e;
  }

  void complete(entry& e, std::string result) {
    end_lease(e);
    set_state(e, task_state::completed);
    e.outcome = std::move(result);
    finish(e);
    for (auto* x : e.dependents) {
      auto& dep = *x;
      if (dep.state == task_state::queued && --dep.unmet == 0
          && dep.not_before_ms == 0)
        make_ready(dep);
    }
  }
};

} // namespace orch::memq
