#pragma once

// Text helpers of the SCORER: shared by its actor (scorer.cpp), its checks
// (scorer_checks.cpp), its text analysis (scorer_text.cpp) and the loading of
// its rules (scorer_rules.cpp); internal to them.

#include <algorithm>
#include <array>
#include <cstdint>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/needle_set.hpp"
#include "messages/ascii.hpp"

namespace orch::scorer_detail {

using orch::lower_char;
using orch::needle_set;
using orch::to_lower;

/// Compiles a deny pattern for matching lower-cased content (ECMAScript,
/// letters outside escapes lower-cased). Throws std::regex_error.
std::regex compile_regex(const std::string& pattern);

/// True for the languages checked built-in: JSON and YAML.
bool is_builtin_lang(std::string_view lang);

/// ASCII letter or digit.
inline bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
         || (c >= 'A' && c <= 'Z');
}

/// Whether `x` is empty or white space only.
bool is_blank_view(std::string_view x);

/// Returns the literal text every match of `pattern` starts with, lower
/// case; empty when there is none (anchors, alternations, classes first).
std::string literal_prefix(const std::string& pattern);

/// Longest match a prefix-anchored regex rule may have.
constexpr size_t regex_window = 4096;

/// Makes matched text fit for a report: one line, at most 80 characters, and
/// runs of 16 or more letters and digits (keys, tokens) masked after their
/// first four characters.
std::string redact(std::string_view text);

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
      auto rest = trim_space(line.substr(j));
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

/// Condenses a linter's output to one line: the last line that mentions an
/// error (else the last line), prefixed with the nearest earlier "line N"
/// when it has none itself.
std::string summarize_output(const std::string& output);

} // namespace orch::scorer_detail
