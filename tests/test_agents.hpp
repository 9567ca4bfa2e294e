#pragma once

// Agents for tests: a scripted agent that records its calls, and one that
// fails or hangs in a chosen phase.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "actors/scripted.hpp"

namespace orch::test {

/// Calls observed by test agents.
struct call_log {
  std::mutex mtx;
  std::vector<std::string> generates;
  /// (critic, author of the reviewed proposal, round)
  std::vector<std::tuple<std::string, std::string, int32_t>> critiques;
  std::vector<std::string> revises;
  /// Held first replies of agents with the fault kind "late", for the test
  /// to deliver when it wants.
  std::vector<caf::response_promise> late;

  size_t count(const std::vector<std::string>& xs, const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    return static_cast<size_t>(std::count(xs.begin(), xs.end(), id));
  }
};

/// How a test agent misbehaves.
struct fault {
  /// "generate", "critique", "revise" or empty.
  std::string phase;
  /// "error", "hang", or "late": the first call's reply is held in
  /// `call_log::late` and later calls answer normally.
  std::string kind = "error";
};

struct test_agent_state {
  static inline const char* name = "test-agent";
  agent_spec spec;
  fault f;
  std::shared_ptr<call_log> log;
  std::vector<caf::response_promise> held;
  bool late_done = false;
};

inline agent_actor::behavior_type
test_agent(agent_actor::stateful_pointer<test_agent_state> self,
           agent_spec spec, fault f, std::shared_ptr<call_log> log) {
  self->state.spec = std::move(spec);
  self->state.f = std::move(f);
  self->state.log = std::move(log);
  // Returns an error, a never-delivered promise, or nothing (= behave).
  auto misbehave = [self](const char* phase) -> std::optional<caf::error> {
    auto& st = self->state;
    if (st.f.phase != phase)
      return std::nullopt;
    if (st.f.kind == "late") {
      if (st.late_done)
        return std::nullopt;
      st.late_done = true;
      return caf::error{};
    }
    if (st.f.kind == "hang")
      return caf::error{};
    return caf::make_error(ec::agent_failed,
                           std::string{"injected failure in "} + phase);
  };
  return {
    [=](atom::generate, const task_ref& task) -> caf::result<proposal> {
      auto& st = self->state;
      if (st.log) {
        std::lock_guard<std::mutex> guard{st.log->mtx};
        st.log->generates.push_back(st.spec.agent_id);
      }
      if (auto err = misbehave("generate")) {
        if (*err)
          return std::move(*err);
        auto rp = self->make_response_promise<proposal>();
        st.held.push_back(rp);
        if (st.f.kind == "late" && st.log) {
          std::lock_guard<std::mutex> guard{st.log->mtx};
          st.log->late.push_back(rp);
        }
        return rp;
      }
      proposal p;
      p.id = st.spec.agent_id + "/1";
      p.author_id = st.spec.agent_id;
      p.author_role = st.spec.role;
      p.content = scripted_generate(st.spec, *task);
      return p;
    },
    [=](atom::critique, const task_ref& task, const proposal_ref& target,
        int32_t round) -> caf::result<critique> {
      auto& st = self->state;
      if (st.log) {
        std::lock_guard<std::mutex> guard{st.log->mtx};
        st.log->critiques.emplace_back(st.spec.agent_id, target->author_id,
                                       round);
      }
      if (auto err = misbehave("critique")) {
        if (*err)
          return std::move(*err);
        auto rp = self->make_response_promise<critique>();
        st.held.push_back(rp);
        return rp;
      }
      return scripted_critique(st.spec, *task, *target, round);
    },
    [=](atom::revise, const task_ref& task, const proposal_ref& own,
        const std::vector<critique>& feedback) -> caf::result<proposal> {
      auto& st = self->state;
      if (st.log) {
        std::lock_guard<std::mutex> guard{st.log->mtx};
        st.log->revises.push_back(st.spec.agent_id);
      }
      if (auto err = misbehave("revise")) {
        if (*err)
          return std::move(*err);
        auto rp = self->make_response_promise<proposal>();
        st.held.push_back(rp);
        return rp;
      }
      return scripted_revise(st.spec, *task, *own, feedback);
    },
    [=](atom::info) -> caf::result<agent_spec> { return self->state.spec; },
  };
}

/// Spawns `n` test agents for `role`; agent i gets `faults[i]` if present.
inline std::vector<std::pair<agent_spec, agent_actor>>
make_test_agents(caf::actor_system& sys, const std::string& role, int n,
                 std::shared_ptr<call_log> log,
                 std::vector<fault> faults = {}) {
  std::vector<std::pair<agent_spec, agent_actor>> out;
  for (int i = 0; i < n; ++i) {
    agent_spec spec;
    spec.agent_id = agent_id_for(role, i + 1);
    spec.role = normalize_role(role);
    spec.backend = "test";
    spec.index = i;
    spec.diversity_seed = static_cast<uint64_t>(i + 1) * 7919u;
    fault f = static_cast<size_t>(i) < faults.size() ? faults[i] : fault{};
    out.emplace_back(spec, sys.spawn(test_agent, spec, f, log));
  }
  return out;
}

} // namespace orch::test
