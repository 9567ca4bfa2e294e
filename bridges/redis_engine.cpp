// The connection of the Redis TASK QUEUE; see redis_engine.hpp.

#include "bridges/redis_engine.hpp"

#include <chrono>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <caf/send.hpp>
#include <event2/event.h>
#include <event2/thread.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "messages/messages.hpp"

namespace orch {

namespace {

redis_value copy_reply(const redisReply* r) {
  redis_value v;
  v.type = r->type;
  v.integer = r->integer;
  if (r->str)
    v.str.assign(r->str, r->len);
  for (size_t i = 0; i < r->elements; ++i)
    v.elements.push_back(copy_reply(r->element[i]));
  return v;
}

} // namespace

struct redis_engine::impl {
  impl(redis_endpoint ep, int32_t reconnect_ms)
      : ep_(std::move(ep)), reconnect_ms_(reconnect_ms) {
    static std::once_flag once;
    std::call_once(once, [] { evthread_use_pthreads(); });
    base_ = event_base_new();
    notify_ = event_new(base_, -1, 0, on_notify, this);
    retry_ = evtimer_new(base_, on_retry, this);
    connect();
    thread_ = std::thread{
      [this] { event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY); }};
  }

  ~impl() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    event_active(notify_, 0, 0);
    thread_.join();
    event_free(notify_);
    event_free(retry_);
    event_base_free(base_);
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  /// Thread-safe: queues a command for the loop thread.
  void submit(pending_command cmd) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      queue_.push_back(std::move(cmd));
    }
    event_active(notify_, 0, 0);
  }

  void connect() {
    ctx_ = redisAsyncConnect(ep_.host.c_str(), ep_.port);
    if (!ctx_ || ctx_->err) {
      spdlog::warn("redis queue cannot connect to {}:{}: {}", ep_.host,
                   ep_.port, ctx_ ? ctx_->errstr : "out of memory");
      if (ctx_)
        redisAsyncFree(ctx_);
      ctx_ = nullptr;
      schedule_reconnect();
      return;
    }
    ctx_->data = this;
    redisLibeventAttach(ctx_, base_);
    redisAsyncSetConnectCallback(ctx_, on_connect);
    redisAsyncSetDisconnectCallback(ctx_, on_disconnect);
    if (!ep_.password.empty())
      send_auth();
    if (ep_.db != 0)
      redisAsyncCommand(ctx_, nullptr, nullptr, "SELECT %d", ep_.db);
  }

  void send_auth() {
    auth_in_flight_ = true;
    last_auth_ = std::chrono::steady_clock::now();
    redisAsyncCommand(ctx_, on_auth, nullptr, "AUTH %s", ep_.password.c_str());
  }

  void schedule_reconnect() {
    timeval tv{reconnect_ms_ / 1000, (reconnect_ms_ % 1000) * 1000};
    evtimer_add(retry_, &tv);
  }

  static void on_connect(const redisAsyncContext* c, int status) {
    auto* self = static_cast<impl*>(c->data);
    if (status != REDIS_OK) {
      spdlog::warn("redis queue lost connection to {}:{}: {}", self->ep_.host,
                   self->ep_.port, c->errstr);
      self->ctx_ = nullptr; // hiredis frees the context
      self->connected_ = false;
      self->schedule_reconnect();
      return;
    }
    self->connected_ = true;
    spdlog::info("redis queue connected to {}:{}", self->ep_.host,
                 self->ep_.port);
  }

  static void on_disconnect(const redisAsyncContext* c, int status) {
    auto* self = static_cast<impl*>(c->data);
    self->ctx_ = nullptr;
    self->connected_ = false;
    std::lock_guard<std::mutex> guard{self->mtx_};
    if (self->stopping_)
      return;
    spdlog::warn("redis queue disconnected from {}:{} ({}); reconnecting",
                 self->ep_.host, self->ep_.port,
                 status == REDIS_OK ? "closed" : c->errstr);
    self->schedule_reconnect();
  }

  static void on_retry(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<impl*>(arg);
    if (!self->ctx_)
      self->connect();
  }

  static void on_notify(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<impl*>(arg);
    std::deque<pending_command> batch;
    bool stop;
    {
      std::lock_guard<std::mutex> guard{self->mtx_};
      batch.swap(self->queue_);
      stop = self->stopping_;
    }
    for (auto& cmd : batch)
      self->issue(std::move(cmd));
    if (stop) {
      if (self->ctx_) {
        auto* c = self->ctx_;
        self->ctx_ = nullptr;
        redisAsyncDisconnect(c);
      }
      evtimer_del(self->retry_);
      event_base_loopexit(self->base_, nullptr);
    }
  }

  void issue(pending_command cmd) {
    if (!ctx_ || !connected_) {
      fail(cmd,
           "redis unavailable at " + ep_.host + ":" + std::to_string(ep_.port));
      return;
    }
    // Commands wait for the answer to AUTH, and are not sent when it was
    // refused: Redis drops a connection that sends an argument over 16 KB
    // before it authenticated (a script is longer), so the reason would
    // be lost. AUTH is tried again now and then.
    if (auth_in_flight_ && auth_error_.empty()) {
      held_.push_back(std::move(cmd));
      return;
    }
    if (!auth_error_.empty()) {
      answer_error(cmd, auth_failed());
      if (!auth_in_flight_
          && std::chrono::steady_clock::now() - last_auth_
               >= std::chrono::milliseconds(reconnect_ms_))
        send_auth();
      return;
    }
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : cmd.argv) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* held = new pending_command{cmd.id, std::move(cmd.reply_to), {}};
    if (redisAsyncCommandArgv(ctx_, on_reply, held,
                              static_cast<int>(argv.size()), argv.data(),
                              lens.data())
        != REDIS_OK) {
      fail(*held, "redis command could not be sent");
      delete held;
    }
  }

  /// Answers `cmd` with an error reply of text `text`, as if from Redis.
  static void answer_error(const pending_command& cmd, std::string text) {
    redis_value v;
    v.type = REDIS_REPLY_ERROR;
    v.str = std::move(text);
    caf::anon_send(cmd.reply_to, atom::result_v, cmd.id, std::move(v));
  }

  static void fail(const pending_command& cmd, const std::string& why) {
    answer_error(cmd, "unavailable: " + why);
  }

  /// The answer to AUTH: a refusal is kept, so that the commands refused
  /// after it (NOAUTH) say why.
  static void on_auth(redisAsyncContext* c, void* reply, void*) {
    auto* self = static_cast<impl*>(c->data);
    auto* r = static_cast<redisReply*>(reply);
    if (self == nullptr)
      return;
    self->auth_in_flight_ = false;
    auto held = std::move(self->held_);
    self->held_.clear();
    if (r == nullptr) { // the connection went away
      for (auto& cmd : held)
        fail(cmd, "connection to redis lost before the reply");
      return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
      std::string why{r->str, r->len};
      if (self->auth_error_ != why)
        spdlog::warn("redis queue: AUTH at {}:{} failed: {}", self->ep_.host,
                     self->ep_.port, why);
      self->auth_error_ = why;
    } else {
      self->auth_error_.clear();
    }
    for (auto& cmd : held)
      self->issue(std::move(cmd));
  }

  static void on_reply(redisAsyncContext* c, void* reply, void* privdata) {
    std::unique_ptr<pending_command> cmd{
      static_cast<pending_command*>(privdata)};
    if (!reply) {
      fail(*cmd, "connection to redis lost before the reply");
      return;
    }
    auto v = copy_reply(static_cast<redisReply*>(reply));
    auto* self = static_cast<impl*>(c->data);
    if (v.type == REDIS_REPLY_ERROR && self && !self->auth_error_.empty()
        && v.str.rfind("NOAUTH", 0) == 0)
      v.str = self->auth_failed();
    caf::anon_send(cmd->reply_to, atom::result_v, cmd->id, std::move(v));
  }

  std::string auth_failed() const {
    return "AUTH failed (check the password in REDIS_URL): " + auth_error_;
  }

  redis_endpoint ep_;
  int32_t reconnect_ms_;
  event_base* base_ = nullptr;
  event* notify_ = nullptr;
  event* retry_ = nullptr;
  redisAsyncContext* ctx_ = nullptr;
  bool connected_ = false;
  /// Redis' answer to a refused AUTH (loop thread only).
  std::string auth_error_;
  /// An AUTH sent and not answered yet, and when the last one was sent
  /// (loop thread only).
  bool auth_in_flight_ = false;
  std::chrono::steady_clock::time_point last_auth_{};
  /// Commands that wait for the answer to AUTH (loop thread only).
  std::deque<pending_command> held_;
  std::thread thread_;
  std::mutex mtx_;
  std::deque<pending_command> queue_;
  bool stopping_ = false;
};

redis_engine::redis_engine(redis_endpoint ep, int32_t reconnect_ms)
    : impl_(std::make_unique<impl>(std::move(ep), reconnect_ms)) {
}

redis_engine::~redis_engine() = default;

void redis_engine::submit(pending_command cmd) {
  impl_->submit(std::move(cmd));
}

} // namespace orch
