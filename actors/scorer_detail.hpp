#pragma once

// Text helpers shared by the SCORER (scorer.cpp) and the loading of its rules
// (scorer_rules.cpp); internal to the two.

#include <array>
#include <regex>
#include <string>
#include <string_view>

namespace orch::scorer_detail {

constexpr std::array<char, 256> make_lower_table() {
  std::array<char, 256> tbl{};
  for (int i = 0; i < 256; ++i)
    tbl[static_cast<size_t>(i)]
      = static_cast<char>((i >= 'A' && i <= 'Z') ? i - 'A' + 'a' : i);
  return tbl;
}

inline constexpr auto lower_table = make_lower_table();

/// ASCII lower case of one character.
inline char lower_char(char c) {
  return lower_table[static_cast<unsigned char>(c)];
}

/// ASCII lower case of a text.
std::string to_lower(std::string_view x);

/// Compiles a deny pattern for matching lower-cased content (ECMAScript,
/// letters outside escapes lower-cased). Throws std::regex_error.
std::regex compile_regex(const std::string& pattern);

/// True for the languages checked built-in: JSON and YAML.
bool is_builtin_lang(std::string_view lang);

} // namespace orch::scorer_detail
