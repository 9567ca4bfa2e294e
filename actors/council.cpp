// COUNCIL: the agents of one role, and the deliberations they run.
//
// Each deliberate request goes to a deliberation worker
// (actors/deliberation.hpp); the council keeps idle workers for reuse, its
// agents, and one watchdog for the deliberations' limits. The council of an
// engine lane's ORCHESTRATOR runs, with its workers, in that lane
// (council_settings::home).

#include <algorithm>
#include <queue>
#include <random>
#include <unordered_map>

#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/deliberation.hpp"
#include "actors/lanes.hpp"
#include "messages/ascii.hpp"

namespace orch {

namespace {

/// An agent of the council.
struct council_member {
  agent_spec spec;
  agent_actor handle;
};

struct council_state {
  static inline const char* name = "council";
  council_settings settings;
  std::vector<council_member> agents;
  /// Workers waiting for a deliberation.
  std::vector<deliberation_actor> idle;
  /// Deliberations started so far; the last one's number.
  uint64_t executions = 0;
  uint64_t salt = 0;
  /// Deliberations in flight: number -> worker.
  std::unordered_map<uint64_t, deliberation_actor> running;
  static constexpr size_t max_idle = 256;
  /// Deadlines of the deliberations in flight, earliest on top (a request
  /// may shorten its own limit, so start order is not deadline order).
  using deadline = std::pair<std::chrono::steady_clock::time_point,
                             uint64_t>;
  struct deadline_queue
    : std::priority_queue<deadline, std::vector<deadline>, std::greater<>> {
    /// Drops the entries of deliberations no longer running.
    template<class Running>
    void keep_running(const Running& running) {
      c.erase(std::remove_if(c.begin(), c.end(),
                             [&](const deadline& d) {
                               return running.count(d.second) == 0;
                             }),
              c.end());
      std::make_heap(c.begin(), c.end(), comp);
    }
  };
  /// A finished deliberation's entry stays until it comes to the top or
  /// the queue holds twice as many entries as deliberations run (then it
  /// is swept): at the default limit of 300 s, a fast council would
  /// otherwise keep 300 s worth of deliberations' entries.
  deadline_queue deadlines;
  /// When the pending watchdog tick fires (in the past: none pending).
  std::chrono::steady_clock::time_point tick_at{};

  /// The limit of one deliberation: the council's, or the request's own
  /// when that is shorter; 0 for none.
  std::chrono::milliseconds limit_of(const task_spec& task) const {
    std::chrono::milliseconds own{task.constraints.limit_ms};
    auto council = settings.deliberation_timeout;
    if (own.count() <= 0)
      return council;
    return council.count() > 0 ? std::min(own, council) : own;
  }

