#pragma once

// What the scorer's suites share (scorer: its checks and the actor;
// scorer_rules: rules files and profiles): an actor system with a real
// scheduler and process runner, a scorer made from rules, a proposal
// scored, and matching of texts.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/process_runner.hpp"
#include "actors/scorer.hpp"

namespace orch::scorer_test {

/// Milliseconds since `start`.
inline int64_t ms_since(std::chrono::steady_clock::time_point start) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now() - start).count();
}

struct scorer_config : caf::actor_system_config {
  scorer_config() {
    add_message_types<caf::id_block::orch>();
    set("scheduler.max-threads", 2);
    set("logger.verbosity", caf::atom("quiet"));
  }
};

/// A real scheduler: external commands run on the runner's own thread.
struct scorer_fixture {
  scorer_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  process_runner_actor runner = spawn_process_runner(sys);

  scorer_actor make(scorer_rules rules) {
    return spawn_scorer(sys, std::make_shared<const scorer_rules>(rules),
                        runner);
  }

  scorer_actor make() {
    return make(default_scorer_rules());
  }

  check_suite score(const scorer_actor& s, const std::string& content,
                    const task_spec& task) {
    proposal p;
    p.id = "p-1";
    p.author_id = "agent-dev-001";
    p.author_role = task.role;
    p.content = content;
    check_suite out;
    self->request(s, caf::infinite, atom::score_v, p, task)
      .receive([&](check_suite& x) { out = std::move(x); },
               [&](caf::error& err) { BOOST_FAIL(render(err)); });
    return out;
  }

  check_suite score(const scorer_actor& s, const std::string& content) {
    return score(s, content, plain_task());
  }

  static task_spec plain_task(std::string role = "DEV") {
    task_spec t;
    t.task_id = "task-1";
    t.role = std::move(role);
    t.description = "write something";
    return t;
  }
};

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline bool any_contains(const std::vector<std::string>& xs,
                  const std::string& needle) {
  for (auto& x : xs)
    if (contains(x, needle))
      return true;
  return false;
}

inline std::string fence(const std::string& lang, const std::string& code) {
  return "```" + lang + "\n" + code + "\n```\n";
}

/// The first lint error, for messages.
inline std::string first_error(const check_suite& x) {
  return x.lint.errors.empty() ? std::string{} : x.lint.errors.front();
}

} // namespace orch::scorer_test
