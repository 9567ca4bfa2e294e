#pragma once

// JSON read in one pass, without building a document: the syntax check
// behind `is_json` (messages/json_codec.hpp), and the pieces with which a
// reader checks a text as it picks a few fields out of it (the LLM
// client's chat completions, actors/vllm_agent.cpp), at a fraction of
// nlohmann's cost per byte.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace orch::json_scan {

/// The index of the first byte at or after `in[i]` that a JSON string
/// cannot hold as it is: a control character, a quote, a backslash, or a
/// byte of 0x80 or above (UTF-8, checked on its own); `in.size()` when
/// there is none. Sixteen bytes per step where SSE2 is (every x86-64),
/// else eight: prompts and replies are mostly such runs, and a byte at a
/// time was a sixth of the LLM client's instructions (callgrind,
/// llm_concurrency).
inline size_t plain_run(std::string_view in, size_t i) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                "the first match is the lowest byte");
#if defined(__SSE2__)
  const auto space = _mm_set1_epi8(0x20);
  const auto quote = _mm_set1_epi8('"');
  const auto backslash = _mm_set1_epi8('\\');
  while (i + 16 <= in.size()) {
    auto v
      = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in.data() + i));
    // Compared as signed bytes, 0x80 and above are below 0x20 too.
    auto hit = _mm_or_si128(_mm_cmplt_epi8(v, space),
                            _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                         _mm_cmpeq_epi8(v, backslash)));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
    if (mask != 0)
      return i + static_cast<size_t>(__builtin_ctz(mask));
    i += 16;
  }
#endif
  constexpr uint64_t ones = 0x0101010101010101ULL;
  constexpr uint64_t highs = 0x8080808080808080ULL;
  while (i + 8 <= in.size()) {
    uint64_t w;
    std::memcpy(&w, in.data() + i, 8);
    // A byte below 0x20, or equal to '"' or '\\' (zero after the XOR), sets
    // its high bit in these; the lowest such bit is exact.
    auto below = (w - ones * 0x20) & ~w;
    auto q = w ^ (ones * '"');
    auto b = w ^ (ones * '\\');
    auto any = ((below | ((q - ones) & ~q) | ((b - ones) & ~b)) | w) & highs;
    if (any != 0)
      return i + (static_cast<size_t>(__builtin_ctzll(any)) >> 3);
    i += 8;
  }
  for (; i < in.size(); ++i) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
      return i;
  }
  return i;
}

/// The length of the well-formed UTF-8 sequence at `in[i]` (a byte of 0x80
/// or above), or 0 when there is none (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF).
size_t utf8_sequence(std::string_view in, size_t i);

/// Moves `i` past the string literal that starts at `in[i]` (a quote);
/// false when it is not a valid one.
bool skip_string(std::string_view in, size_t& i);

/// Moves `i` past the number that starts at `in[i]`; false when it is not
/// a valid one.
bool skip_number(std::string_view in, size_t& i);

/// Moves `i` past the value that starts at `in[i]` (white space before it
/// skipped); false when there is no valid one. The syntax check of
/// `is_json`, for a part of a text: a reader that checks as it reads
/// passes the values it does not want through this.
bool check_value(std::string_view in, size_t& i);

/// Moves `i` past white space (and a byte order mark at the start).
void skip_space(std::string_view in, size_t& i);

/// Reads the string literal at `in[i]` (a quote) into `out`, escapes
/// decoded, and moves `i` past it; false when it is not a valid one (as
/// `skip_string`), with `out` unspecified.
bool read_string(std::string_view in, size_t& i, std::string& out);

/// As `read_string`, without a copy when the literal has no escapes (an
/// object's keys): `out` then views `in`; otherwise the decoded text goes
/// into `buf` and `out` views that.
bool read_string_view(std::string_view in, size_t& i, std::string& buf,
                      std::string_view& out);

} // namespace orch::json_scan
