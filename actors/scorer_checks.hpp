#pragma once

// The SCORER's checks: its rules compiled for matching, the matcher of one
// task's deny patterns, requirements and rubric keywords, and the checks of
// one proposal (policy, lint, dry-run, rubric coverage) with its score.
// Internal to scorer.cpp and scorer_checks.cpp.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/scorer.hpp"
#include "actors/scorer_detail.hpp"

namespace orch {

namespace scorer_detail {

/// A deny rule ready for matching against lower-cased content.
struct compiled_deny {
  std::string name;
  /// The lower-cased text of a plain rule, or the literal every match of a
  /// regex rule starts with (empty when there is none).
  std::string needle;
  bool is_regex = false;
  std::regex re;
};

} // namespace scorer_detail

struct compiled_scorer_rules {
  std::shared_ptr<const scorer_rules> source;
  /// The `trivial` profile.
  bool trivial = false;
  std::vector<scorer_detail::compiled_deny> deny;
  /// Keys lower case.
  std::map<std::string, lint_command> linters;
  /// Keys normalized role names.
  std::map<std::string, dryrun_command> dryrun;
};

/// The needles of one task's constraints (kept in the SCORER's
/// `constraints_cache`, by rubric and requirements).
struct scorer_matcher {
  std::vector<std::string> keywords;
  scorer_detail::needle_set set;
  /// Needle of each compiled deny rule; npos for regex rules without a
  /// literal prefix.
  std::vector<size_t> deny_ids;
  /// Needle of each requirement; npos for blank ones.
  std::vector<size_t> req_ids;
  /// Needle of the first rubric keyword; the others follow.
  size_t kw_base = 0;
  size_t backticks = 0;
  size_t tildes = 0;
};

namespace scorer_detail {

/// Outcome of one checked code block.
struct lint_entry {
  int32_t block = 0;
  std::string lang;
  bool failed = false;
  std::string message;
};

/// One proposal in the making; lives on the heap while external commands
/// run.
struct score_job {
  check_suite suite;
  std::vector<lint_entry> lint;
  bool deny_hit = false;
  double policy_score = 1.0;
  size_t outstanding = 0;
  /// Receives the suite when the last external check is back.
  std::function<void(check_suite)> deliver;
};

enum class external_kind { lint, dryrun };

/// A command to send to the PROCESS RUNNER.
struct external_check {
  external_kind kind;
  /// Index into `score_job::lint` for linters.
  size_t entry = 0;
  command_spec spec;
};

/// What an answer of the PROCESS RUNNER belongs to.
struct pending_check {
  external_kind kind;
  size_t entry;
  int32_t timeout_ms;
};

/// The matcher of the task with `cons`, from the SCORER's cache of recent
/// tasks' matchers (made and cached when it is not there).
const scorer_matcher& matcher_for(scorer_state& st,
                                  const compiled_scorer_rules& rules,
                                  const constraints& cons);

/// The policy check: deny patterns and requirements, from the positions
/// `first` that the matcher's scan found in `content`.
void check_policy(const compiled_scorer_rules& rules, const scorer_matcher& m,
                  const std::vector<size_t>& first, std::string_view content,
                  const constraints& cons, score_job& job);

/// The lint check: JSON and YAML blocks checked here; blocks of languages
/// with a linter become external checks (or warnings without a runner).
void check_lint(const compiled_scorer_rules& rules, bool have_runner,
                std::string_view content, size_t first_fence, score_job& job,
                std::vector<external_check>& ext);

/// The dry-run of the task's role as an external check, or skipped.
void plan_dryrun(const compiled_scorer_rules& rules, bool have_runner,
                 const std::string& content, const std::string& role,
                 score_job& job, std::vector<external_check>& ext);

/// The rubric coverage check.
void check_coverage(const scorer_matcher& m, const std::vector<size_t>& first,
                    score_job& job);

/// Records what the PROCESS RUNNER answered for an external check.
void apply_result(score_job& job, const pending_check& x,
                  const command_result& res);

/// Records that an external check could not run.
void apply_error(score_job& job, const pending_check& x,
                 const caf::error& err);

/// Sums up the checks into the suite's verdicts and score.
void finalize(const scorer_rules& rules, score_job& job);

/// The rules in the form the SCORER uses them; null means the defaults.
std::shared_ptr<const compiled_scorer_rules>
compile_rules(std::shared_ptr<const scorer_rules> src);

/// The checks of the `trivial` profile; see `scorer_rules::profile`.
check_suite trivial_suite(std::string_view content, const task_spec& task);

} // namespace scorer_detail

} // namespace orch
