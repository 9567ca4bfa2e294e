#include "actors/scorer.hpp"
#include "actors/scorer_detail.hpp"
#include "messages/hash.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>
#include <string_view>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>
#include <spdlog/spdlog.h>

namespace orch {

// -- compiled rules -----------------------------------------------------------

namespace {

/// A deny rule ready for matching against lower-cased content.
struct compiled_deny {
  std::string name;
  /// The lower-cased text of a plain rule, or the literal every match of a
  /// regex rule starts with (empty when there is none).
  std::string needle;
  bool is_regex = false;
  std::regex re;
};

} // namespace

struct compiled_scorer_rules {
  std::shared_ptr<const scorer_rules> source;
  /// The `trivial` profile.
  bool trivial = false;
  std::vector<compiled_deny> deny;
  /// Keys lower case.
  std::map<std::string, lint_command> linters;
  /// Keys normalized role names.
  std::map<std::string, dryrun_command> dryrun;
};

namespace {

// -- text helpers -------------------------------------------------------------

using scorer_detail::compile_regex;
using scorer_detail::is_builtin_lang;
using scorer_detail::lower_char;
using scorer_detail::to_lower;


inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
         || c == '\v';
}

inline bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
         || (c >= 'A' && c <= 'Z');
}

std::string_view trim(std::string_view x) {
  while (!x.empty() && is_space(x.front()))
    x.remove_prefix(1);
  while (!x.empty() && is_space(x.back()))
    x.remove_suffix(1);
  return x;
}

bool is_blank_view(std::string_view x) {
  return trim(x).empty();
}

/// Finds the first occurrence of many short needles in one pass over a text,
/// ignoring ASCII case: a bitmap of the needles' first two characters filters
/// the positions worth comparing.
class needle_set {
public:
  static constexpr size_t npos = std::string_view::npos;

  /// Adds a needle (any case); returns its id. Empty needles never match.
  size_t add(std::string_view needle) {
    needles_.push_back(to_lower(needle));
    return needles_.size() - 1;
  }

  /// Builds the index; call after the last `add`.
  void build() {
    bits_.assign(1024, 0);
    index_.clear();
    singles_.clear();
    for (size_t id = 0; id < needles_.size(); ++id) {
      auto& x = needles_[id];
      if (x.size() == 1) {
        singles_.push_back(id);
      } else if (x.size() > 1) {
        auto b = bigram(x[0], x[1]);
        bits_[b >> 6] |= uint64_t{1} << (b & 63);
        index_.emplace_back(b, id);
      }
    }
    std::sort(index_.begin(), index_.end());
  }

  /// Sets `first[id]` to the first position of each needle in `text`, or to
  /// `npos`.
  void scan(std::string_view text, std::vector<size_t>& first) const {
    first.assign(needles_.size(), npos);
    auto left = index_.size();
    auto n = text.size();
    for (size_t i = 0; left > 0 && i + 1 < n; ++i) {
      auto b = bigram(text[i], text[i + 1]);
      if (((bits_[b >> 6] >> (b & 63)) & 1) == 0)
        continue;
      auto it = std::lower_bound(index_.begin(), index_.end(),
                                 std::make_pair(b, size_t{0}));
      for (; it != index_.end() && it->first == b; ++it) {
        auto id = it->second;
        if (first[id] == npos && matches_at(text, i, needles_[id])) {
          first[id] = i;
          --left;
        }
      }
    }
    for (auto id : singles_) {
      auto c = needles_[id][0];
      for (size_t i = 0; i < n; ++i) {
        if (lower_char(text[i]) == c) {
          first[id] = i;
          break;
        }
      }
    }
  }

  size_t size() const {
    return needles_.size();
  }

private:
  static uint16_t bigram(char a, char b) {
    return static_cast<uint16_t>(
      (static_cast<unsigned char>(lower_char(a)) << 8)
      | static_cast<unsigned char>(lower_char(b)));
  }

