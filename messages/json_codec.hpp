#pragma once

// The JSON wire format of the messages that cross a process boundary (NATS
// events, HTTP bodies). Field names are the member names of the structs.
//
// Decoding is lenient on presence and strict on types: a missing or `null`
// field keeps the default of the struct, an unknown field is ignored, while a
// field of the wrong type, an integer out of range or text that is not JSON
// yields `ec::decode_failed` with a message naming the field, e.g.
// "proposal.author_id: expected string, got number". Required fields:
// `proposal.content`, `deliberation_result.proposal`,
// `event_envelope.event_type` and `event_envelope.payload`.

#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "messages/messages.hpp"

namespace orch {

// -- encoding -----------------------------------------------------------------

// Every `to_json` returns one compact JSON object. Invalid UTF-8 in a string
// is replaced by U+FFFD; encoding never throws.

/// Appends `in` as a JSON string literal, quotes included: quotes,
/// backslashes and control characters escaped, valid UTF-8 copied as is,
/// each byte of an invalid sequence replaced by U+FFFD (for JSON written by
/// hand, e.g. a model request or a scripted proposal's JSON block).
void append_json_string(std::string& out, std::string_view in);

/// As `append_json_string`, without the quotes: a part of a JSON string's
/// text (a prompt written into a request body piece by piece).
void append_json_chars(std::string& out, std::string_view in);

/// Whether `in` is one JSON text (RFC 8259): one value with white space
/// around it, strings of valid UTF-8 with valid escapes (surrogates in
/// pairs), and nothing else; a leading byte order mark is allowed. Accepts
/// what nlohmann::json::accept accepts, without building anything, except
/// text with a NUL byte (nlohmann stops reading at one, JSON allows none)
/// and numbers beyond a double's range (JSON's grammar has no limit,
/// nlohmann rejects them).
bool is_json(std::string_view in);

/// `doc` (an nlohmann::json or ordered_json) rendered compactly; invalid
/// UTF-8 in its strings becomes U+FFFD instead of throwing.
template<class Json>
std::string compact_json(const Json& doc) {
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// Encodes `x` as a JSON object.
std::string to_json(const llm_usage& x);

/// Encodes `x` as a JSON object.
std::string to_json(const constraints& x);

/// Encodes `x` as a JSON object; `constraints` is a nested object.
std::string to_json(const task_spec& x);

/// Encodes `x` as a JSON object.
std::string to_json(const proposal& x);

/// Encodes `x` as a JSON object.
std::string to_json(const critique& x);

/// Encodes `x` as a JSON object.
std::string to_json(const policy_result& x);

/// Encodes `x` as a JSON object.
std::string to_json(const lint_result& x);

/// Encodes `x` as a JSON object.
std::string to_json(const dryrun_result& x);

/// Encodes `x` as a JSON object.
std::string to_json(const check_result& x);

/// Encodes `x` as a JSON object with nested policy, lint and dry-run objects.
std::string to_json(const check_suite& x);

/// Encodes `x` as a JSON object.
std::string to_json(const deliberation_result& x);

/// Encodes `x` as a JSON object.
std::string to_json(const agent_failure& x);

/// Encodes `x` as a JSON object.
std::string to_json(const deliberation_outcome& x);

/// Encodes `x` as a JSON object.
std::string to_json(const deliberation_update& x);

/// Encodes `x` as a JSON object.
std::string to_json(const selection& x);

/// Encodes `x` as a JSON object.
std::string to_json(const council_config& x);

/// Encodes `x` as a JSON object.
std::string to_json(const council_info& x);

/// Encodes `x` as a JSON object.
std::string to_json(const node_info& x);

/// Encodes `x` as a JSON object.
std::string to_json(const orchestrator_stats& x);

/// Encodes `x` as a JSON object. A `payload` holding a JSON object or array
/// is embedded as that value; any other payload text is embedded as a JSON
/// string.
std::string to_json(const event_envelope& x);

// -- decoding -----------------------------------------------------------------

/// Decodes a `T` from the JSON object in `text`. Instantiated for every type
/// that has a `to_json` overload. Never throws; on failure returns
/// `ec::decode_failed` with a message naming the offending field. An
/// `event_envelope.payload` that is an object or array is stored as its
/// compact JSON text, a string payload as the string itself.
template<class T>
caf::expected<T> from_json(std::string_view text);

} // namespace orch
