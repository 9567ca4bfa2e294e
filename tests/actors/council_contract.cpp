// One contract, two backends: the same deliberation scenarios against
// `scripted` agents and against `vllm` agents talking to the project's own
// OpenAI-compatible stub server, through the real ORCHESTRATOR.

#include <cstdio>
#include <fstream>
#include <set>

#include <unistd.h>

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include "actors/process_runner.hpp"
#include "actors/scorer.hpp"
#include "llm_fixture.hpp"
#include "runtime/supervisor.hpp"

using namespace orch;
using namespace orch::test;
using namespace std::chrono_literals;

namespace {

/// The service wired as in production, with one backend for every council.
template<bool UseLlm>
struct backend_fixture : llm_fixture {
  static constexpr const char* backend = UseLlm ? "vllm" : "scripted";
  orch::config conf;
  service svc;

  backend_fixture() {
    conf.agent_type = backend;
    conf.vllm_url = stub.url();
    conf.vllm_timeout = 5;
    conf.councils = {{"DEV", 3}, {"QA", 5}};
    auto s = start_service(sys, conf);
    BOOST_REQUIRE_MESSAGE(s, why(s));
    svc = std::move(*s);
  }

  ~backend_fixture() {
    stop_service(sys, svc);
  }

  caf::expected<deliberation_outcome> run(atom::deliberate, task_spec t) {
    return ask<deliberation_outcome>(30s, svc.orchestrator, atom::deliberate_v,
                                     std::move(t), progress_listener_actor{});
  }

  caf::expected<deliberation_outcome> run(atom::orchestrate, task_spec t) {
    return ask<deliberation_outcome>(30s, svc.orchestrator, atom::orchestrate_v,
                                     std::move(t), progress_listener_actor{});
  }

  /// Calls the agents made for one deliberation of `n` agents, `r` rounds.
  static int32_t calls(int32_t n, int32_t r) {
    return n * (1 + 2 * r);
  }
};

using scripted_backend = backend_fixture<false>;
using vllm_backend = backend_fixture<true>;
using backends = boost::mpl::list<scripted_backend, vllm_backend>;

task_spec task(std::string role, int32_t rounds) {
  task_spec t;
  t.task_id = "contract-" + role + "-" + std::to_string(rounds);
  t.role = std::move(role);
  t.description = "Implement the password reset flow";
  t.constraints.rubric = "Secure, maintainable implementation with tests";
  t.constraints.requirements = {"token expiry", "rate limiting"};
  t.constraints.rounds = rounds;
  return t;
}

} // namespace

BOOST_AUTO_TEST_SUITE(council_contract)