  /// Compares from the third character on: the bigram matched already.
  static bool matches_at(std::string_view text, size_t pos,
                         const std::string& needle) {
    if (needle.size() > text.size() - pos)
      return false;
    for (size_t k = 2; k < needle.size(); ++k)
      if (lower_char(text[pos + k]) != needle[k])
        return false;
    return true;
  }

  std::vector<std::string> needles_;
  std::vector<uint64_t> bits_;
  std::vector<std::pair<uint16_t, size_t>> index_;
  std::vector<size_t> singles_;
};

// -- regex helpers ------------------------------------------------------------


/// True when `pattern` has an alternation outside any group or class.
bool has_top_level_alternation(const std::string& pattern) {
  int depth = 0;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    auto c = pattern[i];
    if (c == '\\') {
      ++i;
    } else if (in_class) {
      if (c == ']')
        in_class = false;
    } else if (c == '[') {
      in_class = true;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    } else if (c == '|' && depth == 0) {
      return true;
    }
  }
  return false;
}

/// Returns the literal text every match of `pattern` starts with, lower
/// case; empty when there is none (anchors, alternations, classes first).
std::string literal_prefix(const std::string& pattern) {
  if (pattern.empty() || pattern.front() == '^'
      || has_top_level_alternation(pattern))
    return {};
  std::string out;
  size_t i = 0;
  while (i + 1 < pattern.size() && pattern[i] == '\\' && pattern[i + 1] == 'b')
    i += 2;
  while (i < pattern.size()) {
    auto c = pattern[i];
    if (c == '\\') {
      if (i + 1 < pattern.size() && !is_alnum(pattern[i + 1])) {
        out += pattern[i + 1];
        i += 2;
        continue;
      }
      break;
    }
    if (std::string_view{".[](){}*+?^$|"}.find(c) != std::string_view::npos) {
      if ((c == '*' || c == '?' || c == '{') && !out.empty())
        out.pop_back();
      break;
    }
    out += c;
    ++i;
  }
  return to_lower(out);
}

/// Longest match a prefix-anchored regex rule may have.
constexpr size_t regex_window = 4096;

/// Makes matched text fit for a report: one line, at most 80 characters, and
/// runs of 16 or more letters and digits (keys, tokens) masked after their
/// first four characters.
std::string redact(std::string_view text) {
  constexpr size_t max_len = 80;
  std::string out;
  out.reserve(std::min(text.size(), max_len) + 3);
  size_t i = 0;
  while (i < text.size() && out.size() < max_len) {
    if (is_alnum(text[i])) {
      auto j = i;
      while (j < text.size() && is_alnum(text[j]))
        ++j;
      auto run = text.substr(i, j - i);
      if (run.size() >= 16) {
        out.append(run.substr(0, 4));
        out += "****";
      } else {
        out.append(run);
      }
      i = j;
      continue;
    }
    out += is_space(text[i]) ? ' ' : text[i];
    ++i;
  }
  if (i < text.size())
    out += "...";
  return out;
}

// -- code blocks --------------------------------------------------------------

struct block_view {
  std::string lang;
  std::string_view code;
  int32_t line = 0;
};

