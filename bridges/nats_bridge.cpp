#include "bridges/nats_bridge.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include "messages/events.hpp"

namespace orch {

// -- helpers ------------------------------------------------------------------

std::vector<nats_consumer_spec> default_consumers() {
  return {
    {"PLANNING_EVENTS", "orch-planning-plan-approved", "planning.plan.approved"},
    {"PLANNING_EVENTS", "orch-planning-story-transitions",
     "planning.story.transitioned"},
    {"AGENT_RESPONSES", "orch-agent-response-completed-v3",
     "agent.response.completed"},
    {"AGENT_RESPONSES", "orch-agent-response-failed-v3",
     "agent.response.failed"},
    {"AGENT_RESPONSES", "orch-agent-response-progress-v3",
     "agent.response.progress"},
  };
}

namespace {

std::string status_text(natsStatus s) {
  auto last = nats_GetLastError(nullptr);
  std::string out = natsStatus_GetText(s);
  if (last && *last && out != last)
    out += std::string{" ("} + last + ")";
  return out;
}

} // namespace

// -- the link -----------------------------------------------------------------

class nats_link {
public:
  explicit nats_link(nats_settings s) : settings(std::move(s)) {
  }

  ~nats_link() {
    closing = true;
    if (js)
      jsCtx_Destroy(js);
    if (nc) {
      natsConnection_Close(nc);
      natsConnection_Destroy(nc);
    }
    if (opts)
      natsOptions_Destroy(opts);
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
  /// Where the ack handler reports (the sink actor).
  std::atomic<caf::abstract_actor*> sink_raw{nullptr};
  caf::actor sink;

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

  static void on_closed(natsConnection*, void* closure) {
    auto* self = static_cast<nats_link*>(closure);
    self->connected = false;
    self->set_reason("connection to NATS closed");
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

caf::expected<nats_link_ptr> nats_connect(const nats_settings& s) {
  auto link = std::make_shared<nats_link>(s);
  auto fail = [&](const std::string& what, natsStatus st) {
    return caf::make_error(ec::invalid_config,
                           what + ": " + status_text(st));
  };
  natsStatus st = natsOptions_Create(&link->opts);
  if (st != NATS_OK)
    return fail("NATS options", st);
  auto* o = link->opts;
  natsOptions_SetURL(o, s.url.c_str());
  natsOptions_SetName(o, s.name.c_str());
  natsOptions_SetTimeout(o, s.connect_timeout_ms);
  natsOptions_SetMaxReconnect(o, -1);
  natsOptions_SetReconnectWait(o, s.reconnect_wait_ms);
  natsOptions_SetReconnectJitter(o, 100, 1000);
  natsOptions_SetDisconnectedCB(o, nats_link::on_disconnected, link.get());
  natsOptions_SetReconnectedCB(o, nats_link::on_reconnected, link.get());
  natsOptions_SetClosedCB(o, nats_link::on_closed, link.get());
  if (!s.creds_file.empty()
      && (st = natsOptions_SetUserCredentialsFromFiles(o, s.creds_file.c_str(),
                                                       nullptr))
           != NATS_OK)
    return fail("NATS_CREDS file " + s.creds_file, st);
  if (!s.token.empty())
    natsOptions_SetToken(o, s.token.c_str());
  if (!s.user.empty())
    natsOptions_SetUserInfo(o, s.user.c_str(), s.password.c_str());
  if (!s.tls_ca.empty() || !s.tls_cert.empty()) {
    natsOptions_SetSecure(o, true);
    if (!s.tls_ca.empty()
        && (st = natsOptions_LoadCATrustedCertificates(o, s.tls_ca.c_str()))
             != NATS_OK)
      return fail("NATS_TLS_CA " + s.tls_ca, st);
    if (!s.tls_cert.empty()
        && (st = natsOptions_LoadCertificatesChain(o, s.tls_cert.c_str(),
                                                   s.tls_key.c_str()))
             != NATS_OK)
      return fail("NATS_TLS_CERT/NATS_TLS_KEY", st);
  }
  if (s.retry_forever)
    natsOptions_SetRetryOnFailedConnect(o, true, nats_link::on_reconnected,
                                        link.get());
  st = natsConnection_Connect(&link->nc, o);
  if (st == NATS_OK) {
    link->connected = true;
    link->set_reason("");
    spdlog::info("nats bridge connected to {}", redact_url(s.url));
  } else if (st == NATS_NOT_YET_CONNECTED) {
    link->set_reason("NATS at " + redact_url(s.url) + " is not reachable yet");
    spdlog::warn("nats bridge cannot reach {} yet; retrying",
                 redact_url(s.url));
  } else {
    return caf::make_error(ec::invalid_config,
                           "NATS at " + redact_url(s.url)
                             + " is unreachable: " + status_text(st));
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = s.max_pending;
  jo.PublishAsync.AckHandler = nats_link::on_ack;
  jo.PublishAsync.AckHandlerClosure = link.get();
  jo.PublishAsync.StallWait = 50;
  if ((st = natsConnection_JetStream(&link->js, link->nc, &jo)) != NATS_OK)
    return fail("JetStream context", st);
  return link;
}

nats_health health(const nats_link& link) {
  nats_health out;
  out.connected = link.connected;
  out.streams_ready = link.streams_ready;
  std::lock_guard<std::mutex> guard{link.mtx};
  out.reason = link.reason;
  if (out.connected && !out.streams_ready && out.reason.empty())
    out.reason = "JetStream streams not created yet";
  return out;
}

caf::error ensure_stream(nats_link& link, const std::string& name,
                         const std::string& subject) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  const char* subjects[] = {subject.c_str()};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  auto st = js_AddStream(&si, link.js, &cfg, nullptr, &jerr);
  if (si)
    jsStreamInfo_Destroy(si);
  if (st == NATS_OK)
    return caf::none;
  if (jerr == JSStreamNameExistErr) {
    spdlog::warn("nats bridge found stream {} with other settings than {} on "
                 "file storage; left alone",
                 name, subject);
    return caf::none;
  }
  return caf::make_error(ec::internal,
                         "stream " + name + ": " + status_text(st)
                           + (jerr ? " (jerr " + std::to_string(jerr) + ")"
                                   : ""));
}

caf::error ensure_streams(nats_link& link) {
  static constexpr std::pair<const char*, const char*> defs[]
    = {{"PLANNING_EVENTS", "planning.>"},
       {"ORCHESTRATOR_EVENTS", "orchestration.>"},
       {"AGENT_COMMANDS", "agent.cmd.>"},
       {"AGENT_RESPONSES", "agent.response.>"}};
  for (auto& [name, subject] : defs)
    if (auto err = ensure_stream(link, name, subject)) {
      link.set_reason(render(err));
      return err;
    }
  link.streams_ready = true;
  link.set_reason("");
  return caf::none;
}

caf::expected<double> publish_burst(nats_link& link, const std::string& subject,
                                    const std::string& data, int n) {
  auto t0 = std::chrono::steady_clock::now();
  auto prefix = std::to_string(now_ms()) + "-";
  for (int i = 0; i < n; ++i) {
    auto id = prefix + std::to_string(i);
    natsMsg* m = nullptr;
    natsMsg_Create(&m, subject.c_str(), nullptr, data.data(),
                   static_cast<int>(data.size()));
    natsMsgHeader_Set(m, "Nats-Msg-Id", id.c_str());
    natsStatus st;
    // At MaxPending a publish stalls and may time out: try again.
    while ((st = js_PublishMsgAsync(link.js, &m, nullptr)) == NATS_TIMEOUT)
      ;
    if (st != NATS_OK) {
      natsMsg_Destroy(m);
      return caf::make_error(ec::internal, "publish: " + status_text(st));
    }
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 60000;
  auto st = js_PublishAsyncComplete(link.js, &po);
  if (st != NATS_OK)
    return caf::make_error(ec::internal, "acks: " + status_text(st));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
    .count();
}

// -- publishing ---------------------------------------------------------------

namespace {

natsMsg* make_msg(const std::string& subject, const std::string& data,
                  const std::map<std::string, std::string>& headers) {
  natsMsg* m = nullptr;
  if (natsMsg_Create(&m, subject.c_str(), nullptr, data.data(),
                     static_cast<int>(data.size()))
      != NATS_OK)
    return nullptr;
  for (auto& [k, v] : headers)
    if (!v.empty())
      natsMsgHeader_Set(m, k.c_str(), v.c_str());
  return m;
}

std::map<std::string, std::string> headers_of(const outbound_event& ev,
                                              bool msgpack) {
  std::map<std::string, std::string> h{{"Nats-Msg-Id", ev.idempotency_key}};
  if (!ev.traceparent.empty())
    h["traceparent"] = ev.traceparent;
  if (!ev.correlation_id.empty())
    h["correlation_id"] = ev.correlation_id;
  h["Content-Type"] = msgpack ? "application/msgpack" : "application/json";
  return h;
}

/// The sink's own messages: acks from nats.c and its retry timer.
using nats_sink_actor = event_sink_actor::extend<
  // JetStream's ack of a key, or the error of its publish.
  caf::reacts_to<atom::ack, std::string, std::string>,
  // Retry timer and outbox clean-up.
  caf::reacts_to<atom::tick>,
  // Events not acknowledged yet.
  caf::replies_to<atom::drain>::with<int32_t>>;

struct in_flight {
  outbound_event ev;
  std::chrono::steady_clock::time_point sent;
  /// Batches (publish requests) waiting for this key.
  std::vector<uint64_t> batches;
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
  std::unordered_map<uint64_t, batch> batches;
  uint64_t next_batch = 0;
  /// Acknowledged outbox keys to drop from the queue.
  std::vector<std::string> delivered;
  bool warned = false;
  uint64_t dropped = 0;
};

using nats_sink_ptr = nats_sink_actor::stateful_pointer<nats_sink_state>;

void send_one(nats_sink_ptr self, in_flight& f) {
  auto& st = self->state;
  f.sent = std::chrono::steady_clock::now();
  f.published = false;
  if (!st.link->connected)
    return; // the retry timer sends it once connected
  auto data = encode_envelope(f.ev, st.link->settings.msgpack_out);
  auto* m = make_msg(f.ev.subject, data,
                     headers_of(f.ev, st.link->settings.msgpack_out));
  if (!m)
    return;
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = st.link->settings.publish_ack_wait_ms;
  auto s = js_PublishMsgAsync(st.link->js, &m, &po);
  if (s != NATS_OK) {
    if (m)
      natsMsg_Destroy(m);
    if (!st.warned)
      spdlog::warn("nats sink cannot publish {} yet: {}", f.ev.subject,
                   status_text(s));
    st.warned = true;
    return;
  }
  st.warned = false;
  f.published = true;
}

void finish_key(nats_sink_ptr self, const std::string& key) {
  auto& st = self->state;
  auto i = st.pending.find(key);
  if (i == st.pending.end())
    return;
  if (i->second.ev.outbox)
    st.delivered.push_back(key);
  for (auto b : i->second.batches) {
    auto j = st.batches.find(b);
    if (j != st.batches.end() && --j->second.left == 0) {
      j->second.rp.deliver(int32_t{1});
      st.batches.erase(j);
    }
  }
  st.pending.erase(i);
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

/// Best-effort events (progress, agent commands) kept at most while NATS
/// does not acknowledge: past this, new ones are dropped (and counted).
constexpr size_t max_best_effort = 100'000;

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
  send_one(self, i->second);
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
  self->delayed_send(self, std::chrono::milliseconds(100), atom::tick_v);
  return {
    [=](atom::publish,
        std::vector<outbound_event>& evs) -> caf::result<int32_t> {
      auto& st = self->state;
      if (evs.empty())
        return int32_t{0};
      auto id = ++st.next_batch;
      auto rp = self->make_response_promise<int32_t>();
      st.batches.emplace(id, batch{evs.size(), rp});
      auto n = static_cast<int32_t>(evs.size());
      for (auto& ev : evs)
        enqueue(self, std::move(ev), id);
      // Answer with the number of events (the promise gets 1 per call).
      auto j = st.batches.find(id);
      if (j == st.batches.end())
        return n;
      return rp;
    },
    [=](atom::progress, outbound_event& ev) { enqueue(self, std::move(ev), 0); },
    [=](atom::drain) -> caf::result<int32_t> {
      flush_delivered(self);
      return static_cast<int32_t>(self->state.pending.size());
    },
    [=](atom::ack, std::string& key, std::string& err) {
      auto& st = self->state;
      auto i = st.pending.find(key);
      if (i == st.pending.end())
        return;
      if (!err.empty()) {
        spdlog::debug("nats sink publish of {} not acknowledged: {}", key, err);
        i->second.published = false; // sent again by the timer
        return;
      }
      finish_key(self, key);
      if (st.delivered.size() >= 256)
        flush_delivered(self);
    },
    [=](atom::tick) {
      auto& st = self->state;
      flush_delivered(self);
      auto now = std::chrono::steady_clock::now();
      auto wait = std::chrono::milliseconds(st.link->settings.publish_ack_wait_ms
                                            + 1000);
      for (auto& [key, f] : st.pending)
        if (!f.published || now - f.sent > wait)
          send_one(self, f);
      self->delayed_send(self, std::chrono::milliseconds(100), atom::tick_v);
    },
  };
}

} // namespace

event_sink_actor spawn_nats_sink(caf::actor_system& sys, nats_link_ptr link,
                                 task_queue_actor queue) {
  // Detached: a publish may stall (at most StallWait) at MaxPending.
  auto h = sys.spawn<caf::detached>(nats_sink, std::move(link),
                                    std::move(queue));
  return caf::actor_cast<event_sink_actor>(h);
}

bool flush_sink(caf::actor_system& sys, const event_sink_actor& sink,
                std::chrono::milliseconds limit) {
  caf::scoped_actor self{sys};
  auto h = caf::actor_cast<nats_sink_actor>(sink);
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int32_t left = -1;
    self->request(h, std::chrono::seconds(5), atom::drain_v)
      .receive([&](int32_t n) { left = n; }, [](caf::error&) {});
    if (left == 0)
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// -- consuming ----------------------------------------------------------------

namespace {

/// Copies subject, data, headers and the delivery count out of nats.c.
inbound_event copy_msg(natsMsg* m) {
  inbound_event ev;
  ev.subject = natsMsg_GetSubject(m);
  auto* data = natsMsg_GetData(m);
  ev.data.assign(data ? data : "", static_cast<size_t>(natsMsg_GetDataLength(m)));
  const char** keys = nullptr;
  int n = 0;
  if (natsMsgHeader_Keys(m, &keys, &n) == NATS_OK) {
    for (int k = 0; k < n; ++k) {
      const char* v = nullptr;
      if (natsMsgHeader_Get(m, keys[k], &v) == NATS_OK && v)
        ev.headers[keys[k]] = v;
    }
    free(static_cast<void*>(keys));
  }
  jsMsgMetaData* md = nullptr;
  if (natsMsg_GetMetaData(&md, m) == NATS_OK && md) {
    ev.delivered = static_cast<int64_t>(md->NumDelivered);
    jsMsgMetaData_Destroy(md);
  }
  return ev;
}

/// Settles messages by token; shared by the fetch thread and the actor.
struct settle_book {
  std::mutex mtx;
  std::condition_variable cv;
  std::unordered_map<uint64_t, natsMsg*> held;
  uint64_t next = 0;
  bool stopping = false;

  uint64_t hold(natsMsg* m) {
    std::lock_guard<std::mutex> guard{mtx};
    held.emplace(++next, m);
    return next;
  }

  natsMsg* take(uint64_t token) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = held.find(token);
    if (i == held.end())
      return nullptr;
    auto* m = i->second;
    held.erase(i);
    cv.notify_all();
    return m;
  }
};

using consumer_actor = caf::typed_actor<
  caf::reacts_to<inbound_event>,
  caf::reacts_to<atom::ack, uint64_t, verdict, inbound_event>>;

struct consumer_state {
  static inline const char* name = "nats-consumer";
  std::shared_ptr<settle_book> book;
  event_router_actor router;
  event_sink_actor sink;
  int32_t ack_wait_ms = 60000;
  int64_t max_deliver = 50;
};

void settle(consumer_state& st, uint64_t token, const verdict& v) {
  auto* m = st.book->take(token);
  if (!m)
    return;
  if (v.action == "ack")
    natsMsg_Ack(m, nullptr);
  else if (v.action == "nak")
    natsMsg_NakWithDelay(m, v.delay_ms, nullptr);
  else
    natsMsg_Term(m, nullptr);
  natsMsg_Destroy(m);
}

consumer_actor::behavior_type
consumer(consumer_actor::stateful_pointer<consumer_state> self,
         std::shared_ptr<settle_book> book, event_router_actor router,
         event_sink_actor sink, int32_t ack_wait_ms, int32_t max_deliver) {
  auto& st = self->state;
  st.max_deliver = max_deliver;
  st.book = std::move(book);
  st.router = std::move(router);
  st.sink = std::move(sink);
  st.ack_wait_ms = ack_wait_ms;
  return {
    [=](inbound_event& msg) {
      auto token = msg.token;
      auto copy = msg;
      self
        ->request(self->state.router,
                  std::chrono::milliseconds(self->state.ack_wait_ms),
                  std::move(msg))
        .then(
          [=](verdict& v) {
            self->send(self, atom::ack_v, token, std::move(v), copy);
          },
          [=](caf::error& err) {
            self->send(self, atom::ack_v, token,
                       verdict{"nak", 1000, render(err)}, copy);
          });
    },
    [=](atom::ack, uint64_t token, verdict& v, inbound_event& msg) {
      auto& st = self->state;
      if (v.action == "nak") {
        if (msg.delivered >= st.max_deliver) {
          // JetStream would drop it silently after this delivery: keep it
          // in the dead-letter subject instead.
          v = verdict{"term", 0,
                      "gave up after " + std::to_string(msg.delivered)
                        + " deliveries: " + v.reason};
        } else {
          // Back off: 1 s, 2 s, 4 s ... at most 30 s between deliveries.
          auto shift = std::min<int64_t>(msg.delivered - 1, 5);
          v.delay_ms = std::min<int32_t>(
            30000, static_cast<int32_t>(v.delay_ms << std::max<int64_t>(0, shift)));
        }
      }
      if (v.action != "term") {
        if (v.action == "nak")
          spdlog::warn("nats consumer will retry {} (delivery {}): {}",
                       msg.subject, msg.delivered, v.reason);
        settle(st, token, v);
        return;
      }
      spdlog::warn("nats consumer dead-letters a message on {}: {}",
                   msg.subject, v.reason);
      std::vector<outbound_event> evs{dead_letter_event(msg, v.reason)};
      self->request(st.sink, caf::infinite, atom::publish_v, std::move(evs))
        .then([=](int32_t) { settle(self->state, token, v); },
              [=](caf::error&) {
                settle(self->state, token, verdict{"nak", 1000, ""});
              });
    },
  };
}

class consumers_impl : public nats_consumers {
public:
  consumers_impl(nats_link_ptr link, std::vector<nats_consumer_spec> specs,
                 std::vector<std::shared_ptr<settle_book>> books,
                 std::vector<consumer_actor> actors)
      : link_(std::move(link)),
        specs_(std::move(specs)),
        books_(std::move(books)),
        actors_(std::move(actors)) {
    subs_.resize(specs_.size(), nullptr);
    for (size_t i = 0; i < specs_.size(); ++i)
      threads_.emplace_back([this, i] { loop(i); });
  }

  ~consumers_impl() override {
    stop();
  }

  void stop() override {
    if (stopped_.exchange(true))
      return;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto* s : subs_)
        if (s)
          natsSubscription_Unsubscribe(s);
    }
    for (auto& b : books_) {
      std::lock_guard<std::mutex> guard{b->mtx};
      b->stopping = true;
      b->cv.notify_all();
    }
    for (auto& t : threads_)
      t.join();
    threads_.clear();
    // Whatever was not settled goes back to JetStream at once.
    for (auto& b : books_) {
      std::lock_guard<std::mutex> guard{b->mtx};
      for (auto& [token, m] : b->held) {
        natsMsg_Nak(m, nullptr);
        natsMsg_Destroy(m);
      }
      b->held.clear();
    }
    for (auto& a : actors_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto*& s : subs_)
      if (s) {
        natsSubscription_Destroy(s);
        s = nullptr;
      }
  }

  int64_t unsettled() const override {
    int64_t n = 0;
    for (auto& b : books_) {
      std::lock_guard<std::mutex> guard{b->mtx};
      n += static_cast<int64_t>(b->held.size());
    }
    return n;
  }

private:
  /// Creates the durable and binds to it; false while NATS is not there.
  bool bind(size_t i) {
    auto& s = link_->settings;
    auto& spec = specs_[i];
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = spec.durable.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = static_cast<int64_t>(s.ack_wait_ms) * 1'000'000;
    cc.MaxDeliver = s.max_deliver;
    cc.FilterSubject = spec.subject.c_str();
    cc.MaxAckPending = std::max(s.max_unsettled * 2, 1000);
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    auto st = js_AddConsumer(&ci, link_->js, spec.stream.c_str(), &cc, nullptr,
                             &jerr);
    if (ci)
      jsConsumerInfo_Destroy(ci);
    if (st != NATS_OK) {
      spdlog::debug("nats consumer {} cannot be created yet: {}", spec.durable,
                    status_text(st));
      return false;
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = spec.stream.c_str();
    so.Consumer = spec.durable.c_str();
    so.ManualAck = true;
    natsSubscription* sub = nullptr;
    st = js_PullSubscribe(&sub, link_->js, spec.subject.c_str(),
                          spec.durable.c_str(), nullptr, &so, &jerr);
    if (st != NATS_OK) {
      spdlog::debug("nats consumer {} cannot bind yet: {}", spec.durable,
                    status_text(st));
      return false;
    }
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopped_) {
      natsSubscription_Destroy(sub);
      return false;
    }
    subs_[i] = sub;
    spdlog::info("nats consumer bound durable {} on {}", spec.durable,
                 spec.subject);
    return true;
  }

  void loop(size_t i) {
    auto& book = *books_[i];
    auto max_unsettled = static_cast<size_t>(link_->settings.max_unsettled);
    while (!stopped_) {
      natsSubscription* sub = nullptr;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        sub = subs_[i];
      }
      if (!sub) {
        if (!link_->streams_ready || !bind(i)) {
          std::unique_lock<std::mutex> guard{book.mtx};
          book.cv.wait_for(guard, std::chrono::milliseconds(500),
                           [&] { return book.stopping; });
        }
        continue;
      }
      size_t room = 0;
      {
        std::unique_lock<std::mutex> guard{book.mtx};
        book.cv.wait(guard, [&] {
          return book.stopping || book.held.size() < max_unsettled;
        });
        if (book.stopping)
          break;
        room = max_unsettled - book.held.size();
      }
      natsMsgList list{nullptr, 0};
      jsErrCode jerr = static_cast<jsErrCode>(0);
      auto batch = static_cast<int>(
        std::min<size_t>(room, static_cast<size_t>(link_->settings.fetch_batch)));
      auto st = natsSubscription_Fetch(&list, sub, batch, 1000, &jerr);
      if (st == NATS_OK) {
        for (int k = 0; k < list.Count; ++k) {
          auto* m = list.Msgs[k];
          list.Msgs[k] = nullptr;
          auto ev = copy_msg(m);
          ev.token = book.hold(m);
          caf::anon_send(actors_[i], std::move(ev));
        }
        natsMsgList_Destroy(&list);
        continue;
      }
      natsMsgList_Destroy(&list);
      if (stopped_)
        break;
      if (st != NATS_TIMEOUT) {
        // A server restart or a broken link: wait a little and go on.
        std::unique_lock<std::mutex> guard{book.mtx};
        book.cv.wait_for(guard, std::chrono::milliseconds(200),
                         [&] { return book.stopping; });
      }
    }
  }

  nats_link_ptr link_;
  std::vector<nats_consumer_spec> specs_;
  std::vector<std::shared_ptr<settle_book>> books_;
  std::vector<consumer_actor> actors_;
  std::vector<natsSubscription*> subs_;
  std::vector<std::thread> threads_;
  std::mutex mtx_;
  std::atomic<bool> stopped_{false};
};

} // namespace

std::unique_ptr<nats_consumers>
start_consumers(caf::actor_system& sys, nats_link_ptr link,
                std::vector<nats_consumer_spec> specs,
                event_router_actor router, event_sink_actor sink) {
  std::vector<std::shared_ptr<settle_book>> books;
  std::vector<consumer_actor> actors;
  for (size_t i = 0; i < specs.size(); ++i) {
    books.push_back(std::make_shared<settle_book>());
    actors.push_back(sys.spawn(consumer, books[i], router, sink,
                               link->settings.ack_wait_ms,
                               link->settings.max_deliver));
  }
  return std::make_unique<consumers_impl>(link, std::move(specs),
                                          std::move(books), std::move(actors));
}

// -- clients ------------------------------------------------------------------

caf::error publish_sync(nats_link& link, const std::string& subject,
                        const std::string& data,
                        const std::map<std::string, std::string>& headers) {
  auto* m = make_msg(subject, data, headers);
  if (!m)
    return caf::make_error(ec::internal, "cannot create a NATS message");
  jsPubAck* pa = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 5000;
  auto st = js_PublishMsg(&pa, link.js, m, &po, &jerr);
  natsMsg_Destroy(m);
  if (pa)
    jsPubAck_Destroy(pa);
  if (st != NATS_OK)
    return caf::make_error(ec::internal,
                           "publish to " + subject + " on NATS at "
                             + redact_url(link.settings.url)
                             + " failed: " + status_text(st));
  return caf::none;
}

namespace {

class follower_impl : public nats_follower {
public:
  explicit follower_impl(natsSubscription* sub) : sub_(sub) {
  }

