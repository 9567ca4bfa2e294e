// The SCORER's checks of one proposal; see scorer_checks.hpp.

#include "actors/scorer_checks.hpp"
#include "messages/hash.hpp"
#include "messages/json_codec.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <caf/error.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

namespace orch::scorer_detail {

namespace {

constexpr size_t npos = std::string_view::npos;

std::string json_error(std::string_view code) {
  try {
    auto doc = nlohmann::json::parse(code.begin(), code.end());
    static_cast<void>(doc);
  } catch (const nlohmann::json::exception& ex) {
    std::string_view what{ex.what()};
    // Drop the "[json.exception.parse_error.101] " prefix.
    if (!what.empty() && what.front() == '[') {
      auto close = what.find("] ");
      if (close != std::string_view::npos)
        what.remove_prefix(close + 2);
    }
    return std::string{what};
  }
  // What nlohmann's parser takes: it stops at a NUL byte.
  auto nul = code.find('\0');
  if (nul != npos)
    return "invalid JSON: a NUL byte at offset " + std::to_string(nul);
  return "invalid JSON";
}

/// Returns an error message, or an empty string when `code` is valid YAML.
std::string yaml_error(std::string_view code) {
  try {
    static_cast<void>(YAML::LoadAll(std::string{code}));
  } catch (const YAML::Exception& ex) {
    if (ex.mark.is_null())
      return ex.msg;
    return "line " + std::to_string(ex.mark.line + 1) + ", column "
           + std::to_string(ex.mark.column + 1) + ": " + ex.msg;
  }
  return {};
}

check_result trivial_check(std::string_view type, bool passed, double score,
                           std::string_view message) {
  // Made in place: assigning to default-made strings cost twice as much.
  return check_result{std::string{type}, passed, score, std::string{message},
                      {}};
}

} // namespace

const scorer_matcher& matcher_for(scorer_state& st,
                                  const compiled_scorer_rules& rules,
                                  const constraints& cons) {
  return st.matchers.get(cons, [&] {
    scorer_matcher m;
    m.keywords = rubric_keywords(cons.rubric);
    for (auto& rule : rules.deny)
      m.deny_ids.push_back(rule.needle.empty() ? npos : m.set.add(rule.needle));
    for (auto& req : cons.requirements) {
      auto needle = trim_space(req);
      m.req_ids.push_back(needle.empty() ? npos : m.set.add(needle));
    }
    m.kw_base = m.set.size();
    for (auto& kw : m.keywords)
      m.set.add(kw);
    m.backticks = m.set.add("```");
    m.tildes = m.set.add("~~~");
    m.set.build();
    return m;
  });
}

void check_policy(const compiled_scorer_rules& rules, const scorer_matcher& m,
                  const std::vector<size_t>& first, std::string_view content,
                  const constraints& cons, score_job& job) {
  auto& policy = job.suite.policy;
  size_t deny_hits = 0;
  // Lower-cased content, made only when a regex rule needs it.
  std::string lc_buf;
  auto lowered = [&]() -> std::string_view {
    if (lc_buf.size() != content.size())
      lc_buf = to_lower(content);
    return lc_buf;
  };
  for (size_t i = 0; i < rules.deny.size(); ++i) {
    auto& rule = rules.deny[i];
    auto id = m.deny_ids[i];
    auto at = id == npos ? npos : first[id];
    size_t pos = npos;
    size_t len = 0;
    if (!rule.is_regex) {
      if (at != npos) {
        pos = at;
        len = rule.needle.size();
      }
    } else if (!rule.needle.empty()) {
      // Try the regex anchored at each occurrence of its literal prefix.
      std::match_results<std::string_view::const_iterator> mr;
      auto lc = at != npos ? lowered() : std::string_view{};
      for (; at != npos; at = lc.find(rule.needle, at + 1)) {
        auto first_it = lc.begin() + static_cast<std::ptrdiff_t>(at);
        auto window = std::min(lc.size() - at, regex_window);
        auto last_it = first_it + static_cast<std::ptrdiff_t>(window);
        auto flags = std::regex_constants::match_continuous;
        if (at > 0)
          flags |= std::regex_constants::match_prev_avail;
        if (last_it != lc.end())
          flags |= std::regex_constants::match_not_eol
                   | std::regex_constants::match_not_eow;
        if (std::regex_search(first_it, last_it, mr, rule.re, flags)) {
          pos = at;
          len = static_cast<size_t>(mr.length(0));
          break;
        }
      }
    } else {
      std::match_results<std::string_view::const_iterator> mr;
      auto lc = lowered();
      if (std::regex_search(lc.begin(), lc.end(), mr, rule.re)) {
        pos = static_cast<size_t>(mr.position(0));
        len = static_cast<size_t>(mr.length(0));
      }
    }
    if (pos != npos) {
      ++deny_hits;
      std::string violation = rule.name;
      violation += ": ";
      violation += redact(content.substr(pos, len));
      policy.violations.push_back(std::move(violation));
    }
  }
  size_t total = 0;
  size_t covered = 0;
  for (size_t i = 0; i < cons.requirements.size(); ++i) {
    auto id = m.req_ids[i];
    if (id == npos)
      continue;
    ++total;
    if (first[id] != npos) {
      ++covered;
    } else {
      std::string violation = "missing requirement: ";
      violation.append(trim_space(cons.requirements[i]));
      policy.violations.push_back(std::move(violation));
    }
  }
  job.deny_hit = deny_hits > 0;
  policy.passed = policy.violations.empty();
  if (job.deny_hit)
    job.policy_score = 0;
  else
    job.policy_score = total == 0 ? 1.0 : double(covered) / double(total);
  auto coverage = std::to_string(covered) + "/" + std::to_string(total)
                  + " requirements covered";
  if (policy.passed) {
    policy.message = total == 0 ? "passed: no violations"
                                : "passed: no violations, " + coverage;
  } else {
    policy.message = "failed: " + std::to_string(deny_hits)
                     + " deny pattern(s) matched, " + coverage;
  }
}

void check_lint(const compiled_scorer_rules& rules, bool have_runner,
                std::string_view content, size_t first_fence, score_job& job,
                std::vector<external_check>& ext) {
  int32_t index = 0;
  scan_blocks(content, first_fence, [&](block_view&& blk) {
    ++index;
    if (blk.lang.empty() || is_blank_view(blk.code))
      return;
    if (blk.lang == "json") {
      lint_entry entry{index, std::move(blk.lang), false, {}};
      if (!is_json(blk.code)) {
        entry.failed = true;
        entry.message = json_error(blk.code);
      }
      job.lint.push_back(std::move(entry));
      return;
    }
    if (blk.lang == "yaml" || blk.lang == "yml") {
      lint_entry entry{index, std::move(blk.lang), false, {}};
      entry.message = yaml_error(blk.code);
      entry.failed = !entry.message.empty();
      job.lint.push_back(std::move(entry));
      return;
    }
    auto linter = rules.linters.find(blk.lang);
    if (linter == rules.linters.end() || !have_runner) {
      ++job.suite.lint.warning_count;
      return;
    }
    external_check x{external_kind::lint, job.lint.size(), command_spec{}};
    x.spec.argv = linter->second.argv;
    x.spec.stdin_data.assign(blk.code.begin(), blk.code.end());
    x.spec.timeout_ms = rules.source->lint_timeout_ms;
    x.spec.max_output = rules.source->max_output;
    job.lint.push_back(lint_entry{index, std::move(blk.lang), false, {}});
    ext.push_back(std::move(x));
  });
}

void plan_dryrun(const compiled_scorer_rules& rules, bool have_runner,
                 const std::string& content, const std::string& role,
                 score_job& job, std::vector<external_check>& ext) {
  auto& dry = job.suite.dryrun;
  dry.skipped = true;
  dry.passed = true;
  auto key = normalize_role(role);
  auto cmd = rules.dryrun.find(key);
  if (cmd == rules.dryrun.end()) {
    dry.message = "skipped: no dry-run command for role "
                  + (key.empty() ? std::string{"(none)"} : key);
    return;
  }
  if (!have_runner) {
    dry.message = "skipped: no process runner for the dry-run of role " + key;
    return;
  }
  dry.skipped = false;
  external_check x{external_kind::dryrun, 0, command_spec{}};
  x.spec.argv = cmd->second.argv;
  x.spec.stdin_data = content;
  x.spec.timeout_ms = cmd->second.timeout_ms;
  x.spec.max_output = rules.source->max_output;
  ext.push_back(std::move(x));
}

void check_coverage(const scorer_matcher& m, const std::vector<size_t>& first,
                    score_job& job) {
  auto& keywords = m.keywords;
  check_result res;
  res.check_type = "rubric_coverage";
  std::string covered;
  std::string missing;
  size_t hits = 0;
  for (size_t i = 0; i < keywords.size(); ++i) {
    auto found = first[m.kw_base + i] != npos;
    auto& list = found ? covered : missing;
    if (found)
      ++hits;
    if (!list.empty())
      list += ", ";
    list += keywords[i];
  }
  res.score = keywords.empty() ? 1.0 : double(hits) / double(keywords.size());
  res.passed = res.score >= 0.5;
  res.message = keywords.empty()
                  ? std::string{"no rubric keywords"}
                  : std::to_string(hits) + "/" + std::to_string(keywords.size())
                      + " rubric keywords covered";
  res.details.emplace("covered", std::move(covered));
  res.details.emplace("missing", std::move(missing));
  job.suite.additional.push_back(std::move(res));
}

void apply_result(score_job& job, const pending_check& x,
                  const command_result& res) {
  if (x.kind == external_kind::lint) {
    auto& entry = job.lint[x.entry];
    if (res.timed_out) {
      entry.failed = true;
      entry.message = "linter timed out after " + std::to_string(x.timeout_ms)
                      + " ms";
    } else if (res.exit_code != 0) {
      entry.failed = true;
      entry.message = summarize_output(res.output);
      if (entry.message.empty())
        entry.message = "linter exited with " + std::to_string(res.exit_code);
    }
    return;
  }
  auto& dry = job.suite.dryrun;
  dry.skipped = false;
  dry.output = res.output;
  dry.exit_code = res.exit_code;
  dry.passed = res.exit_code == 0 && !res.timed_out;
  if (res.timed_out)
    dry.message = "timed out after " + std::to_string(x.timeout_ms)
                  + " ms (killed)";
  else
    dry.message = "exit " + std::to_string(res.exit_code) + " in "
                  + std::to_string(res.duration_ms) + " ms";
  if (res.truncated)
    dry.message += " (output truncated)";
}

void apply_error(score_job& job, const pending_check& x,
                 const caf::error& err) {
  if (x.kind == external_kind::lint) {
    auto& entry = job.lint[x.entry];
    entry.failed = true;
    entry.message = "linter could not run: " + render(err);
    return;
  }
  auto& dry = job.suite.dryrun;
  dry.skipped = false;
  dry.passed = false;
  dry.exit_code = -1;
  dry.message = "dry-run could not run: " + render(err);
}

void finalize(const scorer_rules& rules, score_job& job) {
  auto& suite = job.suite;
  auto& lint = suite.lint;
  int32_t failed = 0;
  for (auto& entry : job.lint) {
    if (!entry.failed)
      continue;
    ++failed;
    std::string msg = "block ";
    msg += std::to_string(entry.block);
    msg += " (";
    msg += entry.lang;
    msg += "): ";
    msg += entry.message;
    lint.errors.push_back(std::move(msg));
  }
  lint.error_count = failed;
  lint.passed = failed == 0;
  auto lint_score
    = job.lint.empty() ? 1.0 : 1.0 - double(failed) / double(job.lint.size());
  double coverage = 1.0;
  bool additional_passed = true;
  for (auto& x : suite.additional) {
    additional_passed = additional_passed && x.passed;
    if (x.check_type == "rubric_coverage")
      coverage = x.score;
  }
  auto sum = rules.weight_policy * job.policy_score
             + rules.weight_lint * lint_score
             + rules.weight_coverage * coverage;
  auto weights = rules.weight_policy + rules.weight_lint
                 + rules.weight_coverage;
  if (!suite.dryrun.skipped) {
    sum += rules.weight_dryrun * (suite.dryrun.passed ? 1.0 : 0.0);
    weights += rules.weight_dryrun;
  }
  auto score = weights > 0 ? sum / weights : 0.0;
  if (job.deny_hit)
    score = std::min(score, rules.policy_cap);
  suite.score = std::clamp(score, 0.0, 1.0);
  suite.all_passed = suite.policy.passed && lint.passed && suite.dryrun.passed
                     && additional_passed;
}

std::shared_ptr<const compiled_scorer_rules>
compile_rules(std::shared_ptr<const scorer_rules> src) {
  auto out = std::make_shared<compiled_scorer_rules>();
  if (src == nullptr)
    src = std::make_shared<const scorer_rules>(default_scorer_rules());
  out->source = src;
  out->trivial = src->profile == "trivial";
  for (auto& rule : src->deny) {
    if (rule.pattern.empty())
      continue;
    compiled_deny cd;
    cd.name = rule.name.empty() ? rule.pattern : rule.name;
    if (rule.regex) {
      try {
        cd.re = compile_regex(rule.pattern);
        cd.is_regex = true;
        cd.needle = literal_prefix(rule.pattern);
        if (cd.needle.size() < 2)
          cd.needle.clear();
      } catch (const std::regex_error& ex) {
        spdlog::error("scorer treats invalid regex of deny rule {} as text: {}",
                      cd.name, ex.what());
        cd.needle = to_lower(rule.pattern);
      }
    } else {
      cd.needle = to_lower(rule.pattern);
    }
    out->deny.push_back(std::move(cd));
  }
  for (auto& [lang, cmd] : src->linters)
    if (!cmd.argv.empty())
      out->linters[to_lower(lang)] = cmd;
  for (auto& [role, cmd] : src->dryrun)
    if (!cmd.argv.empty())
      out->dryrun[normalize_role(role)] = cmd;
  return out;
}

check_suite trivial_suite(std::string_view content, const task_spec& task) {
  check_suite suite;
  auto named = !task.task_id.empty()
               && content.find(task.task_id) != std::string_view::npos;
  auto sized = !content.empty() && content.size() <= 4096;
  auto hashed = static_cast<double>(fnv1a(content) % 1001) / 1000.0;
  suite.additional.reserve(3);
  suite.additional.push_back(
    trivial_check("names_task", named, named ? 1.0 : 0.0,
                  named ? "names its task" : "does not name its task"));
  suite.additional.push_back(trivial_check(
    "length", sized, sized ? 1.0 : 0.0,
    sized ? "1 to 4096 bytes" : "empty or longer than 4096 bytes"));
  suite.additional.push_back(
    trivial_check("hash", true, hashed, "hash of the text"));
  suite.all_passed = named && sized;
  suite.score = ((named ? 1.0 : 0.0) + (sized ? 1.0 : 0.0) + hashed) / 3.0;
  return suite;
}

} // namespace orch::scorer_detail
