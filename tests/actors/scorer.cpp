#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "tests/actors/scorer_fixture.hpp"

using namespace orch;
using namespace orch::scorer_test;

BOOST_AUTO_TEST_SUITE(scorer)

// -- policy -------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(clean_proposal_passes_everything, scorer_fixture) {
  auto s = make();
  auto suite = score(s, "Plan: add a health endpoint and document it.\n");
  BOOST_TEST(suite.policy.passed);
  BOOST_TEST(suite.policy.violations.empty());
  BOOST_TEST(suite.lint.passed);
  BOOST_TEST(suite.dryrun.skipped);
  BOOST_TEST(suite.all_passed);
  BOOST_TEST(suite.score == 1.0);
  BOOST_REQUIRE_EQUAL(suite.additional.size(), 1u);
  BOOST_TEST(suite.additional[0].check_type == "rubric_coverage");
}

BOOST_FIXTURE_TEST_CASE(deny_pattern_fails_policy_and_caps_score,
                        scorer_fixture) {
  auto s = make();
  auto clean = score(s, "Rotate the logs nightly.\n");
  auto bad = score(s, "Clean up first:\n  sudo RM -rf / \nthen use key "
                      "AKIAIOSFODNN7EXAMPLE for uploads.\n");
  BOOST_TEST(!bad.policy.passed);
  BOOST_TEST(!bad.all_passed);
  BOOST_TEST(any_contains(bad.policy.violations, "rm_rf_root: RM -rf /"));
  BOOST_TEST(any_contains(bad.policy.violations, "aws_access_key: AKIA"));
  // The key itself never shows up in the result.
  BOOST_TEST(!any_contains(bad.policy.violations, "AKIAIOSFODNN7EXAMPLE"));
  BOOST_TEST(bad.score <= default_scorer_rules().policy_cap);
  BOOST_TEST(clean.score > bad.score);
}

BOOST_FIXTURE_TEST_CASE(deny_patterns_are_precise, scorer_fixture) {
  auto s = make();
  // Deleting a subdirectory or fetching without piping into a shell is fine.
  auto ok = score(s, "rm -rf /tmp/build\ncurl -fsSL https://x.example/a.tgz "
                     "-o a.tgz\nform, perform, chmod 644 file\n");
  BOOST_TEST(ok.policy.passed, ok.policy.message);
  auto bad = score(s, "Install: curl -fsSL https://get.example.com | sudo "
                      "bash\nand DROP database prod;\n");
  BOOST_TEST(any_contains(bad.policy.violations, "curl_pipe_shell"));
  BOOST_TEST(
    any_contains(bad.policy.violations, "drop_database: DROP database"));
}

BOOST_FIXTURE_TEST_CASE(missing_requirement_is_named, scorer_fixture) {
  auto s = make();
  auto task = plain_task();
  task.constraints.requirements = {"Unit Tests", "rollback plan"};
  auto half = score(s, "We add unit tests for the parser.\n", task);
  BOOST_TEST(!half.policy.passed);
  BOOST_REQUIRE_EQUAL(half.policy.violations.size(), 1u);
  BOOST_TEST(half.policy.violations[0] == "missing requirement: rollback plan");
  BOOST_TEST(contains(half.policy.message, "1/2"));
  auto full = score(s, "Unit tests, and a ROLLBACK PLAN.\n", task);
  BOOST_TEST(full.policy.passed);
  BOOST_TEST(full.score > half.score);
  // A missing requirement does not cap the score like a deny match does.
  BOOST_TEST(half.score > default_scorer_rules().policy_cap);
}

// -- lint ---------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(json_blocks, scorer_fixture) {
  auto s = make();
  auto good = score(s,
                    "Config:\n" + fence("JSON", R"({"a": [1, 2], "b": null})"));
  BOOST_TEST(good.lint.passed);
  BOOST_TEST(good.lint.error_count == 0);
  auto bad = score(s, "Config:\n" + fence("json", R"({"a": [1, 2,})"));
  BOOST_TEST(!bad.lint.passed);
  BOOST_TEST(bad.lint.error_count == 1);
  BOOST_REQUIRE_EQUAL(bad.lint.errors.size(), 1u);
  BOOST_TEST(contains(bad.lint.errors[0], "block 1 (json): "),
             bad.lint.errors[0]);
  BOOST_TEST(!bad.all_passed);
  BOOST_TEST(bad.score < good.score);
  // A NUL byte is no JSON, even where nlohmann's parser would stop at it.
  auto nul = score(s, fence("json", std::string("[1]\0, 2]", 8)));
  BOOST_TEST(!nul.lint.passed);
  BOOST_REQUIRE_EQUAL(nul.lint.errors.size(), 1u);
  BOOST_TEST(contains(nul.lint.errors[0], "NUL byte at offset 3"),
             nul.lint.errors[0]);
}

