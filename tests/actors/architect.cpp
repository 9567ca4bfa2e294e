#include <boost/test/unit_test.hpp>

#include "actors/architect.hpp"
#include "fixture.hpp"

using namespace orch;
using namespace orch::test;

namespace {

deliberation_result result(std::string author, double score, int32_t rank,
                           bool policy = true) {
  deliberation_result r;
  r.proposal.author_id = std::move(author);
  r.score = score;
  r.checks.score = score;
  r.rank = rank;
  r.checks.policy.passed = policy;
  if (!policy)
    r.checks.policy.violations = {"secret: AKIA"};
  return r;
}

std::vector<deliberation_result> five() {
  return {result("a1", 0.95, 1), result("a2", 0.90, 2), result("a3", 0.85, 3),
          result("a4", 0.80, 4), result("a5", 0.70, 5)};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(architect, deterministic_fixture)

BOOST_AUTO_TEST_CASE(k2_picks_within_the_top_two) {
  // The best score sits at rank 3 (ranks came from another criterion), so a
  // k of 2 must not reach it.
  std::vector<deliberation_result> xs{
    result("a1", 0.80, 1), result("a2", 0.85, 2), result("a3", 0.99, 3)};
  constraints c;
  c.k = 2;
  auto sel = unbox(select_rule_based(xs, c));
  BOOST_CHECK_EQUAL(sel.winner_id, "a2");
  BOOST_REQUIRE_EQUAL(sel.considered.size(), 2u);
  BOOST_CHECK_EQUAL(sel.considered[0], "a1");
  BOOST_CHECK_EQUAL(sel.considered[1], "a2");
  BOOST_CHECK_EQUAL(sel.mode, "rule");
}

BOOST_AUTO_TEST_CASE(default_k_is_three_of_five) {
  auto xs = five();
  xs[2].score = 0.97; // rank 3 has the best score within the top 3
  xs[4].score = 0.99; // rank 5 is out of reach
  constraints c; // k = 3 by default
  auto sel = unbox(select_rule_based(xs, c));
  BOOST_CHECK_EQUAL(sel.winner_id, "a3");
  BOOST_CHECK_EQUAL(sel.considered.size(), 3u);
  BOOST_CHECK_NE(sel.rationale.find("top 3 of 5"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(ties_are_broken_deterministically) {
  std::vector<deliberation_result> xs{result("b", 0.9, 1, false),
                                      result("c", 0.9, 2), result("a", 0.9, 3)};
  xs[1].checks.lint.passed = false;
  constraints c;
  auto sel = unbox(select_rule_based(xs, c));
  // "a" passes all checks; "b" fails policy, "c" fails lint. Both "b" and
  // "c" have 2/3 checks, so "a" wins on checks passed.
  BOOST_CHECK_EQUAL(sel.winner_id, "a");
  BOOST_CHECK_NE(sel.rationale.find("ties broken"), std::string::npos);
  // Same input, same answer.
  BOOST_CHECK_EQUAL(unbox(select_rule_based(xs, c)).winner_id, "a");
}

BOOST_AUTO_TEST_CASE(no_results_is_an_error) {
  auto sel = select_rule_based({}, constraints{});
  BOOST_REQUIRE(!sel);
  BOOST_CHECK(code_of(sel.error()) == ec::invalid_argument);
}

BOOST_AUTO_TEST_CASE(actor_answers_select) {
  auto arch = spawn_architect(sys);
  auto sel = unbox(ask<selection>(arch, atom::select_v, five(), constraints{}));
  BOOST_CHECK_EQUAL(sel.winner_id, "a1");
  BOOST_CHECK_NE(sel.rationale.find("Selected a1"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
