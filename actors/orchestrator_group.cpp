// The ORCHESTRATOR of several engine lanes: one ORCHESTRATOR per lane, each
// with its own councils, workers, agents and scorers pinned to the lane's
// scheduler thread (actors/lanes.hpp), so that a deliberation never leaves
// its core: between the two vCPUs of this service's VM a cache line takes
// about 0.5 us there and back, and a front shared by all lanes
// (ORCHESTRATOR, COUNCIL) made two threads slower than one.
//
// The handle users get is a CAF actor pool with a routing policy of our own:
// it has no mailbox and routes in the sender's thread. Deliberate and
// orchestrate go to the sender's lane when the sender is pinned to one (no
// cache line crosses cores), else to the lanes in turn. Everything else goes
// to the group's control actor, which applies council and agent changes to
// every lane and merges look-ups (the newest stored outcome wins) and stats.

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>

#include <caf/actor_cast.hpp>
#include <caf/actor_pool.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_execution_unit.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "actors/lanes.hpp"

namespace orch {

namespace {

/// The routing policy of the group's actor pool (runs in the sender's
/// thread; the lanes never change, so it needs no lock).
struct lane_router {
  caf::actor control;
  std::vector<caf::actor> lanes;
  /// The next lane for a sender pinned to none.
  std::shared_ptr<std::atomic<size_t>> next
    = std::make_shared<std::atomic<size_t>>(0);

  void operator()(caf::actor_system&, caf::actor_pool::uplock& guard,
                  const caf::actor_pool::actor_vec&,
                  caf::mailbox_element_ptr& what, caf::execution_unit* host) {
    guard.unlock();
    auto& content = what->content();
    if (!content.match_element<atom::deliberate>(0)
        && !content.match_element<atom::orchestrate>(0)) {
      control->enqueue(std::move(what), host);
      return;
    }
    std::optional<size_t> own;
    if (what->sender)
      own = pinned_lane(what->sender->get());
    auto k = own ? *own : next->fetch_add(1, std::memory_order_relaxed);
    lanes[k % lanes.size()]->enqueue(std::move(what), host);
  }
};

/// Replies of every lane to one request, in lane order.
template<class T>
struct gathered {
  std::vector<std::optional<T>> replies;
  caf::error first_error;
  size_t pending = 0;