  council_info info() const {
    council_info x;
    x.council_id = council_id_for(settings.role);
    x.role = settings.role;
    x.agent_type = settings.agent_type;
    x.rounds = settings.rounds;
    for (auto& a : agents)
      x.agent_ids.push_back(a.spec.agent_id);
    return x;
  }
};

using council_ptr = council_actor::stateful_pointer<council_state>;

/// Makes sure a watchdog tick fires at `at` or earlier: one tick is pending
/// at a time, for the earliest deadline.
void arm(council_ptr self, std::chrono::steady_clock::time_point at) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (st.tick_at > now && st.tick_at <= at)
    return;
  st.tick_at = at;
  self->delayed_send(self, std::max(at - now, decltype(at - now){0}),
                     atom::tick_v);
}

/// Takes an agent in and watches it.
void admit(council_ptr self, agent_spec spec, agent_actor handle) {
  self->monitor(handle);
  self->state.agents.push_back(
    council_member{std::move(spec), std::move(handle)});
}

/// Lets agent i go.
void dismiss(council_ptr self, size_t i, const caf::error& reason) {
  auto& st = self->state;
  auto& a = st.agents[i];
  self->demonitor(a.handle.address());
  self->send_exit(a.handle, reason);
  st.agents.erase(st.agents.begin() + static_cast<ptrdiff_t>(i));
}

council_actor::behavior_type
council(council_ptr self,
        council_settings settings,
        std::vector<std::pair<agent_spec, agent_actor>> agents) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.salt = std::random_device{}();
  // An agent that dies leaves the council; the council takes its agents
  // along when it exits.
  for (auto& a : agents)
    admit(self, std::move(a.first), std::move(a.second));
  // One watchdog per council enforces the deliberation limit: a timer per
  // deliberation would go through CAF's clock thread for every request and
  // keep finished deliberations alive until their timers fire.
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    for (size_t i = 0; i < st.agents.size(); ++i) {
      if (st.agents[i].handle.address() == msg.source) {
        dismiss(self, i, caf::exit_reason::user_shutdown);
        return;
      }
    }
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    while (!st.agents.empty())
      dismiss(self, st.agents.size() - 1, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](atom::deliberate, task_ref& task, progress_listener_actor& listener)
      -> caf::result<deliberation_outcome> {
      auto& st = self->state;
      auto job = std::make_shared<deliberation_job>();
      auto n = ++st.executions;
      job->execution = n;
      auto& id = job->execution_id;
      id.reserve(24);
      id = "exec-";
      append_hex(id, st.salt & 0xffffffff, 8);
      id += '-';
      append_hex(id, n, 6);
      job->listener = std::move(listener);
      job->members.reserve(st.agents.size());
      for (auto& a : st.agents) {
        auto& m = job->members.emplace_back();
        m.agent_id = a.spec.agent_id;
        m.handle = a.handle;
      }
      job->scorers = st.settings.scorers;
      job->quorum = st.settings.quorum;
      auto& cons = task->constraints;
      job->rounds = cons.rounds >= 0 ? cons.rounds : st.settings.rounds;
      job->call_timeout = cons.timeout_seconds > 0
                            ? caf::duration{std::chrono::seconds(
                              cons.timeout_seconds)}
                            : caf::duration{caf::infinite};
      job->limit = st.limit_of(*task);
      auto limit = job->limit;
      job->task = std::move(task);
      job->council = self;
      deliberation_actor worker;
      if (st.idle.empty()) {
        worker = spawn_deliberation(self->system(), st.settings.home);
      } else {
        worker = std::move(st.idle.back());
        st.idle.pop_back();
      }
      st.running.emplace(n, worker);
      if (limit.count() > 0) {
        auto at = self->clock().now() + limit;
        st.deadlines.emplace(at, n);
        arm(self, at);
      }
      return self->delegate(worker, atom::run_v, std::move(job));
    },
    [=](atom::done, uint64_t n, bool reusable) {
      auto& st = self->state;
      auto i = st.running.find(n);
      if (i == st.running.end())
        return;
      if (reusable) {
        if (st.idle.size() < council_state::max_idle)
          st.idle.push_back(std::move(i->second));
        else
          self->send_exit(i->second, caf::exit_reason::user_shutdown);
      }
      st.running.erase(i);
      if (st.deadlines.size() > 1024
          && st.deadlines.size() > 2 * st.running.size())
        st.deadlines.keep_running(st.running);
    },
    [=](atom::tick) {
      auto& st = self->state;
      auto now = self->clock().now();
      while (!st.deadlines.empty() && st.deadlines.top().first <= now) {
        auto n = st.deadlines.top().second;
        auto i = st.running.find(n);
        if (i != st.running.end())
          self->send(i->second, atom::expire_v, n);
        st.deadlines.pop();
      }
      // Drop entries of deliberations that already finished.
      while (!st.deadlines.empty()
             && st.running.count(st.deadlines.top().second) == 0)
        st.deadlines.pop();
      if (!st.deadlines.empty())
        arm(self, st.deadlines.top().first);
    },
    [=](atom::info) -> caf::result<council_info> { return self->state.info(); },
    [=](atom::add, agent_spec& spec,
        agent_actor& handle) -> caf::result<council_info> {
      auto& st = self->state;
      for (auto& a : st.agents)
        if (a.spec.agent_id == spec.agent_id)
          return caf::make_error(ec::already_exists,
                                 "agent " + spec.agent_id + " is already in "
                                   + council_id_for(st.settings.role));
      admit(self, std::move(spec), std::move(handle));
      return st.info();
    },
    [=](atom::remove,
        const std::string& agent_id) -> caf::result<council_info> {
      auto& st = self->state;
      auto i = std::find_if(st.agents.begin(), st.agents.end(), [&](auto& a) {
        return a.spec.agent_id == agent_id;
      });
      if (i == st.agents.end())
        return caf::make_error(ec::not_found,
                               "no agent " + agent_id + " in "
                                 + council_id_for(st.settings.role));
      dismiss(self, static_cast<size_t>(i - st.agents.begin()),
              caf::exit_reason::user_shutdown);
      return st.info();
    },
  };
}

} // namespace

council_actor
spawn_council(caf::actor_system& sys, council_settings settings,
              std::vector<std::pair<agent_spec, agent_actor>> agents) {
  auto home = settings.home;
  return spawn_in_lane(sys, home, council, std::move(settings),
                       std::move(agents));
}

} // namespace orch