BOOST_AUTO_TEST_CASE_TEMPLATE(ranked_results_one_per_agent, F, backends) {
  F f;
  auto out = f.run(atom::deliberate_v, task("DEV", 1));
  BOOST_REQUIRE_MESSAGE(out, why(out));
  BOOST_REQUIRE_EQUAL(out->results.size(), 3u);
  std::set<std::string> authors;
  std::set<std::string> contents;
  for (size_t i = 0; i < out->results.size(); ++i) {
    auto& r = out->results[i];
    BOOST_CHECK_EQUAL(r.rank, static_cast<int32_t>(i + 1));
    if (i > 0)
      BOOST_CHECK_GE(out->results[i - 1].score, r.score);
    BOOST_CHECK_EQUAL(r.proposal.author_role, "DEV");
    // Generated once per agent: every proposal is its author's first.
    BOOST_CHECK_EQUAL(r.proposal.id, r.proposal.author_id + "/1");
    authors.insert(r.proposal.author_id);
    contents.insert(r.proposal.content);
  }
  BOOST_CHECK_EQUAL(authors.size(), 3u);
  BOOST_CHECK_EQUAL(contents.size(), 3u);
  BOOST_CHECK_EQUAL(out->winner_id, out->results[0].proposal.author_id);
  BOOST_CHECK(out->failed_agents.empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rounds_drive_revisions, F, backends) {
  F f;
  for (int32_t rounds : {0, 2}) {
    auto out = f.run(atom::deliberate_v, task("DEV", rounds));
    BOOST_REQUIRE_MESSAGE(out, why(out));
    for (auto& r : out->results) {
      BOOST_CHECK_EQUAL(r.proposal.revisions.size(),
                        static_cast<size_t>(rounds));
      if (rounds > 0)
        BOOST_CHECK_NE(r.proposal.content, r.proposal.revisions.front());
    }
    if (std::string{F::backend} == "vllm")
      BOOST_CHECK_EQUAL(out->usage.calls, F::calls(3, rounds));
    else
      BOOST_CHECK_EQUAL(out->usage.calls, 0);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(architect_picks_within_top_k, F, backends) {
  F f;
  auto t = task("QA", 1);
  t.constraints.k = 2;
  auto out = f.run(atom::orchestrate_v, t);
  BOOST_REQUIRE_MESSAGE(out, why(out));
  BOOST_REQUIRE_EQUAL(out->results.size(), 5u);
  auto top2 = {out->results[0].proposal.author_id,
               out->results[1].proposal.author_id};
  BOOST_CHECK(std::find(top2.begin(), top2.end(), out->winner_id)
              != top2.end());
  BOOST_CHECK(!out->rationale.empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(bad_requests_are_rejected, F, backends) {
  F f;
  auto unknown = f.run(atom::deliberate_v, task("DATA", 1));
  BOOST_REQUIRE(!unknown);
  BOOST_CHECK(code_of(unknown.error()) == ec::not_found);
  auto blank = task("DEV", 1);
  blank.description = " ";
  auto out = f.run(atom::deliberate_v, blank);
  BOOST_REQUIRE(!out);
  BOOST_CHECK(code_of(out.error()) == ec::invalid_argument);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_count_deliberations_and_usage, F,
                              backends) {
  F f;
  BOOST_REQUIRE(f.run(atom::deliberate_v, task("DEV", 1)));
  BOOST_REQUIRE(f.run(atom::orchestrate_v, task("QA", 0)));
  auto st = f.template ask<orchestrator_stats>(5s, f.svc.orchestrator,
                                               atom::stats_v);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  BOOST_CHECK_EQUAL(st->total_deliberations, 2);
  BOOST_CHECK_EQUAL(st->total_orchestrations, 1);
  BOOST_CHECK_EQUAL(st->role_counts["DEV"], 1);
  BOOST_CHECK_EQUAL(st->role_counts["QA"], 1);
  auto expected_calls
    = std::string{F::backend} == "vllm" ? F::calls(3, 1) + F::calls(5, 0) : 0;
  BOOST_CHECK_EQUAL(st->usage.calls, expected_calls);
  if (expected_calls > 0) {
    BOOST_CHECK_GT(st->usage.prompt_tokens, 0);
    BOOST_CHECK_GT(st->usage.completion_tokens, 0);
  }
}

// The configuration `bench/deliberation --mode engine` measures: brief
// `scripted` agents and the SCORER's trivial profile, set as a user would.
BOOST_FIXTURE_TEST_CASE(brief_agents_and_trivial_checks_deliberate,
                        llm_fixture) {
  auto rules = "/tmp/orch-test-trivial-" + std::to_string(getpid()) + ".yaml";
  std::ofstream{rules} << "profile: trivial\n";
  orch::config conf;
  conf.scorer_rules = rules;
  conf.councils = {{"DEV", 3, {{"style", "brief"}}}};
  auto s = start_service(sys, conf);
  std::remove(rules.c_str());
  BOOST_REQUIRE_MESSAGE(s, why(s));
  auto t = task("DEV", 1);
  auto out = ask<deliberation_outcome>(30s, s->orchestrator,
                                       atom::deliberate_v, t,
                                       progress_listener_actor{});
  BOOST_REQUIRE_MESSAGE(out, why(out));
  BOOST_REQUIRE_EQUAL(out->results.size(), 3u);
  for (size_t i = 0; i < out->results.size(); ++i) {
    auto& r = out->results[i];
    BOOST_CHECK_EQUAL(r.proposal.content, r.proposal.author_id
                                            + ": solution for " + t.task_id
                                            + " (revised)");
    BOOST_REQUIRE_EQUAL(r.checks.additional.size(), 3u);
    BOOST_CHECK_EQUAL(r.checks.additional[0].check_type, "names_task");
    BOOST_CHECK(r.checks.all_passed);
    BOOST_CHECK_EQUAL(r.score, r.checks.score);
    if (i > 0)
      BOOST_CHECK_GE(out->results[i - 1].score, r.score);
  }
  stop_service(sys, *s);
  // A style the scripted backend does not have stops start-up.
  orch::config bad;
  bad.councils = {{"DEV", 3, {{"style", "fancy"}}}};
  auto failed = start_service(sys, bad);
  BOOST_REQUIRE(!failed);
  BOOST_CHECK_MESSAGE(render(failed.error()).find("style 'fancy'")
                        != std::string::npos,
                      render(failed.error()));
}

BOOST_AUTO_TEST_SUITE_END()
