#pragma once

/// @file
/// The project's own OpenAI-compatible test server: a stand-in for vLLM in
/// tests and benchmarks of the LLM client. Event-driven (libevent evhttp, a
/// single loop thread, one timer per delayed reply), with configurable
/// latency and injectable faults.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace orch::test {

/// What to do with one incoming chat-completion request.
enum class stub_fault {
  /// Normal 200 reply after the configured latency.
  none,
  /// Status 500 with an OpenAI-style JSON error body.
  http_500,
  /// Status 429 with a JSON error body (and `Retry-After` when requested).
  http_429,
  /// Never answer: the request is held until the client closes the
  /// connection, then freed.
  timeout,
  /// Status 200, Content-Type application/json, body `this is not json {`.
  garbage_json,
  /// Status 200, valid completion whose choices[0].message.content is "".
  empty_content,
  /// Close the socket without sending any response (acts immediately).
  drop_connection,
  /// Status 503 with a JSON error body (and `Retry-After` when requested).
  http_503,
};

/// A fault plus its parameters.
struct stub_fault_spec {
  /// The fault to apply.
  stub_fault kind = stub_fault::none;
  /// For 429/503: when >= 0 the reply carries `Retry-After: N`.
  int retry_after_s = -1;
};

/// Copy of one received `POST /v1/chat/completions` request.
struct stub_request_record {
  /// Request path as sent (including any query string).
  std::string path;
  /// Raw request body.
  std::string body;
  /// Value of the Authorization header ("" when absent).
  std::string authorization;
  /// Arrival time: std::chrono::steady_clock, milliseconds since its epoch.
  int64_t received_ms = 0;
};

/// Raises RLIMIT_NOFILE's soft limit to the hard limit (process-wide).
/// Returns the resulting soft limit, or -1 when it could not be read.
int64_t raise_fd_limit();

/// OpenAI-compatible HTTP server that runs its event loop on its own thread.
///
/// Endpoints: `POST /v1/chat/completions`, `GET /v1/models`, `GET /health`;
/// anything else gets a 404 JSON error. Faults and latency only apply to
/// chat completions. All public member functions are thread-safe, but none
/// may be called from inside the server's own loop thread.
///
/// While a reply is pending the server watches the socket, so a client that
/// gives up (closes) is forgotten at once; a client that half-closes its
/// sending side (shutdown(SHUT_WR)) is treated the same way.
class llm_stub_server {
public:
  /// Construction parameters.
  struct options {
    /// Address to listen on (numeric IPv4/IPv6 or a resolvable name).
    std::string host = "127.0.0.1";
    /// Port to listen on; 0 picks a free one (see port()).
    uint16_t port = 0;
    /// Delay before each chat-completion reply, in milliseconds.
    int latency_ms = 0;
    /// Model name reported when a request names none, and by /v1/models.
    std::string model = "stub-model";
    /// How much earlier than due the first delayed reply's timer is set;
    /// from then on the server learns it from how late its timers fire
    /// (a test sets it to make timers fire early).
    int timer_lead_us = 0;
  };

  /// Creates a stopped server.
  explicit llm_stub_server(options opts);

  /// Stops the loop, joins the thread and frees everything.
  ~llm_stub_server();

  llm_stub_server(const llm_stub_server&) = delete;
  llm_stub_server& operator=(const llm_stub_server&) = delete;

  /// Raises RLIMIT_NOFILE, binds (listen backlog 4096) and starts the loop
  /// thread. Returns false on failure or when already running.
  bool start();

  /// Stops the loop and joins its thread; pending requests are dropped.
  /// Idempotent; start() may be called again afterwards.
  void stop();

  /// The bound port (valid after a successful start()).
  uint16_t port() const;

  /// Base URL, e.g. "http://127.0.0.1:PORT" (no trailing slash).
  std::string url() const;

  /// Sets the latency for requests received from now on.
  void set_latency_ms(int ms);

  /// Queues faults for the next requests in FIFO order, one per request;
  /// once the queue is empty the default fault applies again. Malformed
  /// requests (answered 400) do not consume a fault.
  void push_faults(std::vector<stub_fault_spec> faults);

  /// Fault applied to every request while the FIFO is empty.
  void set_default_fault(stub_fault_spec f);

  /// Copies of all received chat-completion requests (malformed ones
  /// included), in arrival order.
  std::vector<stub_request_record> requests() const;

  /// Number of chat-completion requests received.
  size_t request_count() const;

  /// Highest number of concurrently pending chat-completion requests seen.
  size_t max_in_flight() const;

  /// Number of chat-completion requests currently pending (received but
  /// neither answered, dropped nor abandoned by the client).
  size_t in_flight() const;

  /// Clears records, the fault FIFO, the default fault and the counters
  /// (max_in_flight restarts from the current in_flight). Latency stays.
  void reset();

  /// Implementation, public only so that C callbacks can reach it.
  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace orch::test
