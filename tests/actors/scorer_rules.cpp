#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/actors/scorer_fixture.hpp"

using namespace orch;
using namespace orch::scorer_test;

namespace {

/// The rules file shipped in config/.
std::string example_rules_path() {
  auto here = std::filesystem::path{__FILE__}.parent_path();
  return (here / ".." / ".." / "config" / "scorer-rules.yaml").string();
}

/// The rendered error of `x`, or an empty string when it holds a value.
template<class T>
std::string error_text(const caf::expected<T>& x) {
  return x ? std::string{} : render(x.error());
}

caf::error rules_error(const std::string& yaml) {
  auto res = parse_scorer_rules(yaml, "/x.yaml");
  if (res)
    return caf::error{};
  return res.error();
}

} // namespace

BOOST_AUTO_TEST_SUITE(scorer_rules)

// -- rules files --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(example_file_equals_defaults) {
  auto loaded = load_scorer_rules(example_rules_path());
  BOOST_REQUIRE_MESSAGE(loaded, error_text(loaded));
  auto defaults = default_scorer_rules();
  BOOST_REQUIRE_EQUAL(loaded->deny.size(), defaults.deny.size());
  for (size_t i = 0; i < defaults.deny.size(); ++i) {
    BOOST_TEST(loaded->deny[i].name == defaults.deny[i].name);
    BOOST_TEST(loaded->deny[i].pattern == defaults.deny[i].pattern);
    BOOST_TEST(loaded->deny[i].regex == defaults.deny[i].regex);
  }
  BOOST_REQUIRE_EQUAL(loaded->linters.size(), defaults.linters.size());
  for (auto& [lang, cmd] : defaults.linters)
    BOOST_TEST(loaded->linters.at(lang).argv == cmd.argv,
               boost::test_tools::per_element());
  BOOST_TEST(loaded->dryrun.empty());
  BOOST_TEST(loaded->weight_policy == defaults.weight_policy);
  BOOST_TEST(loaded->weight_lint == defaults.weight_lint);
  BOOST_TEST(loaded->weight_dryrun == defaults.weight_dryrun);
  BOOST_TEST(loaded->weight_coverage == defaults.weight_coverage);
  BOOST_TEST(loaded->policy_cap == defaults.policy_cap);
  BOOST_TEST(loaded->lint_timeout_ms == defaults.lint_timeout_ms);
  BOOST_TEST(loaded->max_output == defaults.max_output);
  BOOST_TEST(loaded->profile == defaults.profile);
  BOOST_TEST(!validate_scorer_rules(defaults, "(defaults)"));
}

BOOST_AUTO_TEST_CASE(rules_yaml_values_are_read) {
  auto rules = parse_scorer_rules(R"(
weights: {policy: 1, lint: 0, dryrun: 2, coverage: 0.5}
policy_cap: 0.1
deny:
  - name: todo
    pattern: TODO
  - pattern: 'v[0-9]+\.beta'
    regex: true
linters:
  Ruby: [ruby, -c]
dryrun:
  devops: {argv: [sh, -c, "exit 0"], timeout_ms: 2500}
  qa: [true]
)",
                                  "inline");
  BOOST_REQUIRE_MESSAGE(rules, error_text(rules));
  BOOST_TEST(rules->weight_policy == 1.0);
  BOOST_TEST(rules->weight_lint == 0.0);
  BOOST_TEST(rules->weight_dryrun == 2.0);
  BOOST_TEST(rules->policy_cap == 0.1);
  BOOST_REQUIRE_EQUAL(rules->deny.size(), 2u);
  BOOST_TEST(rules->deny[1].name == "v[0-9]+\\.beta");
  BOOST_TEST(rules->deny[1].regex);
  BOOST_REQUIRE_EQUAL(rules->linters.count("ruby"), 1u);
  BOOST_TEST(rules->dryrun.at("DEVOPS").timeout_ms == 2500);
  BOOST_TEST(rules->dryrun.at("QA").argv.at(0) == "true");
  BOOST_TEST(rules->lint_timeout_ms == 5000); // default kept
}

BOOST_FIXTURE_TEST_CASE(loaded_regex_rule_matches_any_case, scorer_fixture) {
  auto rules = parse_scorer_rules("deny:\n  - name: beta\n    pattern: "
                                  "'Release v[0-9]+\\.BETA'\n    regex: true\n",
                                  "inline");
  BOOST_REQUIRE_MESSAGE(rules, error_text(rules));
  auto s = make(*rules);
  auto hit = score(s, "ship RELEASE V12.beta now");
  BOOST_TEST(any_contains(hit.policy.violations, "beta: RELEASE V12.beta"));
  auto miss = score(s, "ship release v12 now");
  BOOST_TEST(miss.policy.passed);
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_named) {
  auto err = rules_error("denny:\n  - pattern: x\n");
  BOOST_REQUIRE(err);
  BOOST_TEST((code_of(err) == ec::invalid_config));
  BOOST_TEST(contains(render(err), "scorer rules /x.yaml: denny: unknown key"),
             render(err));
  err = rules_error("deny:\n  - pattern: x\n    regexp: true\n");
  BOOST_TEST(contains(render(err), "deny[0].regexp: unknown key"), render(err));
  err = rules_error("weights:\n  lints: 1\n");
  BOOST_TEST(contains(render(err), "weights.lints: unknown key"), render(err));
}

