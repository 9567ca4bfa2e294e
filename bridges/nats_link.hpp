#pragma once

// The NATS link (nats.c 3.4.1): the connection with its authentication, TLS
// and reconnection, the JetStream streams of ARCHITECTURE.md §5, and the
// calls of clients (`submit`, tests, benchmarks). The EVENT SINK and the
// durable consumers build on it (nats_sink.hpp, nats_consumers.hpp).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/actors.hpp"

namespace orch {

/// How to reach NATS and how to consume and publish.
struct nats_settings {
  std::string url = "nats://127.0.0.1:4222";
  /// Credentials file (NATS_CREDS), token, user and password.
  std::string creds_file;
  std::string token;
  std::string user;
  std::string password;
  /// TLS: CA file, client certificate and key (any set enables TLS).
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string name = "orchestrator";
  /// Keep trying to connect (serve) instead of failing at once (one-shot
  /// commands).
  bool retry_forever = true;
  int32_t connect_timeout_ms = 2000;
  /// First wait between reconnection attempts; doubled per attempt up to
  /// 5 s.
  int32_t reconnect_wait_ms = 250;
  /// Asynchronous publishes awaiting their JetStream ack at most.
  int32_t max_pending = 4096;
  /// A publish without an ack after this long is sent again.
  int32_t publish_ack_wait_ms = 10000;
  /// Publish envelopes as msgpack instead of JSON.
  bool msgpack_out = false;
  /// Consumers: redelivery after this long without ack, deliveries at most.
  /// A message still failing transiently at its last delivery is
  /// dead-lettered instead of dropped; naks back off 1 s, 2 s ... 30 s, so
  /// 50 deliveries ride out about 20 minutes of a dependency being down.
  int32_t ack_wait_ms = 60000;
  int32_t max_deliver = 50;
  int32_t fetch_batch = 64;
  /// Messages handed to the router and not settled yet, per consumer.
  int32_t max_unsettled = 512;
};

class nats_link;

/// A shared connection (and JetStream context).
using nats_link_ptr = std::shared_ptr<nats_link>;

/// Connects. With `retry_forever` it returns at once and keeps connecting in
/// the background (readiness says when it is up); otherwise it fails within
/// `connect_timeout_ms` with a message naming the URL.
caf::expected<nats_link_ptr> nats_connect(const nats_settings& settings);

/// Whether the link is connected, and why not.
struct nats_health {
  bool connected = false;
  bool streams_ready = false;
  std::string reason;
};

nats_health health(const nats_link& link);

/// Creates the streams of §5 when missing; a stream that exists with other
/// settings is reported (logged, returned in the text) and left alone.
caf::error ensure_streams(nats_link& link);

/// Creates one stream (file storage, or memory with `in_memory`) when
/// missing; messages older than `max_age` are dropped when it is set
/// (benchmarks that run for hours).
caf::error ensure_stream(nats_link& link, const std::string& name,
                         const std::string& subject,
                         std::chrono::seconds max_age = {},
                         bool in_memory = false);

/// Publishes `n` messages of `data` asynchronously, each with its own
/// `Nats-Msg-Id`, and waits for every ack; returns the seconds it took. The
/// measure of what the server sustains (benchmarks).
caf::expected<double> publish_burst(nats_link& link, const std::string& subject,
                                    const std::string& data, int n);

/// Publishes one message to JetStream and waits for its ack (clients such
/// as `orchestrator submit`).
caf::error publish_sync(nats_link& link, const std::string& subject,
                        const std::string& data,
                        const std::map<std::string, std::string>& headers);

/// An ephemeral JetStream subscription on ORCHESTRATOR_EVENTS, read on the
/// calling thread: every event as stored (duplicates already dropped).
class nats_follower {
public:
  virtual ~nats_follower() = default;
  /// The next message, or nothing after `timeout`.
  virtual std::optional<inbound_event> next(std::chrono::milliseconds timeout)
    = 0;
  /// Whether the message `next` returned last was the last one the stream
  /// held for the subject when JetStream delivered it: a reader that wants
  /// the stream as it is now stops there instead of waiting for a quiet
  /// spell, which a busy stream may never have.
  virtual bool caught_up() const = 0;
};

/// Follows `subject` (e.g. "orchestration.>"): from the start of the stream,
/// or only what is published from now on.
caf::expected<std::unique_ptr<nats_follower>>
follow(nats_link& link, const std::string& subject, bool from_start = false);

} // namespace orch
