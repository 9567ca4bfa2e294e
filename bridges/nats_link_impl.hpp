#pragma once

// Internal to the NATS bridge: the connection object and helpers shared by
// nats_link.cpp, nats_sink.cpp and nats_consumers.cpp. The only header that
// includes nats.h; nothing outside bridges/nats_*.cpp includes it.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/send.hpp>
#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include "bridges/nats_link.hpp"

namespace orch {

namespace nats_detail {

/// The text of a nats.c status, with the library's last error.
std::string status_text(natsStatus s);

/// Copies subject, data, headers and the delivery count out of nats.c;
/// with `pending`, also JetStream's count of messages after this one
/// (untouched when the message has no JetStream metadata).
inbound_event copy_msg(natsMsg* m, uint64_t* pending = nullptr);

/// A message with headers (empty values are left out); null on failure.
natsMsg* make_msg(const std::string& subject, const std::string& data,
                  const std::map<std::string, std::string>& headers);

} // namespace nats_detail

class nats_link {
public:
  explicit nats_link(nats_settings s) : settings(std::move(s)) {
  }

  ~nats_link() {
    closing = true;
    if (js)
      jsCtx_Destroy(js);
    drop_connection();
    if (opts)
      natsOptions_Destroy(opts);
  }

  /// Closes and destroys the connection, if any, once nats.c has run its
  /// last callback for it.
  void drop_connection() {
    if (!nc)
      return;
    natsConnection_Close(nc);
    // nats.c runs the connection callbacks on its own thread, the closed
    // callback last: this object must outlive it (a callback writing into
    // a freed link corrupted the heap now and then).
    std::unique_lock<std::mutex> guard{closed_mtx};
    closed_cv.wait_for(guard, std::chrono::seconds(5),
                       [this] { return closed_seen; });
    closed_seen = false;
    guard.unlock();
    natsConnection_Destroy(nc);
    nc = nullptr;
  }

  nats_settings settings;
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  std::atomic<bool> connected{false};
  std::atomic<bool> closing{false};
  std::atomic<bool> streams_ready{false};
  mutable std::mutex mtx;
  std::string reason = "connecting";
  /// Nonce signatures that nats.c could not have sent (see
  /// nats_link.cpp), each turned into a failed attempt and tried again.
  std::atomic<int64_t> zero_signatures{0};
  /// Where the ack handler reports (the sink actor).
  caf::actor sink;
  /// Set by the closed callback, the last one nats.c runs.
  std::mutex closed_mtx;
  std::condition_variable closed_cv;
  bool closed_seen = false;

  void set_reason(std::string why) {
    std::lock_guard<std::mutex> guard{mtx};
    reason = std::move(why);
  }

  static void on_disconnected(natsConnection*, void* closure) {
    auto* self = static_cast<nats_link*>(closure);
    self->connected = false;
    if (self->closing)
      return;
    self->set_reason("disconnected from NATS at "
                     + redact_url(self->settings.url) + "; reconnecting");
    spdlog::warn("nats bridge lost the connection to {}; reconnecting",
                 redact_url(self->settings.url));
  }

  static void on_reconnected(natsConnection*, void* closure) {
    auto* self = static_cast<nats_link*>(closure);
    self->connected = true;
    self->set_reason("");
    spdlog::info("nats bridge connected to {}",
                 redact_url(self->settings.url));
  }

  /// Backoff between reconnection attempts: the configured wait doubled
  /// per attempt (one attempt goes through every server of the pool), at
  /// most 5 s, with up to 20 % jitter.
  static int64_t reconnect_delay(natsConnection*, int attempts, void* closure) {
    auto* self = static_cast<nats_link*>(closure);
    auto base = static_cast<int64_t>(self->settings.reconnect_wait_ms);
    auto delay = std::min<int64_t>(base << std::min(attempts - 1, 10), 5000);
    auto jitter = delay / 5 > 0 ? std::rand() % (delay / 5 + 1) : 0;
    return delay + jitter;
  }

  static void on_closed(natsConnection*, void* closure) {
    auto* self = static_cast<nats_link*>(closure);
    self->connected = false;
    self->set_reason("connection to NATS closed");
    // Notified under the lock: the destructor may return (and free the
    // condition variable) as soon as it sees closed_seen, which it cannot
    // before this unlocks (ThreadSanitizer saw notify_all run into the
    // destruction).
    std::lock_guard<std::mutex> guard{self->closed_mtx};
    self->closed_seen = true;
    self->closed_cv.notify_all();
  }

  /// JetStream acks of asynchronous publishes (a nats.c thread).
  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae,
                     void* closure) {
    auto* self = static_cast<nats_link*>(closure);
    const char* key = nullptr;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &key);
    std::string k = key ? key : "";
    std::string err;
    if (pae)
      err = pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err);
    natsMsg_Destroy(msg);
    std::lock_guard<std::mutex> guard{self->mtx};
    if (self->sink)
      caf::anon_send(caf::actor_cast<caf::actor>(self->sink), atom::ack_v,
                     std::move(k), std::move(err));
  }
};

} // namespace orch