  ~follower_impl() override {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }

  std::optional<inbound_event>
  next(std::chrono::milliseconds timeout) override {
    natsMsg* m = nullptr;
    if (natsSubscription_NextMsg(&m, sub_, timeout.count()) != NATS_OK || !m)
      return std::nullopt;
    auto ev = copy_msg(m);
    natsMsg_Destroy(m);
    return ev;
  }

private:
  natsSubscription* sub_;
};

} // namespace

caf::expected<std::unique_ptr<nats_follower>>
follow(nats_link& link, const std::string& subject, bool from_start) {
  natsSubscription* sub = nullptr;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = "ORCHESTRATOR_EVENTS";
  so.Config.DeliverPolicy = from_start ? js_DeliverAll : js_DeliverNew;
  so.Config.AckPolicy = js_AckNone;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  auto st = js_SubscribeSync(&sub, link.js, subject.c_str(), nullptr, &so,
                             &jerr);
  if (st != NATS_OK)
    return caf::make_error(ec::internal,
                           "subscribe to " + subject + " on NATS at "
                             + redact_url(link.settings.url) + ": "
                             + status_text(st));
  natsSubscription_SetPendingLimits(sub, -1, -1);
  return std::unique_ptr<nats_follower>{new follower_impl(sub)};
}

} // namespace orch
