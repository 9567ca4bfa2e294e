#pragma once

// ASCII lower case, by table: the SCORER's and the `scripted` agent's
// needle search, the plan parsers, configuration values and ids. ASCII white
// space and trimming (the SCORER's texts, credentials files). And lower-case
// hex digits for ids and hashes.

#include <array>
#include <cstdint>
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

/// ASCII white space (what std::isspace means in the C locale).
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
         || c == '\v';
}

/// `x` without leading and trailing white space.
inline std::string_view trim_space(std::string_view x) {
  while (!x.empty() && is_space(x.front()))
    x.remove_prefix(1);
  while (!x.empty() && is_space(x.back()))
    x.remove_suffix(1);
  return x;
}

/// Appends `x` in lower-case hex with at least `min_digits` digits (as
/// printf's `%0*llx`, without its cost).
inline void append_hex(std::string& out, uint64_t x, int min_digits) {
  char buf[16];
  int n = 0;
  do {
    buf[n++] = "0123456789abcdef"[x & 15];
    x >>= 4;
  } while (x != 0);
  for (; n < min_digits && n < 16; ++n)
    buf[n] = '0';
  while (n > 0)
    out += buf[--n];
}

} // namespace orch
