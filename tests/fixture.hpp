#pragma once

// Deterministic actor tests: CAF's test_coordinator drives every actor on
// the test thread; time only moves when the test triggers timeouts.

#include <atomic>
#include <memory>
#include <string>

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/actors.hpp"
#include "actors/process_runner.hpp"
#include "actors/scorer.hpp"

namespace orch::test {

/// Configuration with the deterministic scheduler and our types.
struct deterministic_config : caf::actor_system_config {
  deterministic_config() {
    add_message_types<caf::id_block::orch>();
    set("scheduler.policy", caf::atom("testing"));
    set("logger.verbosity", caf::atom("quiet"));
  }
};

struct deterministic_fixture {
  deterministic_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::scoped_actor self{sys};

  /// Fires what is still scheduled (watchdog ticks hold their actors) so
  /// that the actor system can shut down.
  ~deterministic_fixture() {
    for (int i = 0; i < 10000 && sched.has_pending_timeout(); ++i) {
      sched.trigger_timeouts();
      sched.run();
    }
    sched.run();
  }

  /// Runs all actors until the scoped actor has a reply, advancing the clock
  /// to the next timeout whenever nothing else can run.
  bool run_until_reply() {
    sched.run();
    while (self->mailbox().empty() && sched.has_pending_timeout()) {
      sched.trigger_timeout();
      sched.run();
    }
    return !self->mailbox().empty();
  }

  /// Sends a request and returns its reply (or error) deterministically.
  template<class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& h, Ts&&... xs) {
    auto rh = self->request(h, caf::infinite, std::forward<Ts>(xs)...);
    if (!run_until_reply())
      return caf::make_error(ec::internal, "no reply: actors went idle");
    caf::expected<T> out{caf::make_error(ec::internal, "unset")};
    std::move(rh).receive([&](T& x) { out = std::move(x); },
                          [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  /// A scorer with the built-in rules.
  scorer_actor make_scorer() {
    auto rules = std::make_shared<scorer_rules>(default_scorer_rules());
    return spawn_scorer(sys, rules, spawn_process_runner(sys));
  }
};

/// Unwraps an expected value or fails the test with the rendered error.
template<class T>
T unbox(caf::expected<T> x) {
  if (!x)
    BOOST_FAIL("unexpected error: " << render(x.error()));
  return std::move(*x);
}

/// A task for tests.
inline task_spec make_task(std::string role, std::string text,
                           int32_t rounds = 1) {
  task_spec t;
  t.task_id = "task-1";
  t.story_id = "story-1";
  t.plan_id = "plan-1";
  t.role = std::move(role);
  t.description = std::move(text);
  t.constraints.rubric = "Secure, maintainable implementation with tests";
  t.constraints.requirements = {"input validation", "rate limiting",
                                "audit logging"};
  t.constraints.rounds = rounds;
  return t;
}

} // namespace orch::test