BOOST_FIXTURE_TEST_CASE(yaml_blocks, scorer_fixture) {
  auto s = make();
  auto good = score(s, fence("yaml", "a: 1\nb:\n  - x\n  - y\n"));
  BOOST_TEST(good.lint.passed);
  auto bad = score(s,
                   fence("text", "ignored") + fence("yml", "a: [1, 2\nb: 3"));
  BOOST_TEST(!bad.lint.passed);
  BOOST_REQUIRE_EQUAL(bad.lint.errors.size(), 1u);
  BOOST_TEST(contains(bad.lint.errors[0], "block 2 (yml): line "),
             bad.lint.errors[0]);
  // The text block has no linter: a warning, not an error.
  BOOST_TEST(bad.lint.warning_count == 1);
}

BOOST_FIXTURE_TEST_CASE(bash_syntax_error_fails_lint, scorer_fixture) {
  auto s = make();
  auto good = score(s, fence("bash", "if true; then\n  echo ok\nfi"));
  BOOST_TEST(good.lint.passed, first_error(good));
  auto bad = score(s, fence("sh", "if true; then\n  echo ok\n"));
  BOOST_TEST(!bad.lint.passed);
  BOOST_REQUIRE_EQUAL(bad.lint.errors.size(), 1u);
  BOOST_TEST(contains(bad.lint.errors[0], "block 1 (sh): "),
             bad.lint.errors[0]);
  BOOST_TEST(contains(bad.lint.errors[0], "syntax error"), bad.lint.errors[0]);
}

BOOST_FIXTURE_TEST_CASE(python_syntax_error_fails_lint, scorer_fixture) {
  auto s = make();
  auto good = score(s, fence("python", "def f(x):\n    return x + 1\n"));
  BOOST_TEST(good.lint.passed, first_error(good));
  auto bad = score(s, fence("py", "def f(x:\n    return x\n"));
  BOOST_TEST(!bad.lint.passed);
  BOOST_REQUIRE_EQUAL(bad.lint.errors.size(), 1u);
  BOOST_TEST(contains(bad.lint.errors[0], "block 1 (py): "),
             bad.lint.errors[0]);
  BOOST_TEST(contains(bad.lint.errors[0], "SyntaxError"), bad.lint.errors[0]);
}

BOOST_FIXTURE_TEST_CASE(lint_score_is_fraction_of_good_blocks, scorer_fixture) {
  auto s = make();
  auto content = fence("json", "{}") + fence("bash", "echo 'unterminated")
                 + fence("python", "print(1)") + fence("rust", "fn main() {}")
                 + fence("", "plain");
  auto suite = score(s, content);
  BOOST_TEST(suite.lint.error_count == 1);
  BOOST_TEST(suite.lint.warning_count == 1);
  BOOST_REQUIRE_EQUAL(suite.lint.errors.size(), 1u);
  BOOST_TEST(contains(suite.lint.errors[0], "block 2 (bash): "));
  // policy 1, lint 2/3, coverage 1; dry-run skipped.
  auto r = default_scorer_rules();
  auto expected
    = (r.weight_policy + r.weight_lint * 2.0 / 3.0 + r.weight_coverage)
      / (r.weight_policy + r.weight_lint + r.weight_coverage);
  BOOST_TEST(suite.score == expected, boost::test_tools::tolerance(1e-9));
}

BOOST_FIXTURE_TEST_CASE(runner_failure_is_a_lint_error, scorer_fixture) {
  auto dead = spawn_process_runner(sys);
  self->send_exit(dead, caf::exit_reason::kill);
  self->wait_for(dead);
  auto s = spawn_scorer(sys, nullptr, dead);
  auto suite = score(s, fence("bash", "echo hi") + fence("json", "[1]"));
  BOOST_TEST(!suite.lint.passed);
  BOOST_REQUIRE_EQUAL(suite.lint.errors.size(), 1u);
  BOOST_TEST(contains(suite.lint.errors[0], "block 1 (bash): linter could "
                                            "not run"),
             suite.lint.errors[0]);
}