  /// The first reply, if any lane answered.
  T* first() {
    for (auto& r : replies)
      if (r)
        return &*r;
    return nullptr;
  }
};

struct group_state {
  static inline const char* name = "orchestrator-group";
  std::vector<orchestrator_actor> lanes;
  /// The next lane for a deliberation sent to this actor itself.
  size_t next = 0;
};

using group_ptr = orchestrator_actor::stateful_pointer<group_state>;

/// Asks every lane `xs...`; `done` gets all replies once the last is in.
template<class T, class Done, class... Ts>
void ask_lanes(group_ptr self, Done done, Ts... xs) {
  auto& lanes = self->state.lanes;
  auto acc = std::make_shared<gathered<T>>();
  acc->replies.resize(lanes.size());
  acc->pending = lanes.size();
  for (size_t k = 0; k < lanes.size(); ++k) {
    self->request(lanes[k], caf::infinite, xs...)
      .then(
        [=](T& x) mutable {
          acc->replies[k] = std::move(x);
          if (--acc->pending == 0)
            done(*acc);
        },
        [=](caf::error& err) mutable {
          if (!acc->first_error)
            acc->first_error = std::move(err);
          if (--acc->pending == 0)
            done(*acc);
        });
  }
}

/// Merges the stored outcomes of the lanes: oldest first, one per task (the
/// newest: a task deliberated again in another lane).
stored_outcomes merge(gathered<stored_outcomes>& acc) {
  std::vector<std::pair<int64_t, deliberation_outcome*>> all;
  for (auto& r : acc.replies)
    if (r)
      for (size_t i = 0; i < r->outcomes.size(); ++i)
        all.emplace_back(r->stored_at_us[i], &r->outcomes[i]);
  std::stable_sort(all.begin(), all.end(), [](auto& x, auto& y) {
    return x.first < y.first;
  });
  std::map<std::string, size_t> newest;
  for (size_t i = 0; i < all.size(); ++i)
    newest[all[i].second->task_id] = i;
  stored_outcomes out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (newest[all[i].second->task_id] != i)
      continue;
    out.outcomes.push_back(std::move(*all[i].second));
    out.stored_at_us.push_back(all[i].first);
  }
  return out;
}

/// The lanes' recent durations together.
std::vector<int64_t> joined(gathered<std::vector<int64_t>>& acc) {
  std::vector<int64_t> all;
  for (auto& w : acc.replies)
    if (w)
      all.insert(all.end(), w->begin(), w->end());
  return all;
}

/// Asks every lane a look-up with times (`result` or `list` and `get`) and
/// answers their merge.
template<class... Ts>
caf::typed_response_promise<stored_outcomes> merged(group_ptr self,
                                                    Ts... xs) {
  auto rp = self->make_response_promise<stored_outcomes>();
  ask_lanes<stored_outcomes>(
    self,
    [=](gathered<stored_outcomes>& acc) mutable { rp.deliver(merge(acc)); },
    xs...);
  return rp;
}

/// Answers `rp` with the first lane's reply when every lane succeeded; else
/// undoes the change in the lanes where it succeeded (`undo(lane, reply)`)
/// and answers the first error.
template<class T, class Undo>
void all_or_undo(gathered<T>& acc, caf::typed_response_promise<T>& rp,
                 Undo undo) {
  if (!acc.first_error) {
    rp.deliver(std::move(*acc.first()));
    return;
  }
  for (size_t k = 0; k < acc.replies.size(); ++k)
    if (acc.replies[k])
      undo(k, *acc.replies[k]);
  rp.deliver(std::move(acc.first_error));
}

/// Answers `rp` with the first lane's reply when any lane succeeded (the
/// change took place), else with the first error.
template<class T>
void any_success(gathered<T>& acc, caf::typed_response_promise<T>& rp) {
  if (auto x = acc.first())
    rp.deliver(std::move(*x));
  else
    rp.deliver(std::move(acc.first_error));
}

orchestrator_actor::behavior_type
orchestrator_group(group_ptr self, std::vector<orchestrator_actor> lanes) {
  self->state.lanes = std::move(lanes);
  auto next_lane = [self] {
    auto& st = self->state;
    return st.lanes[st.next++ % st.lanes.size()];
  };
  return {
    [=](atom::deliberate, task_spec& task, progress_listener_actor& listener)
      -> caf::result<deliberation_outcome> {
      return self->delegate(next_lane(), atom::deliberate_v, std::move(task),
                            std::move(listener));
    },
    [=](atom::orchestrate, task_spec& task, progress_listener_actor& listener)
      -> caf::result<deliberation_outcome> {
      return self->delegate(next_lane(), atom::orchestrate_v, std::move(task),
                            std::move(listener));
    },
    [=](atom::create, council_config& cfg) -> caf::result<council_info> {
      auto rp = self->make_response_promise<council_info>();
      ask_lanes<council_info>(
        self,
        [=](gathered<council_info>& acc) mutable {
          all_or_undo(acc, rp, [=](size_t k, council_info& info) {
            caf::anon_send(self->state.lanes[k], atom::remove_v, info.role);
          });
        },
        atom::create_v, cfg);
      return rp;
    },
    [=](atom::list) -> caf::result<std::vector<council_info>> {
      return self->delegate(self->state.lanes.front(), atom::list_v);
    },
    [=](atom::remove, const std::string& role) -> caf::result<council_info> {
      auto rp = self->make_response_promise<council_info>();
      ask_lanes<council_info>(
        self, [=](gathered<council_info>& acc) mutable { any_success(acc, rp); },
        atom::remove_v, role);
      return rp;
    },
    [=](atom::add, agent_spec& spec) -> caf::result<council_info> {
      // Every lane numbers a council's agents alike, so that an agent
      // added without an id gets the same id in every lane.
      auto rp = self->make_response_promise<council_info>();
      ask_lanes<council_info>(
        self,
        [=](gathered<council_info>& acc) mutable {
          all_or_undo(acc, rp, [=](size_t k, council_info& info) {
            caf::anon_send(self->state.lanes[k], atom::remove_v, info.role,
                       info.agent_ids.back());
          });
        },
        atom::add_v, spec);
      return rp;
    },
    [=](atom::remove, const std::string& role,
        const std::string& agent_id) -> caf::result<council_info> {
      auto rp = self->make_response_promise<council_info>();
      ask_lanes<council_info>(
        self, [=](gathered<council_info>& acc) mutable { any_success(acc, rp); },
        atom::remove_v, role, agent_id);
      return rp;
    },
    [=](atom::stats) -> caf::result<orchestrator_stats> {
      auto rp = self->make_response_promise<orchestrator_stats>();
      ask_lanes<orchestrator_stats>(
        self,
        [=](gathered<orchestrator_stats>& acc) mutable {
          if (acc.first_error) {
            rp.deliver(std::move(acc.first_error));
            return;
          }
          orchestrator_stats out;
          double ms = 0;
          for (auto& r : acc.replies) {
            out.total_deliberations += r->total_deliberations;
            out.total_orchestrations += r->total_orchestrations;
            out.failed_deliberations += r->failed_deliberations;
            ms += r->avg_ms * static_cast<double>(r->total_deliberations);
            for (auto& [role, n] : r->role_counts)
              out.role_counts[role] += n;
            add_usage(out.usage, r->usage);
          }
          out.active_councils = acc.replies.front()->active_councils;
          if (out.total_deliberations > 0)
            out.avg_ms = ms / static_cast<double>(out.total_deliberations);
          ask_lanes<std::vector<int64_t>>(
            self,
            [=](gathered<std::vector<int64_t>>& windows) mutable {
              auto all = joined(windows);
              out.p50_ms = percentile_of(all, 50);
              out.p95_ms = percentile_of(all, 95);
              out.p99_ms = percentile_of(std::move(all), 99);
              rp.deliver(std::move(out));
            },
            atom::stats_v, atom::list_v);
        },
        atom::stats_v);
      return rp;
    },
    [=](atom::stats, atom::get)
      -> caf::result<std::map<std::string, int64_t>> {
      using counters = std::map<std::string, int64_t>;
      auto rp = self->make_response_promise<counters>();
      ask_lanes<counters>(
        self,
        [=](gathered<counters>& acc) mutable {
          if (acc.first_error) {
            rp.deliver(std::move(acc.first_error));
            return;
          }
          counters out;
          for (auto& r : acc.replies)
            for (auto& [key, n] : *r)
              out[key] += n;
          rp.deliver(std::move(out));
        },
        atom::stats_v, atom::get_v);
      return rp;
    },
    [=](atom::result,
        const std::string& task_id) -> caf::result<deliberation_outcome> {
      auto rp = self->make_response_promise<deliberation_outcome>();
      ask_lanes<stored_outcomes>(
        self,
        [=](gathered<stored_outcomes>& acc) mutable {
          auto found = merge(acc);
          if (!found.outcomes.empty())
            rp.deliver(std::move(found.outcomes.back()));
          else if (acc.first_error)
            rp.deliver(std::move(acc.first_error));
          else
            rp.deliver(caf::make_error(ec::not_found,
                                       "no deliberation result for task "
                                         + task_id));
        },
        atom::result_v, task_id, atom::get_v);
      return rp;
    },
    [=](atom::list, const std::string& story_id)
      -> caf::result<std::vector<deliberation_outcome>> {
      auto rp = self->make_response_promise<std::vector<deliberation_outcome>>();
      ask_lanes<stored_outcomes>(
        self,
        [=](gathered<stored_outcomes>& acc) mutable {
          if (acc.first_error)
            rp.deliver(std::move(acc.first_error));
          else
            rp.deliver(std::move(merge(acc).outcomes));
        },
        atom::list_v, story_id, atom::get_v);
      return rp;
    },
    [=](atom::expire) {
      for (auto& l : self->state.lanes)
        self->send(l, atom::expire_v);
    },
    [=](atom::result, const std::string& task_id,
        atom::get) -> caf::result<stored_outcomes> {
      return merged(self, atom::result_v, task_id, atom::get_v);
    },
    [=](atom::list, const std::string& story_id,
        atom::get) -> caf::result<stored_outcomes> {
      return merged(self, atom::list_v, story_id, atom::get_v);
    },
    [=](atom::stats, atom::list) -> caf::result<std::vector<int64_t>> {
      auto rp = self->make_response_promise<std::vector<int64_t>>();
      ask_lanes<std::vector<int64_t>>(
        self,
        [=](gathered<std::vector<int64_t>>& acc) mutable {
          rp.deliver(joined(acc));
        },
        atom::stats_v, atom::list_v);
      return rp;
    },
  };
}

} // namespace

orchestrator_actor
spawn_orchestrator_group(caf::actor_system& sys,
                         std::vector<orchestrator_actor> lanes) {
  if (lanes.size() == 1)
    return lanes.front();
  lane_router router;
  router.control = caf::actor_cast<caf::actor>(
    sys.spawn(orchestrator_group, lanes));
  for (auto& l : lanes)
    router.lanes.push_back(caf::actor_cast<caf::actor>(l));
  // The pool's workers get its exit message: the control actor and every
  // lane end with it.
  std::vector<caf::actor> workers{router.control};
  workers.insert(workers.end(), router.lanes.begin(), router.lanes.end());
  size_t i = 0;
  caf::scoped_execution_unit context{&sys};
  auto pool = caf::actor_pool::make(
    &context, workers.size(), [&] { return workers[i++]; }, std::move(router));
  return caf::actor_cast<orchestrator_actor>(pool);
}

} // namespace orch
