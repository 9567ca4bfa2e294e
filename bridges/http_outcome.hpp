#pragma once

// How an LLM POST ended, as both HTTP transports report it: the plain one
// for http:// endpoints (bridges/http_transport.hpp) and libcurl for
// https:// (bridges/curl_transport.hpp).

#include <cstddef>
#include <cstdint>
#include <string>

namespace orch {

/// How a POST ended.
struct http_outcome {
  enum class kind {
    /// A reply came, of any HTTP status.
    replied,
    /// The POST's own time limit passed.
    timed_out,
    /// The reply was larger than `max_reply_bytes`; it was not kept.
    too_large,
    /// No reply: refused, reset, closed, unresolvable, malformed.
    conn_error,
  };
  /// The tag the POST was started with.
  uint64_t tag = 0;
  kind what = kind::replied;
  /// The HTTP status (replied).
  long status = 0;
  std::string body;
  /// Seconds from a Retry-After header, or -1.
  long retry_after = -1;
  /// What went wrong (all but replied).
  std::string error;
};

/// Largest reply kept (bytes): a larger one ends as `too_large` instead of
/// growing without bound.
constexpr size_t max_reply_bytes = 16 << 20;

} // namespace orch
