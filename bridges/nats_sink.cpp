// The EVENT SINK on NATS: JetStream publish with acknowledgements,
// asynchronous, at most `max_pending` awaiting their ack (the rest wait
// here, so nats.c never stalls and the actor never blocks), Nats-Msg-Id =
// the idempotency key, sent again when an ack does not come.

#include "bridges/nats_sink.hpp"

#include <deque>
#include <thread>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "bridges/nats_link_impl.hpp"
#include "messages/events.hpp"

namespace orch {

namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

/// Best-effort events (progress, agent commands) kept at most while NATS
/// does not acknowledge: past this, new ones are dropped (and counted).
constexpr size_t max_best_effort = 100'000;

/// The sink's own messages: acks from nats.c and its timer.
using nats_sink_actor = event_sink_actor::extend<
  // JetStream's ack of a key, or the error of its publish.
  caf::reacts_to<atom::ack, std::string, std::string>,
  // Retries, resends and outbox clean-up.
  caf::reacts_to<atom::tick>,
  // Events not acknowledged yet.
  caf::replies_to<atom::drain>::with<int32_t>,
  // Counters for /metrics.
  caf::replies_to<atom::stats>::with<std::map<std::string, int64_t>>>;

struct in_flight {
  outbound_event ev;
  steady::time_point sent;
  /// Publish requests waiting for this key.
  std::vector<uint64_t> batches;
  /// Handed to nats.c and not acknowledged yet.
  bool published = false;
};

struct batch {
  size_t left = 0;
  caf::typed_response_promise<int32_t> rp;
};

struct nats_sink_state {
  static inline const char* name = "nats-sink";
  nats_link_ptr link;
  task_queue_actor queue;
  std::unordered_map<std::string, in_flight> pending;
  /// Keys waiting for room (or for the connection).
  std::deque<std::string> waiting;
  /// Published and not acknowledged.
  size_t outstanding = 0;
  std::unordered_map<uint64_t, batch> batches;
  uint64_t next_batch = 0;
  /// Acknowledged outbox keys to drop from the queue.
  std::vector<std::string> delivered;
  bool warned = false;
  uint64_t dropped = 0;
  steady::time_point last_resend_scan;
  /// Acknowledged events, by subject.
  std::map<std::string, int64_t> published;
  /// Publishes JetStream did not acknowledge (sent again).
  int64_t publish_errors = 0;
};

using nats_sink_ptr = nats_sink_actor::stateful_pointer<nats_sink_state>;

/// Hands one event to nats.c; false when it has to wait.
bool publish(nats_sink_ptr self, in_flight& f) {
  auto& st = self->state;
  auto& s = st.link->settings;
  if (!st.link->connected
      || st.outstanding >= static_cast<size_t>(s.max_pending))
    return false;
  auto data = encode_envelope(f.ev, s.msgpack_out);
  auto* m = nats_detail::make_msg(f.ev.subject, data,
                                  event_headers(f.ev, s.msgpack_out));
  if (!m)
    return false;
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = s.publish_ack_wait_ms;
  auto rc = js_PublishMsgAsync(st.link->js, &m, &po);
  if (rc != NATS_OK) {
    if (m)
      natsMsg_Destroy(m);
    if (!st.warned)
      spdlog::warn("nats sink cannot publish {} yet: {}", f.ev.subject,
                   nats_detail::status_text(rc));
    st.warned = true;
    return false;
  }
  st.warned = false;
  f.published = true;
  f.sent = steady::now();
  ++st.outstanding;
  return true;
}

/// Publishes waiting events while there is room.
void pump(nats_sink_ptr self) {
  auto& st = self->state;
  while (!st.waiting.empty()) {
    auto i = st.pending.find(st.waiting.front());
    if (i == st.pending.end() || i->second.published) {
      st.waiting.pop_front();
      continue;
    }
    if (!publish(self, i->second))
      return;
    st.waiting.pop_front();
  }
}

void flush_delivered(nats_sink_ptr self) {
  auto& st = self->state;
  if (st.delivered.empty() || !st.queue)
    return;
  self->request(st.queue, std::chrono::seconds(30), atom::outbox_v,
                std::move(st.delivered))
    .then([](int32_t) {}, [](caf::error&) {});
  st.delivered.clear();
}

void finish_key(nats_sink_ptr self, const std::string& key) {
  auto& st = self->state;
  auto i = st.pending.find(key);
  if (i == st.pending.end())
    return;
  if (i->second.ev.outbox)
    st.delivered.push_back(key);
  ++st.published[i->second.ev.subject];
  for (auto b : i->second.batches) {
    auto j = st.batches.find(b);
    if (j != st.batches.end() && --j->second.left == 0) {
      j->second.rp.deliver(int32_t{1});
      st.batches.erase(j);
    }
  }
  st.pending.erase(i);
}

void enqueue(nats_sink_ptr self, outbound_event ev, uint64_t batch_id) {
  auto& st = self->state;
  if (batch_id == 0 && !ev.outbox && st.pending.size() >= max_best_effort) {
    if (st.dropped++ % 10'000 == 0)
      spdlog::warn("nats sink drops best-effort events while {} wait for "
                   "JetStream ({} dropped)",
                   st.pending.size(), st.dropped);
    return;
  }
  auto key = ev.idempotency_key;
  auto [i, added] = st.pending.try_emplace(key);
  if (batch_id != 0)
    i->second.batches.push_back(batch_id);
  if (!added)
    return; // the same event is already on its way
  i->second.ev = std::move(ev);
  if (!st.waiting.empty() || !publish(self, i->second))
    st.waiting.push_back(std::move(key));
}

nats_sink_actor::behavior_type nats_sink(nats_sink_ptr self, nats_link_ptr link,
                                         task_queue_actor queue) {
  auto& st = self->state;
  st.link = std::move(link);
  st.queue = std::move(queue);
  {
    std::lock_guard<std::mutex> guard{st.link->mtx};
    st.link->sink = caf::actor_cast<caf::actor>(self);
  }
  self->delayed_send(self, milliseconds(100), atom::tick_v);
  return {
    [=](atom::publish,
        std::vector<outbound_event>& evs) -> caf::result<int32_t> {
      auto& st = self->state;
      if (evs.empty())
        return int32_t{0};
      auto id = ++st.next_batch;
      auto rp = self->make_response_promise<int32_t>();
      st.batches.emplace(id, batch{evs.size(), rp});
      for (auto& ev : evs)
        enqueue(self, std::move(ev), id);
      return rp;
    },
    [=](atom::progress, outbound_event& ev) { enqueue(self, std::move(ev), 0); },
    [=](atom::drain) -> caf::result<int32_t> {
      flush_delivered(self);
      return static_cast<int32_t>(self->state.pending.size());
    },
    [=](atom::stats) -> caf::result<std::map<std::string, int64_t>> {
      auto& st = self->state;
      std::map<std::string, int64_t> out;
      for (auto& [subj, n] : st.published)
        out["published " + subj] = n;
      out["publish_errors"] = st.publish_errors;
      out["dropped"] = static_cast<int64_t>(st.dropped);
      out["pending"] = static_cast<int64_t>(st.pending.size());
      out["outstanding"] = static_cast<int64_t>(st.outstanding);
      return out;
    },
    [=](atom::ack, std::string& key, std::string& err) {
      auto& st = self->state;
      auto i = st.pending.find(key);
      if (i == st.pending.end() || !i->second.published)
        return;
      if (st.outstanding > 0)
        --st.outstanding;
      if (!err.empty()) {
        spdlog::debug("nats sink publish of {} not acknowledged: {}", key, err);
        ++st.publish_errors;
        i->second.published = false;
        st.waiting.push_back(key); // sent again
      } else {
        finish_key(self, key);
        if (st.delivered.size() >= 256)
          flush_delivered(self);
      }
      pump(self);
    },
    [=](atom::tick) {
      auto& st = self->state;
      flush_delivered(self);
      pump(self);
      // An ack that never comes (a connection lost in between): send again.
      auto now = steady::now();
      if (now - st.last_resend_scan > std::chrono::seconds(1)) {
        st.last_resend_scan = now;
        auto limit = milliseconds(st.link->settings.publish_ack_wait_ms * 2);
        for (auto& [key, f] : st.pending)
          if (f.published && now - f.sent > limit) {
            f.published = false;
            if (st.outstanding > 0)
              --st.outstanding;
            st.waiting.push_back(key);
          }
        pump(self);
      }
      self->delayed_send(self, milliseconds(100), atom::tick_v);
    },
  };
}

} // namespace

event_sink_actor spawn_nats_sink(caf::actor_system& sys, nats_link_ptr link,
                                 task_queue_actor queue) {
  auto h = sys.spawn(nats_sink, std::move(link), std::move(queue));
  return caf::actor_cast<event_sink_actor>(h);
}

std::map<std::string, int64_t> sink_counters(caf::actor_system& sys,
                                             const event_sink_actor& sink) {
  caf::scoped_actor self{sys};
  std::map<std::string, int64_t> out;
  self
    ->request(caf::actor_cast<nats_sink_actor>(sink), std::chrono::seconds(2),
              atom::stats_v)
    .receive([&](std::map<std::string, int64_t>& x) { out = std::move(x); },
             [](caf::error&) {});
  return out;
}

bool flush_sink(caf::actor_system& sys, const event_sink_actor& sink,
                std::chrono::milliseconds limit) {
  caf::scoped_actor self{sys};
  auto h = caf::actor_cast<nats_sink_actor>(sink);
  auto deadline = steady::now() + limit;
  for (;;) {
    int32_t left = -1;
    self->request(h, std::chrono::seconds(5), atom::drain_v)
      .receive([&](int32_t n) { left = n; }, [](caf::error&) {});
    if (left == 0)
      return true;
    if (steady::now() >= deadline)
      return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

} // namespace orch
