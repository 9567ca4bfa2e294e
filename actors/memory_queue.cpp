// TASK QUEUE, in-memory backend: dependencies, priorities, leases, retries
// with backoff, and blocking of dependents when a task fails for good.

#include <algorithm>
#include <iterator>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/actors.hpp"
#include "actors/memory_queue_state.hpp"

namespace orch {

namespace {

using namespace memq;

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
        if (auto why = unqueueable(t))
          return caf::make_error(ec::invalid_argument, std::move(*why));
      int32_t added = 0;
      auto& tasks = self->state.tasks;
      for (size_t i = 0; i < xs.size(); ++i) {
        if (i + prefetch_ahead < xs.size())
          tasks.prefetch(xs[i + prefetch_ahead].task_id);
        added += self->state.enqueue(std::move(xs[i])) ? 1 : 0;
      }
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
      auto& x = **e;
      x.lease_expires_ms = st.now() + ttl_ms;
      st.leases.insert(x.lease_expires_ms, &x); // moves the lease
      return memory_queue_state::snapshot(x);
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
    [=](atom::complete, std::vector<task_completion>& xs)
      -> caf::result<std::vector<caf::error>> {
      return self->state.complete_all(xs);
    },
    [=](atom::release, const std::string& id,
        const std::string& worker) -> caf::result<queued_task> {
      auto& st = self->state;
      auto e = st.owned(id, worker);
      if (!e)
        return std::move(e.error());
      auto& x = **e;
      st.end_lease(x);
      x.attempts = std::max(0, x.attempts - 1);
      st.make_ready(x);
      return memory_queue_state::snapshot(x);
    },
    [=](atom::counts,
        const std::string& plan) -> caf::result<std::map<std::string, int64_t>> {
      auto& st = self->state;
      st.promote_due(st.now());
      return st.plan_counts(plan);
    },
    [=](atom::finished, const std::string& plan) -> caf::result<bool> {
      auto& st = self->state;
      st.promote_due(st.now());
      return st.plans.count(plan) > 0 && st.open_in_plan(plan) == 0;
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
      auto* found = st.tasks.find(id);
      if (found == nullptr)
        return caf::make_error(ec::not_found, "no task " + id);
      auto& e = *found;
      if (e.state == task_state::completed || e.state == task_state::failed
          || e.state == task_state::cancelled)
        return caf::make_error(ec::invalid_argument,
                               "task " + id + " is already "
                                 + memory_queue_state::name_of(e.state));
      if (e.state == task_state::ready)
        st.unready(e);
      st.end_lease(e);
      st.delayed.erase(&e);
      auto was_finished = e.state == task_state::blocked;
      st.set_state(e, task_state::cancelled);
      if (!was_finished)
        st.finish(e);
      for (auto* dep : e.dependents)
        st.block(*dep, "dependency " + id + " was cancelled");
      return memory_queue_state::snapshot(e);
    },
    [=](atom::status, const std::string& id) -> caf::result<queued_task> {
      auto& st = self->state;
      st.promote_due(st.now());
      auto* e = st.tasks.find(id);
      if (e == nullptr)
        return caf::make_error(ec::not_found, "no task " + id);
      return memory_queue_state::snapshot(*e);
    },
    [=](atom::list,
        const std::string& state) -> caf::result<std::vector<queued_task>> {
      auto& st = self->state;
      st.promote_due(st.now());
      std::vector<queued_task> out;
      if (state.empty()) {
        out.reserve(st.tasks.size());
        st.tasks.for_each([&](const entry& e) {
          memory_queue_state::append(out, e);
        });
      } else {
        auto k = std::find(std::begin(task_state_names),
                           std::end(task_state_names), state)
                 - std::begin(task_state_names);
        if (k < static_cast<ptrdiff_t>(task_state_count)) {
          out.reserve(static_cast<size_t>(st.state_counts[k]));
          for (auto* e = st.state_lists[k].head; e != nullptr; e = e->next)
            memory_queue_state::append(out, *e);
        }
      }
      std::sort(out.begin(), out.end(),
                [](auto& a, auto& b) { return a.seq < b.seq; });
      return out;
    },
    [=](atom::list, const std::string& state,
        const std::string& plan) -> caf::result<std::vector<queued_task>> {
      auto& st = self->state;
      st.promote_due(st.now());
      std::vector<queued_task> out;
      if (auto p = st.plans.find(plan); p != st.plans.end())
        for (auto* e = p->second.tasks.head; e != nullptr; e = e->plan_next)
          if (state.empty() || memory_queue_state::name_of(e->state) == state)
            memory_queue_state::append(out, *e);
      std::sort(out.begin(), out.end(),
                [](auto& a, auto& b) { return a.seq < b.seq; });
      return out;
    },
    [=](atom::counts) -> caf::result<std::map<std::string, int64_t>> {
      auto& st = self->state;
      st.promote_due(st.now());
      std::map<std::string, int64_t> out;
      for (size_t k = 0; k < task_state_count; ++k)
        out.emplace(task_state_names[k], st.state_counts[k]);
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
