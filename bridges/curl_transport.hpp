#pragma once

// The LLM client's HTTP transport: POSTs over libcurl's multi interface,
// driven by epoll on the thread that calls poll(). It knows sockets, kept-alive
// connections, curl handles and their shards; what to send, whom to answer,
// when to retry and when an endpoint counts as failing is the client's
// (bridges/llm_client.cpp). Not thread-safe apart from wake().

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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
    /// No reply: refused, reset, closed, unresolvable.
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
  /// What went wrong, in curl's words (all but replied).
  std::string error;
};

/// Largest reply kept (bytes): a larger one ends as `too_large` instead of
/// growing without bound.
constexpr size_t max_reply_bytes = 16 << 20;

class curl_transport {
public:
  /// Keeps up to `max_idle` idle connections per multi handle (clamped to
  /// [16, 65536]).
  explicit curl_transport(int64_t max_idle);
  ~curl_transport();

  curl_transport(const curl_transport&) = delete;
  curl_transport& operator=(const curl_transport&) = delete;

  /// Starts a POST of a JSON `body` to `url` (with a bearer token when
  /// `api_key` is set) that may take `timeout_ms`. The strings must live
  /// until the POST's outcome comes out of poll().
  void post(uint64_t tag, const std::string& url, const std::string& api_key,
            const std::string& body, int32_t timeout_ms);

  /// Runs curl for what is due, then waits at most `wait_ms` (less when
  /// curl has a deadline sooner; not at all when a POST has ended) for
  /// sockets or wake(); appends the POSTs that ended to `done`.
  void poll(int wait_ms, std::vector<http_outcome>& done);

  /// Ends a poll() that waits; the one call that is thread-safe.
  void wake();

  /// Aborts every POST still running (their outcomes never come); then
  /// the strings they were started with may go.
  void abort_all();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace orch
