#pragma once

// The EVENT SINK on NATS JetStream.

#include <chrono>
#include <map>
#include <string>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "bridges/nats_link.hpp"

namespace orch {

/// Spawns the EVENT SINK on NATS: JetStream publish with acks,
/// asynchronous with a bounded number outstanding, `Nats-Msg-Id` = the
/// idempotency key, `traceparent` passed on; an event not acknowledged is
/// sent again. Outbox events are dropped from `queue`'s outbox once
/// acknowledged.
event_sink_actor spawn_nats_sink(caf::actor_system& sys, nats_link_ptr link,
                                 task_queue_actor queue);

/// Waits until every event handed to a NATS sink is acknowledged, at most
/// `limit`; true when nothing is left.
/// The sink's counters: "published <subject>" (acknowledged events),
/// publish_errors, dropped (best-effort events past the cap), pending,
/// outstanding. Empty when it does not answer within 2 s.
std::map<std::string, int64_t> sink_counters(caf::actor_system& sys,
                                             const event_sink_actor& sink);

bool flush_sink(caf::actor_system& sys, const event_sink_actor& sink,
                std::chrono::milliseconds limit);

} // namespace orch
