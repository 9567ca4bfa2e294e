// Placed agents and scorers: local stand-ins for agents and scorers that
// live on nodes. Each forwards every call to its remote counterpart with a
// time limit, monitors it, and when it goes down (its node died or hung)
// asks the PLACEMENT for another home and sends the calls in flight again:
// CAF does not fail requests to a dead peer before their own time-out.

#include "actors/nodes.hpp"

#include <map>
#include <type_traits>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

namespace orch {

namespace {

/// A placed agent: an AGENT that also moves when the PLACEMENT asks.
using placed_agent_actor = agent_actor::extend<caf::reacts_to<atom::place>>;

/// A placed scorer: a SCORER that also moves when the PLACEMENT asks.
using placed_scorer_actor = scorer_actor::extend<caf::reacts_to<atom::place>>;

/// What both kinds of placed actor keep.
template<class Handle>
struct forwarder {
  placement_actor placement;
  /// The current remote counterpart (null while placing).
  Handle remote;
  /// Where it runs ("host:port#epoch" or "local").
  std::string where;
  /// Bumped on every (re)placement; replies of older ones are ignored.
  uint64_t generation = 0;
  bool placing = false;
  std::chrono::milliseconds call_timeout{300'000};
  int32_t max_moves = 3;
  uint64_t next_id = 0;
  struct call {
    /// The generation it was last sent in (0: not sent yet).
    uint64_t gen = 0;
    int32_t moves = 0;
    std::function<void()> issue;
    std::function<void(caf::error)> fail;
  };
  std::unordered_map<uint64_t, call> calls;
  /// Homes left by a move that still answer calls, by generation.
  std::map<uint64_t, Handle> retiring;
  /// Whether the pending placement is a move (the old home keeps working).
  bool moving = false;

  /// Whether a call must be sent (again): never sent, or sent to a home
  /// that is gone.
  bool needs_issue(const call& c) const {
    return c.gen == 0 || (c.gen != generation && retiring.count(c.gen) == 0);
  }
};

struct placed_agent_state {
  static inline const char* name = "placed_agent";
  agent_spec spec;
  forwarder<agent_actor> fw;
};

struct placed_scorer_state {
  static inline const char* name = "placed_scorer";
  forwarder<scorer_actor> fw;
};

using agent_ptr = placed_agent_actor::stateful_pointer<placed_agent_state>;
using scorer_ptr = placed_scorer_actor::stateful_pointer<placed_scorer_state>;

template<class Self>
void place(Self self, const std::string& avoid);

const char* what(agent_ptr) {
  return "agent";
}

const char* what(scorer_ptr) {
  return "scorer";
}

std::string id_of(agent_ptr self) {
  return self->state.spec.agent_id;
}

std::string id_of(scorer_ptr self) {
  return "scorer-" + std::to_string(self->id());
}

std::string role_of(agent_ptr self) {
  return self->state.spec.role;
}

std::string role_of(scorer_ptr) {
  return "";
}

/// Fails every call in flight (placement failed, or the actor ends).
template<class Self>
void fail_all(Self self, const caf::error& err) {
  auto calls = std::move(self->state.fw.calls);
  self->state.fw.calls.clear();
  for (auto& [id, c] : calls)
    c.fail(err);
}

/// Stops a home left by a move once its last call answered.
template<class Self>
void retire_idle(Self self) {
  auto& fw = self->state.fw;
  for (auto i = fw.retiring.begin(); i != fw.retiring.end();) {
    auto busy = std::any_of(fw.calls.begin(), fw.calls.end(), [&](auto& kv) {
      return kv.second.gen == i->first;
    });
    if (busy) {
      ++i;
      continue;
    }
    self->demonitor(i->second.address());
    self->send_exit(i->second, caf::exit_reason::user_shutdown);
    i = fw.retiring.erase(i);
  }
}

/// Sends every call that needs a home (again) to the current one.
template<class Self>
void issue_pending(Self self) {
  auto& fw = self->state.fw;
  std::vector<uint64_t> ids;
  for (auto& [id, c] : fw.calls)
    if (fw.needs_issue(c))
      ids.push_back(id);
  for (auto id : ids) {
    auto i = fw.calls.find(id);
    if (i == fw.calls.end())
      continue;
    if (i->second.gen != 0 && ++i->second.moves > fw.max_moves) {
      auto fail = std::move(i->second.fail);
      fw.calls.erase(i);
      fail(caf::make_error(ec::agent_failed,
                           std::string{what(self)} + " " + id_of(self)
                             + " lost its node too often"));
      continue;
    }
    i->second.issue();
  }
}

/// A new home: calls in flight at a home left by a move finish there;
/// every other call goes to the new one.
template<class Self, class Handle>
void placed(Self self, Handle remote, std::string where) {
  auto& fw = self->state.fw;
  fw.placing = false;
  if (fw.moving && fw.remote) {
    fw.retiring.emplace(fw.generation, fw.remote);
    self->send(fw.placement, atom::remove_v, fw.where, role_of(self));
  }
  fw.moving = false;
  fw.remote = std::move(remote);
  fw.where = std::move(where);
  ++fw.generation;
  self->monitor(fw.remote);
  spdlog::debug("placed {} {} runs on {}", what(self), id_of(self), fw.where);
  issue_pending(self);
  retire_idle(self);
}

template<class Self>
void place_failed(Self self, const caf::error& err) {
  spdlog::warn("placed {} {} found no home: {}", what(self), id_of(self),
               render(err));
  self->state.fw.placing = false;
  self->state.fw.moving = false;
  if (!self->state.fw.remote)
    fail_all(self, err);
}

/// What the PLACEMENT is asked for: a home for this agent, or a scorer.
auto ask_home(agent_ptr self, const std::string& avoid) {
  return self->request(self->state.fw.placement, caf::infinite, atom::place_v,
                       self->state.spec, avoid);
}

auto ask_home(scorer_ptr self, const std::string& avoid) {
  return self->request(self->state.fw.placement, caf::infinite, atom::place_v,
                       atom::score_v, avoid);
}

/// Asks for a home anywhere but `avoid` ("" for anywhere).
template<class Self>
void place(Self self, const std::string& avoid) {
  using handle = std::decay_t<decltype(self->state.fw.remote)>;
  self->state.fw.placing = true;
  ask_home(self, avoid).then(
    [=](handle& remote, std::string& where) {
      placed(self, std::move(remote), std::move(where));
    },
    [=](caf::error& err) { place_failed(self, err); });
}

/// Forwards one call (`R` is its answer) to the current home, now or once
/// there is one.
template<class R, class Self, class... Ts>
caf::typed_response_promise<R>
forward(Self self, std::chrono::milliseconds timeout, Ts... xs) {
  auto& fw = self->state.fw;
  auto rp = self->template make_response_promise<R>();
  auto id = ++fw.next_id;
  auto& c = fw.calls[id];
  c.fail = [rp](caf::error err) mutable { rp.deliver(std::move(err)); };
  c.issue = [self, id, rp, timeout, xs...]() mutable {
    auto& fw = self->state.fw;
    auto gen = fw.generation;
    fw.calls[id].gen = gen;
    auto settle = [self, id, gen]() -> bool {
      auto& fw = self->state.fw;
      auto i = fw.calls.find(id);
      if (i == fw.calls.end() || i->second.gen != gen)
        return false;
      fw.calls.erase(i);
      if (fw.retiring.count(gen) != 0)
        retire_idle(self);
      return true;
    };
    self->request(fw.remote, timeout, xs...)
      .then(
        [settle, rp](R& r) mutable {
          if (settle())
            rp.deliver(std::move(r));
        },
        [settle, rp](caf::error& err) mutable {
          if (settle())
            rp.deliver(std::move(err));
        });
  };
  if (fw.remote)
    c.issue();
  else if (!fw.placing)
    place(self, "");
  return rp;
}

/// The PLACEMENT asks for a move (a node joined): new calls go to the new
/// home, calls in flight finish at the old one.
template<class Self>
void relocate(Self self) {
  auto& fw = self->state.fw;
  spdlog::debug("placed {} {} asked to move from {} (placing={})", what(self),
                id_of(self), fw.where, fw.placing);
  if (fw.placing || !fw.remote)
    return;
  fw.moving = true;
  place(self, fw.where);
}

/// Monitors the home; on DOWN, moves. On exit, takes the remote along.
template<class Self>
void watch(Self self) {
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& fw = self->state.fw;
    for (auto i = fw.retiring.begin(); i != fw.retiring.end(); ++i)
      if (i->second.address() == msg.source) {
        // A home left by a move died with calls in flight: send them on.
        fw.retiring.erase(i);
        if (fw.remote)
          issue_pending(self);
        return;
      }
    if (!fw.remote || msg.source != fw.remote.address())
      return;
    spdlog::warn("placed {} {} lost its home {} ({}); moving {} calls",
                 what(self), id_of(self), fw.where, render(msg.reason),
                 fw.calls.size());
    auto avoid = fw.where;
    fw.remote = nullptr;
    fw.moving = false;
    ++fw.generation;
    self->send(fw.placement, atom::remove_v, avoid, role_of(self));
    place(self, avoid);
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& fw = self->state.fw;
    if (fw.remote) {
      self->send_exit(fw.remote, msg.reason);
      self->send(fw.placement, atom::remove_v, fw.where, role_of(self));
    }
    for (auto& [gen, old] : fw.retiring)
      self->send_exit(old, msg.reason);
    fail_all(self, caf::make_error(ec::cancelled, std::string{what(self)}
                                                    + " " + id_of(self)
                                                    + " was stopped"));
    self->quit(msg.reason);
  });
}

/// Sets a placed actor up and asks for its first home.
template<class Self>
void init(Self self, placement_actor placement,
          std::chrono::milliseconds timeout, int32_t max_moves) {
  auto& fw = self->state.fw;
  fw.placement = std::move(placement);
  fw.call_timeout = timeout;
  fw.max_moves = max_moves;
  watch(self);
  place(self, "");
}

std::chrono::milliseconds limit(const task_spec& task,
                                std::chrono::milliseconds fallback) {
  if (task.constraints.timeout_seconds > 0)
    return std::chrono::seconds(task.constraints.timeout_seconds);
  return fallback;
}

placed_agent_actor::behavior_type placed_agent(agent_ptr self, agent_spec spec,
                                        placement_actor placement,
                                        std::chrono::milliseconds timeout,
                                        int32_t max_moves) {
  self->state.spec = std::move(spec);
  init(self, std::move(placement), timeout, max_moves);
  return {
    [=](atom::generate, task_ref& task) -> caf::result<proposal> {
      auto t = limit(*task, self->state.fw.call_timeout);
      return forward<proposal>(self, t, atom::generate_v, std::move(task));
    },
    [=](atom::critique, task_ref& task, proposal_ref& p,
        int32_t round) -> caf::result<critique> {
      auto t = limit(*task, self->state.fw.call_timeout);
      return forward<critique>(self, t, atom::critique_v, std::move(task),
                               std::move(p), round);
    },
    [=](atom::revise, task_ref& task, proposal_ref& p,
        std::vector<critique>& fb) -> caf::result<proposal> {
      auto t = limit(*task, self->state.fw.call_timeout);
      return forward<proposal>(self, t, atom::revise_v, std::move(task),
                               std::move(p), std::move(fb));
    },
    [=](atom::info) -> caf::result<agent_spec> { return self->state.spec; },
    [=](atom::place) { relocate(self); },
  };
}

placed_scorer_actor::behavior_type placed_scorer(scorer_ptr self,
                                          placement_actor placement,
                                          std::chrono::milliseconds timeout,
                                          int32_t max_moves) {
  init(self, std::move(placement), timeout, max_moves);
  return {
    [=](atom::score, proposal& p, task_spec& task) -> caf::result<check_suite> {
      return forward<check_suite>(self, self->state.fw.call_timeout,
                                  atom::score_v, std::move(p),
                                  std::move(task));
    },
    [=](atom::score, std::vector<proposal_ref>& ps,
        task_ref& task) -> caf::result<std::vector<check_suite>> {
      return forward<std::vector<check_suite>>(
        self, self->state.fw.call_timeout, atom::score_v, std::move(ps),
        std::move(task));
    },
    [=](atom::place) { relocate(self); },
  };
}

} // namespace

agent_actor spawn_placed_agent(caf::actor_system& sys, agent_spec spec,
                               placement_actor placement,
                               std::chrono::milliseconds call_timeout,
                               int32_t max_moves) {
  return caf::actor_cast<agent_actor>(
    sys.spawn(placed_agent, std::move(spec), std::move(placement),
              call_timeout, max_moves));
}

scorer_actor spawn_placed_scorer(caf::actor_system& sys,
                                 placement_actor placement,
                                 std::chrono::milliseconds call_timeout,
                                 int32_t max_moves) {
  return caf::actor_cast<scorer_actor>(
    sys.spawn(placed_scorer, std::move(placement), call_timeout, max_moves));
}

} // namespace orch
