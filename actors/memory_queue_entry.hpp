// What the in-memory TASK QUEUE keeps of a task: its entry (the task's
// fields, its state and the links that put it in the queue's lists), the
// lists themselves, the counts of a plan, and the queued_task an entry is
// handed out as. Included by actors/memory_queue_state.hpp alone.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "messages/messages.hpp"

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

constexpr size_t index(task_state s) {
  return static_cast<size_t>(s);
}

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

/// Leases by holder: a lease's owner is kept once, with how many tasks
/// it holds, and each leased entry points at it (node-based: the address
/// stays while the count is above 0).
using owner_table = std::unordered_map<std::string, int64_t>;
using owner_ref = owner_table::value_type;

/// Whether `c` is a default-made constraints (most tasks' are): an entry
/// then keeps none of its own.
inline bool is_default(const constraints& c) {
  static_assert(sizeof(constraints) == 128,
                "constraints changed: compare its new fields here too");
  static const constraints d;
  return c.rubric.empty() && c.requirements.empty() && c.metadata.empty()
         && c.max_iterations == d.max_iterations
         && c.timeout_seconds == d.timeout_seconds && c.k == d.k
         && c.rounds == d.rounds && c.limit_ms == d.limit_ms;
}

/// A task as the queue keeps it: the fields of its task_spec and of a
/// queued_task, without what a queued_task spends on fields most tasks
/// leave empty. Every new entry is fresh memory, and the kernel zeroes it
/// at the first touch at a cost that varies by the hour on the VMs this
/// runs on; an entry here is 392 bytes, a queued_task and the links took
/// 600. A queued_task is made from it when the queue hands one out
/// (`memory_queue_state::snapshot`).
struct entry {
  /// A new QUEUED task: the spec's fields move in.
  explicit entry(task_spec&& t)
    : task_id(std::move(t.task_id)),
      story_id(std::move(t.story_id)),
      plan_id(std::move(t.plan_id)),
      case_id(std::move(t.case_id)),
      role(std::move(t.role)),
      description(std::move(t.description)),
      dependencies(std::move(t.dependencies)),
      priority(t.priority) {
    if (!is_default(t.constraints))
      limits = std::make_unique<constraints>(std::move(t.constraints));
  }

  /// The task's spec: task_spec's fields, its constraints only when they
  /// are not the defaults.
  std::string task_id;
  std::string story_id;
  std::string plan_id;
  std::string case_id;
  std::string role;
  std::string description;
  std::vector<std::string> dependencies;
  std::unique_ptr<orch::constraints> limits;
  int32_t priority = 0;
  /// Leases taken (queued_task::attempts) and allowed.
  int32_t attempts = 0;
  int32_t max_attempts = 3;
  /// Dependencies not yet COMPLETED.
  int32_t unmet = 0;
  /// The task's state (its name is filled in only in the copies handed
  /// out, so that a transition assigns no string).
  task_state state = task_state::queued;
  /// Who holds its lease: set while IN_PROGRESS, else null.
  owner_ref* owner = nullptr;
  int64_t lease_expires_ms = 0;
  /// Not leased again before this time (retry backoff).
  int64_t not_before_ms = 0;
  /// Enqueue order, for FIFO within a priority.
  int64_t seq = 0;
  /// The result when COMPLETED, else the last error: a task that completed
  /// has no error (its completion clears it), one that did not no result.
  std::string outcome;
  /// The counts of its plan (`plans` is node-based: the address stays).
  plan_tally* tally = nullptr;
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

  /// The name of the lease's holder; empty when none.
  const std::string& owner_name() const {
    static const std::string none;
    return owner != nullptr ? owner->first : none;
  }
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
    return e.task_id;
  }
};

/// Tasks of one plan by state, and how many of them are in memory.
struct plan_tally {
  std::array<int64_t, task_state_count> by_state{};
  int64_t resident = 0;
  /// Its tasks in memory.
  plan_list tasks;
};

/// `task_state_names` as strings: a state string is copied, not built
/// from a C string, into each task handed out.
inline const std::array<std::string, task_state_count>&
task_state_strings() {
  static const std::array<std::string, task_state_count> xs = [] {
    std::array<std::string, task_state_count> out;
    for (size_t i = 0; i < task_state_count; ++i)
      out[i] = task_state_names[i];
    return out;
  }();
  return xs;
}

/// Fills `out` (a default-made queued_task) with the task as the queue
/// answers with it.
inline void fill(queued_task& out, const entry& e) {
  auto& t = out.task;
  t.task_id = e.task_id;
  t.story_id = e.story_id;
  t.plan_id = e.plan_id;
  t.case_id = e.case_id;
  t.role = e.role;
  t.description = e.description;
  if (e.limits)
    t.constraints = *e.limits;
  t.dependencies = e.dependencies;
  t.priority = e.priority;
  out.state = task_state_strings()[index(e.state)];
  out.attempts = e.attempts;
  out.max_attempts = e.max_attempts;
  if (e.owner != nullptr)
    out.lease_owner = e.owner->first;
  out.lease_expires_ms = e.lease_expires_ms;
  out.not_before_ms = e.not_before_ms;
  out.seq = e.seq;
  (e.state == task_state::completed ? out.result : out.error) = e.outcome;
}

} // namespace orch::memq
