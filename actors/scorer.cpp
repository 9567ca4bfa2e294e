// SCORER: the actor that scores proposals. Its checks are in
// scorer_checks.cpp, its text analysis in scorer_text.cpp and the loading of
// its rules in scorer_rules.cpp.

#include "actors/scorer.hpp"
#include "actors/lanes.hpp"
#include "actors/scorer_checks.hpp"

#include <memory>
#include <optional>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

namespace orch {

using namespace scorer_detail;

// -- actor --------------------------------------------------------------------

using scorer_ptr = scorer_actor::stateful_pointer<scorer_state>;

/// Scores one proposal. Answers its suite when every check ran here;
/// otherwise (lint or dry-run commands go to the PROCESS RUNNER) answers
/// nothing and calls `later()` once, which returns what receives the suite
/// when the commands are back.
template<class Later>
std::optional<check_suite> score_one(scorer_ptr self, const proposal& prop,
                                     const task_spec& task, Later later) {
  auto& st = self->state;
  ++st.scored;
  if (st.rules->trivial)
    return trivial_suite(prop.content, task);
  auto rules = st.rules;
  auto have_runner = static_cast<bool>(st.runner);
  const auto& content = prop.content;
  auto& m = matcher_for(st, *rules, task.constraints);
  auto& first = st.positions;
  m.set.scan(content, first);
  score_job job;
  std::vector<external_check> ext;
  check_policy(*rules, m, first, content, task.constraints, job);
  check_lint(*rules, have_runner, content,
             std::min(first[m.backticks], first[m.tildes]), job, ext);
  plan_dryrun(*rules, have_runner, content, task.role, job, ext);
  check_coverage(m, first, job);
  if (ext.empty()) {
    finalize(*rules->source, job);
    return std::move(job.suite);
  }
  auto shared = std::make_shared<score_job>(std::move(job));
  shared->outstanding = ext.size();
  shared->deliver = later();
  auto done = [shared, rules] {
    if (--shared->outstanding == 0) {
      finalize(*rules->source, *shared);
      shared->deliver(std::move(shared->suite));
    }
  };
  for (auto& x : ext) {
    // No request timeout: the runner enforces the command's own limit,
    // and a runner that goes down answers with an error. (CAF 0.17 keeps
    // a request timeout, and with it the requesting actor, alive until
    // it fires even after the response came.)
    pending_check check{x.kind, x.entry, x.spec.timeout_ms};
    self->request(st.runner, caf::infinite, atom::run_v, std::move(x.spec))
      .then(
        [shared, check, done](command_result& res) {
          apply_result(*shared, check, res);
          done();
        },
        [shared, check, done](caf::error& err) {
          apply_error(*shared, check, err);
          done();
        });
  }
  return std::nullopt;
}

/// The suites of a batch, filled as they come.
struct scored_batch {
  std::vector<check_suite> suites;
  size_t outstanding = 0;
  caf::typed_response_promise<std::vector<check_suite>> rp;
};

scorer_actor::behavior_type
scorer(scorer_ptr self, std::shared_ptr<const scorer_rules> rules,
       process_runner_actor runner) {
  self->state.rules = compile_rules(std::move(rules));
  self->state.runner = std::move(runner);
  return {
    [self](atom::score, const proposal& prop,
           const task_spec& task) -> caf::result<check_suite> {
      caf::typed_response_promise<check_suite> rp;
      auto now = score_one(self, prop, task, [&] {
        rp = self->make_response_promise<check_suite>();
        return [rp](check_suite x) mutable { rp.deliver(std::move(x)); };
      });
      if (now)
        return std::move(*now);
      return rp;
    },
    [self](atom::score, const std::vector<proposal_ref>& props,
           const task_ref& task) -> caf::result<std::vector<check_suite>> {
      std::vector<check_suite> suites(props.size());
      // Made when the first proposal waits for commands; the others'
      // suites are in place by the time any command is back (an answer is
      // a later message).
      std::shared_ptr<scored_batch> batch;
      for (size_t i = 0; i < props.size(); ++i) {
        auto now = score_one(self, *props[i], *task, [&] {
          if (!batch) {
            batch = std::make_shared<scored_batch>();
            batch->rp = self->make_response_promise<std::vector<check_suite>>();
          }
          ++batch->outstanding;
          return [batch, i](check_suite x) {
            batch->suites[i] = std::move(x);
            if (--batch->outstanding == 0)
              batch->rp.deliver(std::move(batch->suites));
          };
        });
        if (now)
          suites[i] = std::move(*now);
      }
      if (!batch)
        return suites;
      batch->suites = std::move(suites);
      return batch->rp;
    },
  };
}

scorer_actor spawn_scorer(caf::actor_system& sys,
                          std::shared_ptr<const scorer_rules> rules,
                          process_runner_actor runner, lane in) {
  return spawn_in_lane(sys, in, scorer, std::move(rules), std::move(runner));
}

} // namespace orch
