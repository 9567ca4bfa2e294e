#pragma once

// The durable pull consumers of ARCHITECTURE.md §5 and their fetch loops.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "bridges/nats_link.hpp"

namespace orch {

/// One durable pull consumer: stream, durable name, filter subject.
struct nats_consumer_spec {
  std::string stream;
  std::string durable;
  std::string subject;
};

/// The durables of §5 that `serve` consumes.
std::vector<nats_consumer_spec> default_consumers();

/// The fetch loops of the durable consumers, one thread each.
class nats_consumers {
public:
  virtual ~nats_consumers() = default;
  /// Stops fetching; messages not settled yet are nak'ed for redelivery.
  virtual void stop() = 0;
  /// Messages handed to the router and not settled yet.
  virtual int64_t unsettled() const = 0;
  /// "<subject> received|ack|nak|term" -> messages so far.
  virtual std::map<std::string, int64_t> counters() const = 0;
};

/// Creates the durables (js_AddConsumer) without consuming: what
/// `orchestrator provision` does before a deployment.
caf::error ensure_consumers(nats_link& link,
                            const std::vector<nats_consumer_spec>& specs);

/// Creates (js_AddConsumer) and binds the durables and starts fetching.
/// Every message goes to `router`; its verdict acks, naks (with delay) or
/// terminates the message, a terminated one also goes to the dead-letter
/// subject through `sink`.
std::unique_ptr<nats_consumers>
start_consumers(caf::actor_system& sys, nats_link_ptr link,
                std::vector<nats_consumer_spec> specs,
                event_router_actor router, event_sink_actor sink);

} // namespace orch
