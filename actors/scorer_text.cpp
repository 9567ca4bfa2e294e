// The SCORER's text analysis: blank texts, the literal prefix of a deny
// pattern, redaction of matched text, rubric keywords, fenced code blocks
// and summaries of a linter's output.

#include "actors/scorer.hpp"
#include "actors/scorer_detail.hpp"

#include <algorithm>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace orch {

namespace scorer_detail {

namespace {

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

} // namespace

bool is_blank_view(std::string_view x) {
  return trim_space(x).empty();
}

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

std::string summarize_output(const std::string& output) {
  std::vector<std::string_view> lines;
  std::string_view all{output};
  size_t pos = 0;
  while (pos < all.size()) {
    auto eol = all.find('\n', pos);
    auto next = eol == std::string_view::npos ? all.size() : eol + 1;
    auto line = trim_space(all.substr(pos, next - pos));
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

} // namespace scorer_detail

namespace {

using namespace scorer_detail;

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

} // namespace orch
