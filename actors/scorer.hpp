#pragma once

// SCORER: runs the check suite (policy, lint, dry-run, rubric coverage) on one
// proposal and scores it. Built-in checks run in the handler; external
// commands (linters, dry-runs) go to a PROCESS RUNNER and come back as
// messages, so the SCORER itself never blocks.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/actors.hpp"
#include "actors/constraints_cache.hpp"

namespace orch {

// -- rules --------------------------------------------------------------------

/// A pattern that must not appear in a proposal: a secret or a destructive
/// command. Matching is case-insensitive.
struct deny_rule {
  /// Names the rule in violations, e.g. "aws_access_key".
  std::string name;
  /// A plain substring, or an ECMAScript regular expression when `regex`.
  std::string pattern;
  bool regex = false;
};

/// An external linter; it gets the code block on standard input and passes
/// it by exiting with 0.
struct lint_command {
  std::vector<std::string> argv;
};

/// An external dry-run command for one role; it gets the whole proposal on
/// standard input and passes it by exiting with 0 within its time limit.
struct dryrun_command {
  std::vector<std::string> argv;
  int32_t timeout_ms = 10000;
};

/// Everything the SCORER checks and how it weighs the results.
struct scorer_rules {
  /// `full` (the default): the checks below. `trivial`: three cheap checks
  /// instead, for measuring the engine's own cost — the proposal names its
  /// task (a substring test), is 1 to 4096 bytes long (a rule on length),
  /// and a hash of its text in [0, 1] (a deterministic score to rank by);
  /// the score is their mean. Everything else here is then unused.
  std::string profile = "full";

  /// Deny patterns: any match is a policy violation and caps the score.
  std::vector<deny_rule> deny;

  /// Language (lower case) -> external linter. JSON (`json`) and YAML
  /// (`yaml`, `yml`) are checked built-in and take no entry.
  std::map<std::string, lint_command> linters;

  /// Role (upper case) -> dry-run command. A role without one has its
  /// dry-run "skipped".
  std::map<std::string, dryrun_command> dryrun;

  /// Weights of the weighted mean; a skipped dry-run drops out of it.
  double weight_policy = 0.4;
  double weight_lint = 0.3;
  double weight_dryrun = 0.3;
  /// Weight of the additional checks (rubric coverage).
  double weight_coverage = 0.2;

  /// A deny-pattern violation caps the total score at this.
  double policy_cap = 0.2;

  /// Time limit of one external linter run.
  int32_t lint_timeout_ms = 5000;

  /// Output kept of one external command, in bytes.
  int32_t max_output = 16384;
};

/// Returns the built-in rules: deny patterns for secrets (AWS access keys,
/// private key blocks, `password=`, `api_key=`, `secret_key`) and destructive
/// commands (`rm -rf /`, `mkfs`, `dd` onto a device, a fork bomb,
/// `DROP DATABASE`, `chmod -R 777 /`, `curl`/`wget` piped into a shell);
/// linters `bash -n` (bash, sh, shell) and a Python `compile` (python, py);
/// no dry-run commands.
scorer_rules default_scorer_rules();

/// Checks `rules` for values the SCORER cannot use (negative weights, an
/// empty pattern, an invalid regex, an empty command ...). Errors are
/// `ec::invalid_config` with a message "scorer rules <origin>: <key>: <what>".
caf::error validate_scorer_rules(const scorer_rules& rules,
                                 const std::string& origin);

/// Parses rules from YAML text; `origin` names the source in errors. Keys
/// absent from the document keep their defaults; a key present replaces the
/// default for that key as a whole. Unknown keys, wrong types and invalid
/// values are `ec::invalid_config` errors naming the key, e.g.
/// "scorer rules /x.yaml: deny[2].pattern: invalid regex: ...".
caf::expected<scorer_rules> parse_scorer_rules(const std::string& yaml_text,
                                               const std::string& origin);

/// Loads rules from a YAML file; see `parse_scorer_rules`. A missing or
/// unreadable file is an `ec::invalid_config` error naming it.
caf::expected<scorer_rules> load_scorer_rules(const std::string& yaml_path);

// -- helpers ------------------------------------------------------------------

/// A fenced code block of a proposal (``` or ~~~ fences).
struct code_block {
  /// First word of the info string, lower case; empty when none.
  std::string lang;
  std::string code;
  /// Line of the opening fence, counting from 1.
  int32_t line = 0;
};

/// Returns the fenced code blocks of `content` in order. An unterminated
/// block runs to the end of the content.
std::vector<code_block> find_code_blocks(const std::string& content);

/// Returns the rubric keywords: words of at least five letters, lower case,
/// without duplicates and common filler words, in order of appearance.
std::vector<std::string> rubric_keywords(const std::string& rubric);

// -- actor --------------------------------------------------------------------

/// The rules in the form the SCORER uses them (patterns lower-cased, regular
/// expressions compiled once).
struct compiled_scorer_rules;

/// Searches a proposal for the deny patterns, the requirements and the
/// rubric keywords of one task in a single pass.
struct scorer_matcher;

/// State of a SCORER.
struct scorer_state {
  std::shared_ptr<const compiled_scorer_rules> rules;

  /// Runs external linters and dry-runs; may be invalid (then those checks
  /// are not run: linters count as warnings, dry-runs are skipped).
  process_runner_actor runner;

  /// Matchers of the last 8 tasks' constraints seen (a council scores all
  /// proposals of one task in a row).
  constraints_cache<scorer_matcher, 8> matchers;

  /// Scratch space for match positions.
  std::vector<size_t> positions;

  /// Number of proposals scored.
  int64_t scored = 0;

  static inline const char* name = "scorer";
};

/// Behavior of a SCORER. Rules that fail `validate_scorer_rules` are used as
/// far as possible: an invalid regex is searched for as plain text.
scorer_actor::behavior_type
scorer(scorer_actor::stateful_pointer<scorer_state> self,
       std::shared_ptr<const scorer_rules> rules, process_runner_actor runner);

/// Spawns a SCORER using `runner` for external commands, pinned to engine
/// lane `in` when it is one of several. A null `rules` means the defaults.
scorer_actor spawn_scorer(caf::actor_system& sys,
                          std::shared_ptr<const scorer_rules> rules,
                          process_runner_actor runner, lane in = {});

} // namespace orch
