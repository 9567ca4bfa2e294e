#pragma once

// The NATS bridge (nats.c 3.4.1): the connection, the JetStream streams and
// durable consumers of ARCHITECTURE.md §5, the fetch loops that hand
// consumed messages to the EVENT ROUTER, and the EVENT SINK that publishes
// events to JetStream. Every nats.c object lives in this file pair.

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
  int32_t reconnect_wait_ms = 500;
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

/// One durable pull consumer: stream, durable name, filter subject.
struct nats_consumer_spec {
  std::string stream;
  std::string durable;
  std::string subject;
};

/// The durables of §5 that `serve` consumes.
std::vector<nats_consumer_spec> default_consumers();

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

/// Creates one stream (file storage) when missing.
caf::error ensure_stream(nats_link& link, const std::string& name,
                         const std::string& subject);

/// Publishes `n` messages of `data` asynchronously, each with its own
/// `Nats-Msg-Id`, and waits for every ack; returns the seconds it took. The
/// measure of what the server sustains (benchmarks).
caf::expected<double> publish_burst(nats_link& link, const std::string& subject,
                                    const std::string& data, int n);

/// Spawns the EVENT SINK on NATS: JetStream publish with acks,
/// asynchronous with a bounded number outstanding, `Nats-Msg-Id` = the
/// idempotency key, `traceparent` passed on; an event not acknowledged is
/// sent again. Outbox events are dropped from `queue`'s outbox once
/// acknowledged.
event_sink_actor spawn_nats_sink(caf::actor_system& sys, nats_link_ptr link,
                                 task_queue_actor queue);

/// Waits until every event handed to a NATS sink is acknowledged, at most
/// `limit`; true when nothing is left.
bool flush_sink(caf::actor_system& sys, const event_sink_actor& sink,
                std::chrono::milliseconds limit);

/// The fetch loops of the durable consumers, one thread each.
class nats_consumers {
public:
  virtual ~nats_consumers() = default;
  /// Stops fetching; messages not settled yet are nak'ed for redelivery.
  virtual void stop() = 0;
  /// Messages handed to the router and not settled yet.
  virtual int64_t unsettled() const = 0;
};

/// Creates (js_AddConsumer) and binds the durables and starts fetching.
/// Every message goes to `router`; its verdict acks, naks (with delay) or
/// terminates the message, a terminated one also goes to the dead-letter
/// subject through `sink`.
std::unique_ptr<nats_consumers>
start_consumers(caf::actor_system& sys, nats_link_ptr link,
                std::vector<nats_consumer_spec> specs,
                event_router_actor router, event_sink_actor sink);

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
};

/// Follows `subject` (e.g. "orchestration.>"): from the start of the stream,
/// or only what is published from now on.
caf::expected<std::unique_ptr<nats_follower>>
follow(nats_link& link, const std::string& subject, bool from_start = false);

} // namespace orch