BOOST_AUTO_TEST_CASE(bad_regex_is_named) {
  auto err = rules_error("deny:\n  - name: a\n    pattern: ok\n"
                         "  - name: b\n    pattern: '(unclosed'\n"
                         "    regex: true\n");
  BOOST_REQUIRE(err);
  BOOST_TEST((code_of(err) == ec::invalid_config));
  BOOST_TEST(contains(render(err),
                      "scorer rules /x.yaml: deny[1].pattern: invalid regex: "),
             render(err));
}

BOOST_AUTO_TEST_CASE(bad_values_are_named) {
  auto check = [](const std::string& yaml, const std::string& needle) {
    auto err = rules_error(yaml);
    BOOST_TEST_REQUIRE(static_cast<bool>(err), yaml);
    BOOST_TEST((code_of(err) == ec::invalid_config));
    BOOST_TEST(contains(render(err), needle), render(err));
  };
  check("policy_cap: 3\n", "policy_cap: must be between 0 and 1");
  check("policy_cap: high\n", "policy_cap: expected a number");
  check("weights: {policy: -1}\n", "weights.policy: must be a finite number");
  check("lint_timeout_ms: 0\n", "lint_timeout_ms: must be > 0");
  check("linters:\n  json: [jq, .]\n", "linters.json: JSON and YAML");
  check("linters:\n  bash: []\n", "linters.bash: the command must not be");
  check("linters:\n  bash: bash -n\n", "linters.bash: expected a command");
  check("dryrun:\n  dev: {argv: [x], timeout_ms: -5}\n",
        "dryrun.DEV.timeout_ms: must be > 0");
  check("deny:\n  - name: x\n", "deny[0].pattern: missing");
  check("deny: [a, [b]]\n", "deny[1]: expected {name, pattern, regex}");
  check("- a\n- b\n", "(top level): expected a mapping");
  check("deny: [a\n", "invalid YAML");
}

BOOST_AUTO_TEST_CASE(missing_file_is_named) {
  auto res = load_scorer_rules("/nonexistent/rules.yaml");
  BOOST_REQUIRE(!res);
  BOOST_TEST((code_of(res.error()) == ec::invalid_config));
  BOOST_TEST(contains(render(res.error()), "/nonexistent/rules.yaml"));
}

// -- trivial profile ----------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(trivial_profile_runs_three_cheap_checks,
                        scorer_fixture) {
  auto rules = parse_scorer_rules("profile: trivial\n", "inline");
  BOOST_REQUIRE_MESSAGE(rules, error_text(rules));
  BOOST_TEST(rules->profile == "trivial");
  auto s = make(*rules);
  auto type_of = [](const check_suite& x, size_t i) {
    return x.additional.at(i).check_type;
  };
  // Names its task, short: both rules pass; the hash gives the rest.
  auto good = score(s, "agent-1: solution for task-1");
  BOOST_REQUIRE_EQUAL(good.additional.size(), 3u);
  BOOST_TEST(type_of(good, 0) == "names_task");
  BOOST_TEST(type_of(good, 1) == "length");
  BOOST_TEST(type_of(good, 2) == "hash");
  BOOST_TEST(good.all_passed);
  auto h = good.additional[2].score;
  BOOST_TEST((h >= 0.0 && h <= 1.0));
  BOOST_TEST(good.score == (2.0 + h) / 3.0,
             boost::test_tools::tolerance(1e-12));
  // The same text scores the same; another text hashes elsewhere.
  BOOST_TEST(score(s, "agent-1: solution for task-1").score == good.score);
  auto other = score(s, "agent-2: solution for task-1");
  BOOST_TEST(other.additional[2].score != h);
  // Not naming the task fails the substring test; a deny pattern of the full
  // checks does not apply.
  auto unnamed = score(s, "agent-1: solution. password=hunter2");
  BOOST_TEST(!unnamed.additional[0].passed);
  BOOST_TEST(unnamed.additional[1].passed);
  BOOST_TEST(!unnamed.all_passed);
  BOOST_TEST(unnamed.policy.passed);
  BOOST_TEST(unnamed.score
               == (1.0 + unnamed.additional[2].score) / 3.0,
             boost::test_tools::tolerance(1e-12));
  // Longer than 4096 bytes fails the rule on length.
  auto longer = score(s, "task-1 " + std::string(4096, 'x'));
  BOOST_TEST(longer.additional[0].passed);
  BOOST_TEST(!longer.additional[1].passed);
  BOOST_TEST(!longer.all_passed);
}

BOOST_AUTO_TEST_CASE(unknown_profile_is_named) {
  auto err = rules_error("profile: fast\n");
  BOOST_REQUIRE(err);
  BOOST_TEST((code_of(err) == ec::invalid_config));
  BOOST_TEST(contains(render(err),
                      "scorer rules /x.yaml: profile: must be full or trivial, "
                      "got \"fast\""),
             render(err));
  BOOST_TEST(default_scorer_rules().profile == "full");
}

BOOST_AUTO_TEST_CASE(empty_file_gives_defaults) {
  auto res = parse_scorer_rules("# nothing\n", "inline");
  BOOST_REQUIRE(res);
  BOOST_TEST(res->deny.size() == default_scorer_rules().deny.size());
}

BOOST_AUTO_TEST_SUITE_END()
