#pragma once

// The LLM client's transport for plain http:// endpoints (vLLM, llama.cpp,
// Ollama inside the cluster): HTTP/1.1 POSTs over kept-alive connections
// of its own, driven by epoll on the thread that calls poll(). A request on
// a kept-alive connection costs one sendmsg and one recv; libcurl spent two
// poll calls and a fifth of the client's CPU per request beside them
// (perf, llm_concurrency). Host names are resolved on a thread of the
// transport's and kept for a minute. https:// goes through libcurl
// (bridges/curl_transport.hpp). Not thread-safe apart from wake().

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bridges/http_outcome.hpp"

namespace orch {

class http_transport {
public:
  /// Keeps up to `max_idle` idle connections per endpoint (clamped to
  /// [16, 65536]).
  explicit http_transport(int64_t max_idle);
  ~http_transport();

  http_transport(const http_transport&) = delete;
  http_transport& operator=(const http_transport&) = delete;

  /// Starts a POST of a JSON `body` to an http:// `url` (with a bearer
  /// token when `api_key` is set) that may take `timeout_ms`, connecting
  /// included. The body must live until the POST's outcome comes out of
  /// poll(). A POST on a kept-alive connection that the server closed
  /// before answering (it timed the connection out as the POST went) is
  /// sent once more on a new connection, as libcurl does.
  void post(uint64_t tag, const std::string& url, const std::string& api_key,
            const std::string& body, int32_t timeout_ms);

  /// Handles what is due, then waits at most `wait_ms` (less when a POST's
  /// time runs out sooner; not at all when a POST has ended) for sockets,
  /// wake() or the fd of watch_also(); appends the POSTs that ended to
  /// `done`.
  void poll(int wait_ms, std::vector<http_outcome>& done);

  /// Ends a poll() that waits; the one call that is thread-safe.
  void wake();

  /// Waits at most `timeout_us` for wake() alone (sockets are left for the
  /// next poll()); true when woken.
  bool wait_for_wake(int64_t timeout_us);

  /// Also ends a wait of poll() while `fd` is readable (the epoll set of
  /// the https transport, which the caller then polls).
  void watch_also(int fd);

  /// Aborts every POST still running (their outcomes never come); then
  /// the bodies they were started with may go.
  void abort_all();

  /// Open connections, busy or idle (for tests).
  size_t connections() const;

  /// The numeric addresses of a host name and port, in the order to try.
  using lookup_fn = std::function<std::vector<std::string>(
    const std::string& host, const std::string& port)>;

  /// Looks host names up with `f` instead of getaddrinfo (for tests).
  void use_lookup(lookup_fn f);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace orch