/// Calls `f(block_view&&)` for every fenced code block of `content`;
/// `first_fence` is the position of the first "```" or "~~~" (npos when
/// there is none).
template<class F>
void scan_blocks(std::string_view content, size_t first_fence, F&& f) {
  if (first_fence >= content.size())
    return;
  // Start at the line of the first fence.
  auto pos = content.rfind('\n', first_fence);
  pos = pos == std::string_view::npos ? 0 : pos + 1;
  auto line_no = static_cast<int32_t>(std::count(
    content.begin(), content.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
  bool in_block = false;
  char fence_char = 0;
  size_t fence_len = 0;
  size_t code_start = 0;
  block_view current;
  while (pos < content.size()) {
    ++line_no;
    auto eol = content.find('\n', pos);
    auto next = eol == std::string_view::npos ? content.size() : eol + 1;
    auto line = content.substr(pos, next - pos);
    size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    if (i < line.size() && (line[i] == '`' || line[i] == '~')) {
      auto c = line[i];
      auto j = i;
      while (j < line.size() && line[j] == c)
        ++j;
      auto run = j - i;
      auto rest = trim(line.substr(j));
      if (!in_block && run >= 3
          && (c == '~' || rest.find('`') == std::string_view::npos)) {
        in_block = true;
        fence_char = c;
        fence_len = run;
        code_start = next;
        auto word_end = std::find_if(rest.begin(), rest.end(), is_space);
        current.lang = to_lower(
          rest.substr(0, static_cast<size_t>(word_end - rest.begin())));
        current.line = line_no;
      } else if (in_block && c == fence_char && run >= fence_len
                 && rest.empty()) {
        in_block = false;
        current.code = content.substr(code_start, pos - code_start);
        f(std::move(current));
        current = block_view{};
      }
    }
    pos = next;
  }
  if (in_block) {
    current.code = content.substr(code_start);
    f(std::move(current));
  }
}

// -- rubric -------------------------------------------------------------------

bool is_stop_word(std::string_view word) {
  static constexpr std::string_view words[] = {
    "about",     "above",   "according", "across",  "after",    "again",
    "against",   "along",   "among",     "another", "answer",   "based",
    "because",   "before",  "being",     "below",   "between",  "beyond",
    "could",     "doing",   "during",    "either",  "ensure",   "every",
    "following", "further", "given",     "having",  "include",  "includes",
    "including", "might",   "other",     "others",  "proposal", "provide",
    "provides",  "rather",  "really",    "should",  "shall",    "since",
    "solution",  "still",   "their",     "there",   "these",    "thing",
    "things",    "those",   "through",   "under",   "until",    "using",
    "various",   "where",   "whether",   "which",   "while",    "within",
    "without",   "would",
  };
  return std::find(std::begin(words), std::end(words), word) != std::end(words);
}

inline bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || static_cast<unsigned char>(c) >= 0x80;
}

// -- output summaries ---------------------------------------------------------

/// Finds "line <digits>" in `x`; returns it or an empty view.
std::string_view find_line_ref(std::string_view x) {
  size_t pos = 0;
  while ((pos = x.find("line ", pos)) != std::string_view::npos) {
    auto end = pos + 5;
    while (end < x.size() && x[end] >= '0' && x[end] <= '9')
      ++end;
    if (end > pos + 5)
      return x.substr(pos, end - pos);
    pos += 5;
  }
  return {};
}

/// Condenses a linter's output to one line: the last line that mentions an
/// error (else the last line), prefixed with the nearest earlier "line N"
/// when it has none itself.
std::string summarize_output(const std::string& output) {
  std::vector<std::string_view> lines;
  std::string_view all{output};
  size_t pos = 0;
  while (pos < all.size()) {
    auto eol = all.find('\n', pos);
    auto next = eol == std::string_view::npos ? all.size() : eol + 1;
    auto line = trim(all.substr(pos, next - pos));
    if (!line.empty())
      lines.push_back(line);
    pos = next;
  }
  if (lines.empty())
    return {};
  auto pick = lines.size() - 1;
  for (auto i = lines.size(); i-- > 0;) {
    if (to_lower(lines[i]).find("error") != std::string::npos) {
      pick = i;
      break;
    }
  }
  std::string out;
  if (find_line_ref(lines[pick]).empty()) {
    for (auto i = pick; i-- > 0;) {
      auto ref = find_line_ref(lines[i]);
      if (!ref.empty()) {
        out.append(ref);
        out += ": ";
        break;
      }
    }
  }
  out.append(lines[pick]);
  constexpr size_t max_len = 300;
  if (out.size() > max_len) {
    out.resize(max_len);
    out += "...";
  }
  return out;
}

} // namespace

// -- matcher ------------------------------------------------------------------

struct scorer_matcher {
  /// The task this matcher belongs to.
  std::string rubric;
  std::vector<std::string> requirements;