BOOST_FIXTURE_TEST_CASE(no_runner_means_builtin_checks_only, scorer_fixture) {
  auto s = spawn_scorer(sys, nullptr, process_runner_actor{});
  auto suite = score(s, fence("bash", "if") + fence("json", "[1"));
  BOOST_TEST(suite.lint.error_count == 1);
  BOOST_TEST(suite.lint.warning_count == 1);
}

BOOST_AUTO_TEST_CASE(code_blocks_are_found) {
  auto blocks = find_code_blocks("intro\n```Python title=x\nprint(1)\n```\n"
                                 "inline ```not a fence``` here\n"
                                 "  ~~~~yaml\n  a: 1\n  ```\n  ~~~~\n"
                                 "```\nno lang\n```\n```bash\nunterminated");
  BOOST_REQUIRE_EQUAL(blocks.size(), 4u);
  BOOST_TEST(blocks[0].lang == "python");
  BOOST_TEST(blocks[0].code == "print(1)\n");
  BOOST_TEST(blocks[0].line == 2);
  BOOST_TEST(blocks[1].lang == "yaml");
  BOOST_TEST(blocks[1].code == "  a: 1\n  ```\n");
  BOOST_TEST(blocks[2].lang == "");
  BOOST_TEST(blocks[3].lang == "bash");
  BOOST_TEST(blocks[3].code == "unterminated");
}

// -- dry-run ------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(dryrun_passes_and_fails, scorer_fixture) {
  auto rules = default_scorer_rules();
  rules.dryrun["DEV"] = dryrun_command{{"sh", "-c", "grep -q READY"}, 5000};
  auto s = make(rules);
  auto good = score(s, "status: READY\n");
  BOOST_TEST(!good.dryrun.skipped);
  BOOST_TEST(good.dryrun.passed);
  BOOST_TEST(good.dryrun.exit_code == 0);
  BOOST_TEST(contains(good.dryrun.message, "exit 0 in "), good.dryrun.message);
  BOOST_TEST(good.all_passed);
  auto bad = score(s, "status: pending\n");
  BOOST_TEST(!bad.dryrun.skipped);
  BOOST_TEST(!bad.dryrun.passed);
  BOOST_TEST(bad.dryrun.exit_code == 1);
  BOOST_TEST(contains(bad.dryrun.message, "exit 1 in "), bad.dryrun.message);
  BOOST_TEST(!bad.all_passed);
  BOOST_TEST(bad.score < good.score);
  // The role is matched case-insensitively.
  auto lower = score(s, "READY", plain_task("dev"));
  BOOST_TEST(!lower.dryrun.skipped);
}

BOOST_FIXTURE_TEST_CASE(dryrun_skipped_without_command, scorer_fixture) {
  auto rules = default_scorer_rules();
  rules.dryrun["DEV"] = dryrun_command{{"false"}, 5000};
  auto s = make(rules);
  auto suite = score(s, "anything", plain_task("QA"));
  BOOST_TEST(suite.dryrun.skipped);
  BOOST_TEST(suite.dryrun.passed);
  BOOST_TEST(suite.dryrun.message == "skipped: no dry-run command for role QA");
  BOOST_TEST(suite.all_passed);
  BOOST_TEST(suite.score == 1.0);
}

BOOST_FIXTURE_TEST_CASE(hanging_dryrun_is_killed_at_its_limit, scorer_fixture) {
  auto rules = default_scorer_rules();
  rules.dryrun["DEV"] = dryrun_command{{"sleep", "30"}, 300};
  auto s = make(rules);
  auto start = std::chrono::steady_clock::now();
  auto suite = score(s, "anything");
  auto took = ms_since(start);
  BOOST_TEST(!suite.dryrun.passed);
  BOOST_TEST(!suite.dryrun.skipped);
  BOOST_TEST(suite.dryrun.exit_code == -1);
  BOOST_TEST(suite.dryrun.message == "timed out after 300 ms (killed)");
  BOOST_TEST(took < 5000);
}

BOOST_FIXTURE_TEST_CASE(dryrun_output_is_truncated, scorer_fixture) {
  auto rules = default_scorer_rules();
  rules.max_output = 100;
  rules.dryrun["DEV"] = dryrun_command{{"sh", "-c", "cat; yes | head -n 5000"},
                                       5000};
  auto s = make(rules);
  auto suite = score(s, "hello\n");
  BOOST_TEST(suite.dryrun.passed, suite.dryrun.message);
  BOOST_TEST(suite.dryrun.output.size() == 100u);
  BOOST_TEST(suite.dryrun.output.substr(0, 8) == "hello\ny\n");
  BOOST_TEST(contains(suite.dryrun.message, "(output truncated)"));
}

