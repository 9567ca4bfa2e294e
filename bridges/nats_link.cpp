#include "bridges/nats_link.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "bridges/nats_creds.hpp"
#include "bridges/nats_link_impl.hpp"
#include "messages/events.hpp"
#include "messages/messages.hpp"

namespace orch {

namespace nats_detail {

std::string status_text(natsStatus s) {
  auto last = nats_GetLastError(nullptr);
  std::string out = natsStatus_GetText(s);
  if (last && *last && out != last)
    out += std::string{" ("} + last + ")";
  return out;
}

inbound_event copy_msg(natsMsg* m, uint64_t* pending) {
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
    if (pending != nullptr)
      *pending = md->NumPending;
    jsMsgMetaData_Destroy(md);
  }
  return ev;
}


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

} // namespace nats_detail

using nats_detail::status_text;

namespace {

// Credentials files. nats.c 3.4.1 base64-encodes the signature of the
// server's nonce with a function that takes a first byte of zero for an
// empty string, so one signature in 256 is left out of CONNECT and the
// server answers "Authorization Violation" (fixed upstream after 3.4.1,
// nats.c pull request 705). At a first connection attempt nats.c then closes
// the connection for good; on a reconnect a second such answer does. Serve
// stayed not ready, a test client failed (both seen in CI). So the link
// reads the file and signs the nonce itself, with nats.c's own nats_Sign,
// and fails an attempt whose signature starts with a zero byte with an
// error that is not an authorization error: nats.c tries again, and the
// server sends a new nonce. The file is read at every attempt, as nats.c
// does, so a rotated file is picked up on reconnection.

/// The link's credentials file, read now; on failure the reason goes to
/// `err` (nats.c's custom error text, which it frees).
caf::expected<nats_creds> creds_now(void* closure, char** err) {
  auto creds = read_nats_creds(
    static_cast<nats_link*>(closure)->settings.creds_file);
  if (!creds)
    *err = strdup(detail_of(creds.error()).c_str());
  return creds;
}

natsStatus creds_jwt(char** jwt, char** err, void* closure) {
  auto creds = creds_now(closure, err);
  if (!creds)
    return NATS_ERR;
  *jwt = strdup(creds->jwt.c_str());
  return *jwt != nullptr ? NATS_OK : NATS_NO_MEMORY;
}

natsStatus creds_sign(char** err, unsigned char** sig, int* len,
                      const char* nonce, void* closure) {
  auto* link = static_cast<nats_link*>(closure);
  auto creds = creds_now(closure, err);
  if (!creds)
    return NATS_ERR;
  auto st = nats_Sign(creds->seed.c_str(), nonce, sig, len);
  if (st != NATS_OK)
    return st;
  if (*len > 0 && (*sig)[0] == 0) {
    free(*sig);
    *sig = nullptr;
    *len = 0;
    ++link->zero_signatures;
    *err = strdup("the nonce's signature starts with a zero byte, which "
                  "nats.c 3.4.1 would not send; trying again");
    return NATS_ERR;
  }
  return NATS_OK;
}

} // namespace

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
  natsOptions_SetCustomReconnectDelay(o, nats_link::reconnect_delay,
                                      link.get());
  natsOptions_SetDisconnectedCB(o, nats_link::on_disconnected, link.get());
  natsOptions_SetReconnectedCB(o, nats_link::on_reconnected, link.get());
  natsOptions_SetClosedCB(o, nats_link::on_closed, link.get());
  if (!s.creds_file.empty()) {
    if (auto creds = read_nats_creds(s.creds_file); !creds)
      return creds.error();
    if ((st = natsOptions_SetUserCredentialsCallbacks(o, creds_jwt, link.get(),
                                                      creds_sign, link.get()))
        != NATS_OK)
      return fail("NATS_CREDS file " + s.creds_file, st);
  }
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
  // A first attempt refused by creds_sign is made again here: nats.c 3.4.1
  // retries a failed first attempt only when no server answered (after a
  // failed handshake it finds no server to retry and closes the connection).
  // Later attempts, and reconnections, nats.c makes itself.
  for (int attempt = 1;; ++attempt) {
    auto zeros = link->zero_signatures.load();
    st = natsConnection_Connect(&link->nc, o);
    if (link->zero_signatures.load() == zeros || attempt == 8
        || st == NATS_OK)
      break;
    link->drop_connection();
    spdlog::debug("nats bridge connects to {} again (a signature nats.c "
                  "could not send)", redact_url(s.url));
  }
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
  // The sink keeps at most max_pending outstanding itself; the margin keeps
  // nats.c from ever stalling a publish.
  jo.PublishAsync.MaxPending = s.max_pending + 1024;
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
                         const std::string& subject,
                         std::chrono::seconds max_age, bool in_memory) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(max_age)
                 .count();
  cfg.Name = name.c_str();
  const char* subjects[] = {subject.c_str()};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = in_memory ? js_MemoryStorage : js_FileStorage;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  auto st = js_AddStream(&si, link.js, &cfg, nullptr, &jerr);
  if (si)
    jsStreamInfo_Destroy(si);
  if (st == NATS_OK)
    return caf::none;
  if (jerr == JSStreamNameExistErr) {
    spdlog::warn("nats bridge found stream {} with other settings than {} on "
                 "{} storage; left alone",
                 name, subject, in_memory ? "memory" : "file");
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

// -- clients ------------------------------------------------------------------

caf::error publish_sync(nats_link& link, const std::string& subject,
                        const std::string& data,
                        const std::map<std::string, std::string>& headers) {
  auto* m = nats_detail::make_msg(subject, data, headers);
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
    // Without metadata nothing is known to be last: 1 pending.
    uint64_t pending = 1;
    auto ev = nats_detail::copy_msg(m, &pending);
    caught_up_ = pending == 0;
    natsMsg_Destroy(m);
    return ev;
  }

  bool caught_up() const override {
    return caught_up_;
  }

private:
  natsSubscription* sub_;
  bool caught_up_ = false;
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