  std::vector<std::string> keywords;
  needle_set set;
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

namespace {

constexpr size_t npos = std::string_view::npos;

/// Number of tasks whose matchers a SCORER keeps.
constexpr size_t max_matchers = 8;

const scorer_matcher& matcher_for(scorer_state& st,
                                  const compiled_scorer_rules& rules,
                                  const constraints& cons) {
  auto& cache = st.matchers;
  for (size_t i = 0; i < cache.size(); ++i) {
    auto& x = *cache[i];
    if (x.rubric == cons.rubric && x.requirements == cons.requirements) {
      if (i > 0)
        std::rotate(cache.begin(), cache.begin() + static_cast<ptrdiff_t>(i),
                    cache.begin() + static_cast<ptrdiff_t>(i) + 1);
      return *cache.front();
    }
  }
  auto m = std::make_shared<scorer_matcher>();
  m->rubric = cons.rubric;
  m->requirements = cons.requirements;
  m->keywords = rubric_keywords(cons.rubric);
  for (auto& rule : rules.deny)
    m->deny_ids.push_back(rule.needle.empty() ? npos : m->set.add(rule.needle));
  for (auto& req : cons.requirements) {
    auto needle = trim(req);
    m->req_ids.push_back(needle.empty() ? npos : m->set.add(needle));
  }
  m->kw_base = m->set.size();
  for (auto& kw : m->keywords)
    m->set.add(kw);
  m->backticks = m->set.add("```");
  m->tildes = m->set.add("~~~");
  m->set.build();
  cache.insert(cache.begin(), std::move(m));
  if (cache.size() > max_matchers)
    cache.pop_back();
  return *cache.front();
}

// -- check suite --------------------------------------------------------------

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
      violation.append(trim(cons.requirements[i]));
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
      if (!nlohmann::json::accept(blk.code.begin(), blk.code.end())) {
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

/// What an answer of the PROCESS RUNNER belongs to.
struct pending_check {
  external_kind kind;
  size_t entry;
  int32_t timeout_ms;
};

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

} // namespace

// -- helpers ------------------------------------------------------------------

std::vector<code_block> find_code_blocks(const std::string& content) {
  std::vector<code_block> out;
  auto fence = std::min(content.find("```"), content.find("~~~"));
  scan_blocks(content, fence, [&](block_view&& blk) {
    out.push_back(
      code_block{std::move(blk.lang), std::string{blk.code}, blk.line});
  });
  return out;
}

std::vector<std::string> rubric_keywords(const std::string& rubric) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < rubric.size()) {
    if (!is_word_char(rubric[i])) {
      ++i;
      continue;
    }
    auto j = i;
    while (j < rubric.size() && is_word_char(rubric[j]))
      ++j;
    if (j - i >= 5) {
      auto word = to_lower(std::string_view{rubric}.substr(i, j - i));
      if (!is_stop_word(word)
          && std::find(out.begin(), out.end(), word) == out.end())
        out.push_back(std::move(word));
    }
    i = j;
  }
  return out;
}

// -- trivial profile ----------------------------------------------------------

namespace {

check_result trivial_check(const char* type, bool passed, double score,
                           const char* message) {
  check_result res;
  res.check_type = type;
  res.passed = passed;
  res.score = score;
  res.message = message;
  return res;
}

/// The checks of the `trivial` profile; see `scorer_rules::profile`.
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

} // namespace

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
    [self](atom::score, const std::vector<proposal>& props,
           const task_spec& task) -> caf::result<std::vector<check_suite>> {
      std::vector<check_suite> suites(props.size());
      // Made when the first proposal waits for commands; the others'
      // suites are in place by the time any command is back (an answer is
      // a later message).
      std::shared_ptr<scored_batch> batch;
      for (size_t i = 0; i < props.size(); ++i) {
        auto now = score_one(self, props[i], task, [&] {
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
                          process_runner_actor runner) {
  return sys.spawn(scorer, std::move(rules), std::move(runner));
}

} // namespace orch
