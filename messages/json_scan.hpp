#pragma once

// JSON read in one pass, without building a document: the syntax check
// behind `is_json` (messages/json_codec.hpp), and the pieces with which a
// reader picks a few fields out of a text that passed it (the LLM client's
// chat completions, actors/vllm_agent.cpp), at a fraction of nlohmann's
// cost per byte.

#include <cstddef>
#include <string>
#include <string_view>

namespace orch::json_scan {

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

// The rest reads a text that `is_json` accepted; on any other it may stop
// early but never reads past the end.

/// Moves `i` past white space (and a byte order mark at the start).
void skip_space(std::string_view in, size_t& i);

/// Moves `i` past the value that starts at `in[i]`.
void skip_value(std::string_view in, size_t& i);

/// Reads the string literal at `in[i]` (a quote) into `out`, escapes
/// decoded, and moves `i` past it.
void read_string(std::string_view in, size_t& i, std::string& out);

/// Whether the string literal at `in[i]` is `word` once decoded; moves `i`
/// past it.
bool string_equals(std::string_view in, size_t& i, std::string_view word);

} // namespace orch::json_scan
