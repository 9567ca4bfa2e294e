// The in-memory TASK QUEUE's state: its tasks, their states and lists,
// the READY order, leases, retries, blocking, the outbox and the retention
// of finished tasks. Every transition is a member of memory_queue_state;
// actors/memory_queue.cpp holds only the actor's message handlers. Included
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
#include "actors/ready_queue.hpp"
#include "actors/timer_heap.hpp"
#include "actors/tombstones.hpp"
#include "messages/events.hpp"

namespace orch::memq {

/// The states of a task, in the order `counts` reports them.
enum class task_state : uint8_t {
  queued,
  ready,
  in_progress,
  completed,
  failed,
  blocked,
  cancelled,
};

constexpr size_t task_state_count = 7;

constexpr const char* task_state_names[task_state_count]
  = {"QUEUED", "READY", "IN_PROGRESS", "COMPLETED",
     "FAILED", "BLOCKED", "CANCELLED"};

struct plan_tally;
struct entry;

/// An intrusive list of entries, newest first, through the entry members
/// `Prev` and `Next` (a task is in the list of its state and in the list
/// of its plan).
template<entry* entry::*Prev, entry* entry::*Next>
struct entry_list {
  entry* head = nullptr;

  void link(entry& e);
  void unlink(entry& e);
};

struct entry {
  /// A new QUEUED task: the task moves in, no default-made one is
  /// overwritten.
  explicit entry(task_spec&& t) : q(std::move(t)) {
  }

  queued_task q;
  /// The counts of its plan (`plans` is node-based: the address stays).
  plan_tally* tally = nullptr;
  /// The task's state; `q.state` is filled in only in the copies handed
  /// out (`snapshot`), so that a transition assigns no string.
  task_state state = task_state::queued;
  /// Dependencies not yet COMPLETED.
  int32_t unmet = 0;
  /// Tasks that depend on this one, by address (found without a look-up
  /// by id). An entry is in these lists while it is in `tasks`: `purge`
  /// takes it out of its dependencies' lists before it leaves.
  std::vector<entry*> dependents;
  /// Neighbours in the list of tasks in the same state ...
  entry* prev = nullptr;
  entry* next = nullptr;
  /// ... and in the list of its plan's tasks in memory.
  entry* plan_prev = nullptr;
  entry* plan_next = nullptr;
  /// Its places in `leases` and `delayed` (timer_heap<entry>::npos: none).
  size_t lease_slot = static_cast<size_t>(-1);
  size_t delay_slot = static_cast<size_t>(-1);
};

template<entry* entry::*Prev, entry* entry::*Next>
void entry_list<Prev, Next>::link(entry& e) {
  e.*Prev = nullptr;
  e.*Next = head;
  if (head)
    head->*Prev = &e;
  head = &e;
}

template<entry* entry::*Prev, entry* entry::*Next>
void entry_list<Prev, Next>::unlink(entry& e) {
  if (e.*Prev)
    (e.*Prev)->*Next = e.*Next;
  else
    head = e.*Next;
  if (e.*Next)
    (e.*Next)->*Prev = e.*Prev;
  e.*Prev = e.*Next = nullptr;
}

using state_list = entry_list<&entry::prev, &entry::next>;
using plan_list = entry_list<&entry::plan_prev, &entry::plan_next>;

/// The id an entry is found by.
struct entry_id {
  std::string_view operator()(const entry& e) const {
    return e.q.task.task_id;
  }
};

/// Tasks of one plan by state, and how many of them are in memory.
struct plan_tally {
  std::array<int64_t, task_state_count> by_state{};
  int64_t resident = 0;
  /// Its tasks in memory.
  plan_list tasks;
};

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

  static size_t index(task_state s) {
    return static_cast<size_t>(s);
  }

  static const char* name_of(task_state s) {
    return task_state_names[index(s)];
  }

  /// Appends the task as the queue answers with it: a copy with its
  /// state's name (an entry's `q.state` is not kept up to date; `state`
  /// is).
  static void append(std::vector<queued_task>& out, const entry& e) {
    out.emplace_back(e.q).state = task_state_strings()[index(e.state)];
  }

  /// One task as the queue answers with it (see `append`).
  static queued_task snapshot(const entry& e) {
    queued_task out = e.q;
    out.state = task_state_strings()[index(e.state)];
    return out;
  }

