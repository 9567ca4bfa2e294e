#pragma once

// The msgpack wire format of the messages that cross a process boundary
// (NATS messages with `Content-Type: application/msgpack`). Every struct is
// a msgpack map keyed by the same field names as the JSON format, so the
// encoding is self-describing and tolerant of field order. Unlike JSON,
// `event_envelope.payload` is a plain string field.
//
// Decoding follows the rules of the JSON codec: a missing or nil field keeps
// the default of the struct, unknown keys are ignored, and anything malformed
// yields `ec::decode_failed` with a message naming the field, e.g.
// "proposal.author_id: expected string, got integer". Required fields:
// `proposal.content`, `deliberation_result.proposal`,
// `event_envelope.event_type` and `event_envelope.payload`.

#include <cstddef>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "messages/messages.hpp"

namespace orch {

// -- encoding -----------------------------------------------------------------

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const llm_usage& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const constraints& x);

/// Encodes `x` as a msgpack map; `constraints` is a nested map.
std::vector<char> to_msgpack(const task_spec& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const proposal& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const critique& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const policy_result& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const lint_result& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const dryrun_result& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const check_result& x);

/// Encodes `x` as a msgpack map with nested policy, lint and dry-run maps.
std::vector<char> to_msgpack(const check_suite& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const deliberation_result& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const agent_failure& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const deliberation_outcome& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const deliberation_update& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const selection& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const council_config& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const council_info& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const node_info& x);

/// Encodes `x` as a msgpack map.
std::vector<char> to_msgpack(const orchestrator_stats& x);

/// Encodes `x` as a msgpack map; `payload` is a string field.
std::vector<char> to_msgpack(const event_envelope& x);

// -- decoding -----------------------------------------------------------------

/// Decodes a `T` from exactly `size` bytes at `data`, which must hold one
/// msgpack map and nothing after it. Instantiated for every type that has a
/// `to_msgpack` overload. Never throws; on failure returns
/// `ec::decode_failed` with a message naming the offending field. Length
/// prefixes are checked against `size` and nesting is limited to 64 levels.
template<class T>
caf::expected<T> from_msgpack(const char* data, size_t size);

/// Decodes a `T` from the msgpack map in `bytes`.
template<class T>
caf::expected<T> from_msgpack(const std::vector<char>& bytes);

} // namespace orch
