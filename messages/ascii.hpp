#pragma once

// ASCII lower case, by table: the SCORER's and the `scripted` agent's
// needle search, the plan parsers, configuration values and ids.

#include <array>
#include <string>
#include <string_view>

namespace orch {

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
inline std::string to_lower(std::string_view x) {
  std::string out{x};
  for (auto& c : out)
    c = lower_char(c);
  return out;
}

} // namespace orch