  /// `task_state_names` as strings: a state string is copied, not built
  /// from a C string, into each task handed out.
  static const std::array<std::string, task_state_count>&
  task_state_strings() {
    static const std::array<std::string, task_state_count> xs = [] {
      std::array<std::string, task_state_count> out;
      for (size_t i = 0; i < task_state_count; ++i)
        out[i] = task_state_names[i];
      return out;
    }();
    return xs;
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
      auto id = std::move(finished.front().second);
      finished.pop_front();
      auto* e = tasks.find(id);
      if (e == nullptr || !is_final(e->state))
        continue;
      gone.add(id, e->state == task_state::completed ? 1 : 0);
      --state_counts[index(e->state)];
      state_lists[index(e->state)].unlink(*e);
      e->tally->tasks.unlink(*e);
      for (auto& dep : e->q.task.dependencies)
        if (auto* d = tasks.find(dep)) {
          auto& xs = d->dependents;
          xs.erase(std::remove(xs.begin(), xs.end(), e), xs.end());
        }
      if (--e->tally->resident <= 0) // the whole plan left memory:
        plans.erase(e->q.task.plan_id); // so do its counts
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
      leases.erase(*e);
      retry_or_fail(**e, error);
    }
    if (!events.empty()) {
      auto& plan = (*e)->q.task.plan_id;
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
    set_state(e, task_state::ready);
    ready.push(e.q.task.priority, e.q.seq, &e);
  }

  void unready(entry& e) {
    ready.remove(e.q.seq);
  }

  bool enqueue(task_spec&& t) {
    if (gone.find(t.task_id))
      return false;
    auto [at, added] = tasks.try_emplace(t.task_id, std::move(t));
    if (!added)
      return false;
    auto& stored = *at;
    auto& id = stored.q.task.task_id;
    stored.q.max_attempts = settings.max_attempts;
    stored.q.seq = ++seq;
    std::string blocked_by;
    for (auto& dep : stored.q.task.dependencies) {
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
        // Those purged since they began to wait are gone from `tasks`.
        for (auto& waiting : w->second)
          if (auto* x = tasks.find(waiting))
            stored.dependents.push_back(x);
        waiting_for.erase(w);
      }
    // A new entry is QUEUED (`state` starts so).
    stored.tally = &plans[stored.q.task.plan_id];
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
      auto& q = x->q;
      if (x->state != task_state::queued && x->state != task_state::ready)
        continue;
      if (x->state == task_state::ready)
        unready(*x);
      delayed.erase(x);
      set_state(*x, task_state::blocked);
      q.error = why;
      finish(*x);
      for (auto* dep : x->dependents)
        todo.emplace_back(dep, "dependency " + q.task.task_id
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
    while (!leases.empty() && leases.top().first <= t) {
      auto* e = leases.top().second;
      leases.pop();
      if (e->state != task_state::in_progress)
        continue;
      // An expired lease counts as an attempt and returns the task to
      // READY at once (no backoff: the worker died, the task did not fail).
      retry_or_fail(*e, "lease of " + e->q.lease_owner + " expired", false);
    }
  }

  void retry_or_fail(entry& e, const std::string& why, bool backoff = true) {
    auto& q = e.q;
    q.lease_owner.clear();
    q.lease_expires_ms = 0;
    q.error = why;
    if (q.attempts >= q.max_attempts) {
      set_state(e, task_state::failed);
      finish(e);
      for (auto* dep : e.dependents)
        block(*dep, "dependency " + q.task.task_id + " failed: " + why);
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
    set_state(e, task_state::queued);
    q.not_before_ms = now() + delay;
    delayed.insert(q.not_before_ms, &e);
  }

  std::vector<queued_task> lease(const std::string& worker, int32_t ttl,
                                 int32_t n) {
    auto t = now();
    promote_due(t);
    std::vector<queued_task> out;
    out.reserve(std::min(static_cast<size_t>(n), ready.size()));
    while (n-- > 0 && !ready.empty()) {
      auto& e = *ready.pop();
      auto& q = e.q;
      set_state(e, task_state::in_progress);
      q.lease_owner = worker;
      q.lease_expires_ms = t + ttl;
      ++q.attempts;
      leases.insert(q.lease_expires_ms, &e);
      append(out, e);
    }
    return out;
  }

  caf::expected<entry*> owned(const std::string& id,
                              const std::string& worker) {
    auto* e = tasks.find(id);
    if (e == nullptr)
      return caf::make_error(ec::not_found, "no task " + id);
    auto& q = e->q;
    if (e->state != task_state::in_progress || q.lease_owner != worker)
      return caf::make_error(ec::invalid_argument,
                             "task " + id + " is " + name_of(e->state)
                               + (q.lease_owner.empty()
                                    ? std::string{}
                                    : " (leased to " + q.lease_owner + ")")
                               + ", not leased to " + worker);
    return e;
  }

  void complete(entry& e, std::string result) {
    auto& q = e.q;
    leases.erase(&e);
    set_state(e, task_state::completed);
    q.result = std::move(result);
    q.error.clear();
    q.lease_owner.clear();
    q.lease_expires_ms = 0;
    finish(e);
    for (auto* x : e.dependents) {
      auto& dep = *x;
      if (dep.state == task_state::queued && --dep.unmet == 0
          && dep.q.not_before_ms == 0)
        make_ready(dep);
    }
  }
};

} // namespace orch::memq