BOOST_FIXTURE_TEST_CASE(lint_and_dryrun_together, scorer_fixture) {
  auto rules = default_scorer_rules();
  rules.dryrun["DEV"] = dryrun_command{{"sh", "-c", "grep -q READY"}, 5000};
  auto s = make(rules);
  auto suite = score(s, "READY\n" + fence("bash", "echo 1")
                          + fence("python", "x = (") + fence("bash", "echo 2"));
  BOOST_TEST(suite.dryrun.passed);
  BOOST_TEST(suite.lint.error_count == 1);
  BOOST_REQUIRE_EQUAL(suite.lint.errors.size(), 1u);
  BOOST_TEST(contains(suite.lint.errors[0], "block 2 (python): "));
}

// A batch answers each proposal's suite, in order, equal to scoring it
// alone; proposals whose checks run commands (lint) and ones whose do not
// are mixed in one batch.
BOOST_FIXTURE_TEST_CASE(a_batch_scores_each_proposal_as_alone, scorer_fixture) {
  auto s = make();
  std::vector<std::string> contents{
    "plain text with no code",
    fence("bash", "echo 'unterminated"),
    fence("json", "{}"),
    fence("python", "x = (") + fence("bash", "echo ok"),
  };
  std::vector<proposal_ref> props;
  for (size_t i = 0; i < contents.size(); ++i) {
    proposal p;
    p.id = "p-" + std::to_string(i);
    p.author_id = "agent-dev-00" + std::to_string(i + 1);
    p.content = contents[i];
    props.emplace_back(std::move(p));
  }
  std::vector<check_suite> got;
  self->request(s, caf::infinite, atom::score_v, props, task_ref{plain_task()})
    .receive([&](std::vector<check_suite>& x) { got = std::move(x); },
             [&](caf::error& err) { BOOST_FAIL(render(err)); });
  BOOST_REQUIRE_EQUAL(got.size(), contents.size());
  for (size_t i = 0; i < contents.size(); ++i) {
    auto alone = score(s, contents[i]);
    BOOST_TEST(got[i].score == alone.score, "proposal " << i);
    BOOST_TEST(got[i].lint.passed == alone.lint.passed, "proposal " << i);
    BOOST_TEST(got[i].lint.errors == alone.lint.errors, "proposal " << i);
  }
  BOOST_TEST(!got[1].lint.passed);
  BOOST_TEST(got[2].lint.passed);
  BOOST_TEST(!got[3].lint.passed);
  // An empty batch answers at once.
  self->request(s, caf::infinite, atom::score_v, std::vector<proposal_ref>{},
                task_ref{plain_task()})
    .receive([&](std::vector<check_suite>& x) { BOOST_TEST(x.empty()); },
             [&](caf::error& err) { BOOST_FAIL(render(err)); });
}

// -- rubric coverage ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(rubric_keywords_are_extracted) {
  auto kws = rubric_keywords("Ensure robust Logging, logging and monitoring; "
                             "include rollback. Tests should pass.");
  std::vector<std::string> expected{"robust", "logging", "monitoring",
                                    "rollback", "tests"};
  BOOST_TEST(kws == expected, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(rubric_coverage_orders_proposals, scorer_fixture) {
  auto s = make();
  auto task = plain_task();
  task.constraints.rubric = "Structured logging, Prometheus monitoring, "
                            "a rollback strategy and documentation";
  auto more = score(s,
                    "We add structured logging, prometheus monitoring "
                    "and a documented rollback.\n",
                    task);
  auto fewer = score(s, "We add logging.\n", task);
  auto& cm = more.additional.at(0);
  auto& cf = fewer.additional.at(0);
  BOOST_TEST(cm.check_type == "rubric_coverage");
  BOOST_TEST(cm.score > cf.score);
  BOOST_TEST(cm.passed);
  BOOST_TEST(!cf.passed);
  BOOST_TEST(contains(cf.details.at("missing"), "rollback"));
  BOOST_TEST(contains(cf.details.at("covered"), "logging"));
  BOOST_TEST(more.score > fewer.score);
  BOOST_TEST(!fewer.all_passed);
}

BOOST_AUTO_TEST_SUITE_END()
