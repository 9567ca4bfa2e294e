#pragma once

// The EVENT SINK on NATS JetStream.

#include <chrono>

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
bool flush_sink(caf::actor_system& sys, const event_sink_actor& sink,
                std::chrono::milliseconds limit);

} // namespace orch
