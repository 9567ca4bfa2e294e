#pragma once

// The LLM client's transport for https:// endpoints (and for http:// when
// asked): POSTs over libcurl's multi interface, driven by epoll on the
// thread that calls poll(); plain http:// has its own
// (bridges/http_transport.hpp). It knows sockets, kept-alive
// connections, curl handles and their shards; what to send, whom to answer,
// when to retry and when an endpoint counts as failing is the client's
// (bridges/llm_client.cpp). Not thread-safe: the client's thread drives
// it from the loop of its http:// transport, whose wake-up ends both
// waits.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bridges/http_outcome.hpp"

namespace orch {

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
  /// sockets; appends the POSTs that ended to `done`.
  void poll(int wait_ms, std::vector<http_outcome>& done);

  /// The epoll set of curl's sockets: readable while one of them is
  /// (another transport's poll() may wait on it, then call poll(0)).
  int fd() const;

  /// Milliseconds until curl's next time-out is due (0 when it is), or
  /// `limit` when none is sooner.
  int due_in_ms(int limit) const;

  /// Aborts every POST still running (their outcomes never come); then
  /// the strings they were started with may go.
  void abort_all();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace orch
