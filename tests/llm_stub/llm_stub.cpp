#include "tests/llm_stub/llm_stub.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "tests/llm_stub/chat_completions.hpp"

namespace orch::test {

namespace {

/// Listen backlog; Linux caps it at net.core.somaxconn.
constexpr int listen_backlog = 4096;

/// What the loop does with a request once its delay has passed.
enum class action { reply, drop, hold };

/// A prepared HTTP response.
struct response {
  int status = 200;
  std::string reason = "OK";
  std::string content_type = "application/json";
  std::string body;
  int retry_after_s = -1;
};

void send_response(evhttp_request* req, const response& r) {
  auto* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", r.content_type.c_str());
  if (r.retry_after_s >= 0)
    evhttp_add_header(headers, "Retry-After",
                      std::to_string(r.retry_after_s).c_str());
  auto* buf = evbuffer_new();
  evbuffer_add(buf, r.body.data(), r.body.size());
  evhttp_send_reply(req, r.status, r.reason.c_str(), buf);
  evbuffer_free(buf);
}

response json_error(int status, const char* reason, const std::string& msg,
                    const std::string& type) {
  response r;
  r.status = status;
  r.reason = reason;
  r.body = stub::error_body(msg, type);
  return r;
}

void block_sigpipe_in_this_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::once_flag evthread_once;

/// One chat-completion request waiting for its timer (or held forever).
struct pending_request {
  llm_stub_server::impl* owner = nullptr;
  evhttp_request* req = nullptr;
  evhttp_connection* conn = nullptr;
  event* timer = nullptr;
  event* watch = nullptr;
  action act = action::reply;
  response resp;
  /// A delayed reply: when it is due, the time its timer was set for, and
  /// whether that timer came early (see impl::timer_lead) and was set again
  /// for the rest.
  std::chrono::steady_clock::time_point due{};
  std::chrono::steady_clock::time_point armed_for{};
  bool again = false;
};

} // namespace

int64_t raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return -1;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit want = lim;
    want.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) != 0 && lim.rlim_max == RLIM_INFINITY) {
      want.rlim_cur = 1 << 20; // typical fs.nr_open
      setrlimit(RLIMIT_NOFILE, &want);
    }
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur == RLIM_INFINITY ? INT64_MAX
                                       : static_cast<int64_t>(lim.rlim_cur);
}

struct llm_stub_server::impl {
  explicit impl(options o)
      : opts(std::move(o)), latency_ms(opts.latency_ms),
        timer_lead(std::chrono::microseconds{opts.timer_lead_us}) {}

  options opts;

  // Shared state, guarded by mu.
  mutable std::mutex mu;
  int latency_ms;
  std::deque<stub_fault_spec> faults;
  stub_fault_spec default_fault;
  std::vector<stub_request_record> records;
  size_t in_flight = 0;
  size_t max_in_flight = 0;
  uint16_t bound_port = 0;

  // Lifecycle, guarded by life_mu (start/stop serialization).
  std::mutex life_mu;
  bool running = false;
  std::thread loop_thread;

  // Owned by the loop thread while it runs.
  event_base* base = nullptr;
  evhttp* http = nullptr;
  event* stop_ev = nullptr;
  std::unordered_set<pending_request*> pending;
  uint64_t next_id = 0;
  /// How much earlier than due a delayed reply's timer is set: what timers
  /// fired late lately (a moving average). The latency is the server's one
  /// promise, and a VM's timers can keep it badly: measured on one of this
  /// project's VMs (KVM clock), a 50 ms sleep woke 0.12-1.1 ms late and the
  /// stub's replies came 0.8-3 ms late (p50 1.26), which the LLM client's
  /// efficiency (bench/llm_concurrency) counted as its own. A timer that
  /// fires before the reply is due is set again for the rest, so no reply
  /// goes out early.
  std::chrono::nanoseconds timer_lead;

  // -- setup / teardown (caller thread) -------------------------------------

  int open_listener() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    auto port_str = std::to_string(opts.port);
    const char* host = opts.host.empty() ? nullptr : opts.host.c_str();
    if (getaddrinfo(host, port_str.c_str(), &hints, &res) != 0)
      return -1;
    int fd = -1;
    for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
      fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  ai->ai_protocol);
      if (fd < 0)
        continue;
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0
          && listen(fd, listen_backlog) == 0)
        break;
      close(fd);
      fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
      return -1;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close(fd);
      return -1;
    }
    uint16_t port = 0;
    if (addr.ss_family == AF_INET)
      port = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    else if (addr.ss_family == AF_INET6)
      port = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    std::lock_guard<std::mutex> lk{mu};
    bound_port = port;
    return fd;
  }

  void free_base() {
    if (http != nullptr)
      evhttp_free(http);
    http = nullptr;
    if (stop_ev != nullptr)
      event_free(stop_ev);
    stop_ev = nullptr;
    if (base != nullptr)
      event_base_free(base);
    base = nullptr;
  }

  bool start() {
    std::lock_guard<std::mutex> life{life_mu};
    if (running)
      return false;
    raise_fd_limit();
    std::call_once(evthread_once, [] { evthread_use_pthreads(); });
    // The latency is the server's one promise: timers on a timerfd (not
    // epoll's millisecond time-outs, up to 1 ms late) and measured from the
    // clock at the request, not the loop pass's cached time.
    // evhttp turns a connection's reading and writing off and on around
    // every request: with the changes to epoll collected per loop pass
    // (changelist) those that cancel out never reach the kernel, 6 -> 3
    // epoll_ctl calls per request and 61-64 -> 52-54 us of CPU per request
    // (bench/llm_concurrency C=100 L=50, 3 pairs).
    auto* cfg = event_config_new();
    if (cfg == nullptr)
      return false;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NO_CACHE_TIME);
#ifndef __SANITIZE_THREAD__
    // Not under ThreadSanitizer: the changelist removes a closed
    // connection's descriptor from epoll after it was closed, and when a
    // test's thread opens a descriptor that gets the same number meanwhile
    // (a pipe to a child process), TSan reports the two uses as a race.
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
#endif
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (base == nullptr)
      return false;
    http = evhttp_new(base);
    stop_ev = event_new(base, -1, 0, &impl::on_stop, this);
    if (http == nullptr || stop_ev == nullptr) {
      free_base();
      return false;
    }
    evhttp_set_gencb(http, &impl::on_request, this);
    int fd = open_listener();
    if (fd < 0) {
      free_base();
      return false;
    }
    if (evhttp_accept_socket_with_handle(http, fd) == nullptr) {
      close(fd);
      free_base();
      return false;
    }
    running = true;
    loop_thread = std::thread{[this] {
      block_sigpipe_in_this_thread();
      pthread_setname_np(pthread_self(), "llm_stub_loop");
      event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    }};
    return true;
  }

  void stop() {
    std::lock_guard<std::mutex> life{life_mu};
    if (!running)
      return;
    event_active(stop_ev, EV_TIMEOUT, 0); // thread-safe with evthread
    loop_thread.join();
    free_base();
    running = false;
  }

  // -- loop thread ----------------------------------------------------------

  static void on_stop(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<impl*>(arg);
    // Forget pending requests first; evhttp_free then frees their
    // connections (and with them the requests still attached).
    auto copy = self->pending;
    for (auto* p : copy)
      self->finish(p);
    evhttp_free(self->http);
    self->http = nullptr;
    event_base_loopbreak(self->base);
  }

  /// Releases our bookkeeping for `p`; does not touch p->req.
  void finish(pending_request* p) {
    pending.erase(p);
    if (p->timer != nullptr)
      event_free(p->timer);
    if (p->watch != nullptr)
      event_free(p->watch);
    if (p->conn != nullptr)
      evhttp_connection_set_closecb(p->conn, nullptr, nullptr);
    delete p;
    std::lock_guard<std::mutex> lk{mu};
    --in_flight;
  }

  /// Sets p's timer for `when` (at once when that has passed).
  static void arm(pending_request* p,
                  std::chrono::steady_clock::time_point when) {
    using namespace std::chrono;
    auto wait = duration_cast<microseconds>(when - steady_clock::now());
    auto us = std::max<int64_t>(0, wait.count());
    p->armed_for = when;
    timeval tv{static_cast<time_t>(us / 1'000'000),
               static_cast<suseconds_t>(us % 1'000'000)};
    evtimer_add(p->timer, &tv);
  }

  /// Takes a first timer's lateness into timer_lead (each sample at most
  /// 5 ms: one stall of the loop should not move it far).
  void learn(std::chrono::nanoseconds late) {
    late = std::clamp(late, std::chrono::nanoseconds{0},
                      std::chrono::nanoseconds{std::chrono::milliseconds{5}});
    timer_lead += (late - timer_lead) / 16;
  }

  static void on_timer(evutil_socket_t, short, void* arg) {
    auto* p = static_cast<pending_request*>(arg);
    auto* self = p->owner;
    auto now = std::chrono::steady_clock::now();
    if (!p->again)
      self->learn(now - p->armed_for);
    if (now < p->due) {
      p->again = true;
      arm(p, p->due);
      return;
    }
    auto* req = p->req;
    auto* conn = p->conn;
    auto act = p->act;
    auto resp = std::move(p->resp);
    self->finish(p);
    if (act == action::drop)
      evhttp_connection_free(conn); // also frees the attached request
    else
      send_response(req, resp);
  }

  /// Readability on a connection whose request is pending: evhttp has
  /// disabled reading, so this is how a client hang-up is noticed.
  static void on_watch(evutil_socket_t fd, short, void* arg) {
    auto* p = static_cast<pending_request*>(arg);
    char c;
    auto n = recv(fd, &c, 1, MSG_PEEK);
    if (n > 0) {
      // Pipelined data: leave it for evhttp, stop watching.
      event_del(p->watch);
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return;
    auto* conn = p->conn;
    p->owner->finish(p);
    evhttp_connection_free(conn); // also frees the attached request
  }

  /// evhttp tears the connection down (e.g. evhttp_free or an I/O error).
  static void on_close(evhttp_connection*, void* arg) {
    auto* p = static_cast<pending_request*>(arg);
    // A request that evhttp detached from its failed connection is ours to
    // free; an attached one is freed by evhttp right after this callback.
    if (evhttp_request_get_connection(p->req) == nullptr)
      evhttp_request_free(p->req);
    p->conn = nullptr; // closecb already consumed
    p->owner->finish(p);
  }

  static void on_request(evhttp_request* req, void* arg) {
    auto* self = static_cast<impl*>(arg);
    const char* raw_path = nullptr;
    if (const auto* uri = evhttp_request_get_evhttp_uri(req))
      raw_path = evhttp_uri_get_path(uri);
    std::string path = raw_path != nullptr ? raw_path : "";
    auto cmd = evhttp_request_get_command(req);
    bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    if (path == "/v1/chat/completions" && cmd == EVHTTP_REQ_POST) {
      self->handle_chat(req);
    } else if (path == "/v1/models" && get) {
      response r;
      r.body = stub::models_body(self->opts.model);
      send_response(req, r);
    } else if (path == "/health" && get) {
      response r;
      r.content_type = "text/plain";
      r.body = "ok";
      send_response(req, r);
    } else {
      send_response(req,
                    json_error(404, "Not Found", "unknown endpoint: " + path,
                               "invalid_request_error"));
    }
  }

  void handle_chat(evhttp_request* req) {
    auto arrived = std::chrono::steady_clock::now();
    auto* input = evhttp_request_get_input_buffer(req);
    std::string body(evbuffer_get_length(input), '\0');
    if (!body.empty())
      evbuffer_copyout(input, body.data(), body.size());
    const char* auth = evhttp_find_header(evhttp_request_get_input_headers(req),
                                          "Authorization");
    auto parsed = stub::parse_chat(body);
    stub_fault_spec fault;
    int delay_ms = 0;
    {
      std::lock_guard<std::mutex> lk{mu};
      stub_request_record rec;
      rec.path = evhttp_request_get_uri(req);
      rec.body = body;
      rec.authorization = auth != nullptr ? auth : "";
      rec.received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          arrived.time_since_epoch())
                          .count();
      records.push_back(std::move(rec));
      delay_ms = std::max(0, latency_ms);
      if (parsed.error.empty()) {
        if (!faults.empty()) {
          fault = faults.front();
          faults.pop_front();
        } else {
          fault = default_fault;
        }
      }
      max_in_flight = std::max(max_in_flight, ++in_flight);
    }

    action act = action::reply;
    response resp;
    if (!parsed.error.empty()) {
      resp = json_error(400, "Bad Request", parsed.error,
                        "invalid_request_error");
    } else {
      switch (fault.kind) {
        case stub_fault::none:
        case stub_fault::empty_content: {
          std::string model = parsed.model.empty() ? opts.model : parsed.model;
          size_t prompt_tokens = 0;
          for (const auto& m : parsed.messages)
            prompt_tokens += stub::count_words(m.second);
          std::string text = fault.kind == stub_fault::none
                               ? stub::reply_text(parsed, model)
                               : std::string{};
          resp.body = stub::completion_body(++next_id, model, text,
                                            prompt_tokens);
          break;
        }
        case stub_fault::http_500:
          resp = json_error(500, "Internal Server Error",
                            "stub: injected internal error", "server_error");
          break;
        case stub_fault::http_503:
          resp = json_error(503, "Service Unavailable",
                            "stub: injected service unavailable",
                            "server_error");
          resp.retry_after_s = fault.retry_after_s;
          break;
        case stub_fault::http_429:
          resp = json_error(429, "Too Many Requests",
                            "stub: injected rate limit", "rate_limit_error");
          resp.retry_after_s = fault.retry_after_s;
          break;
        case stub_fault::garbage_json: resp.body = "this is not json {"; break;
        case stub_fault::timeout: act = action::hold; break;
        case stub_fault::drop_connection:
          act = action::drop;
          delay_ms = 0;
          break;
      }
    }

    if (act == action::reply && delay_ms == 0) {
      send_response(req, resp);
      std::lock_guard<std::mutex> lk{mu};
      --in_flight;
      return;
    }

    auto* p = new pending_request;
    p->owner = this;
    p->req = req;
    p->conn = evhttp_request_get_connection(req);
    p->act = act;
    p->resp = std::move(resp);
    pending.insert(p);
    evhttp_connection_set_closecb(p->conn, &impl::on_close, p);
    if (act != action::hold) {
      p->timer = evtimer_new(base, &impl::on_timer, p);
      p->due = arrived + std::chrono::milliseconds{delay_ms};
      arm(p, std::max(arrived, p->due - timer_lead));
    }
    if (act == action::hold || delay_ms > 0) {
      auto fd = bufferevent_getfd(evhttp_connection_get_bufferevent(p->conn));
      p->watch = event_new(base, fd, EV_READ | EV_PERSIST, &impl::on_watch, p);
      event_add(p->watch, nullptr);
    }
  }
};

llm_stub_server::llm_stub_server(options opts)
    : impl_(std::make_unique<impl>(std::move(opts))) {}

llm_stub_server::~llm_stub_server() {
  stop();
}

bool llm_stub_server::start() {
  return impl_->start();
}

void llm_stub_server::stop() {
  impl_->stop();
}

uint16_t llm_stub_server::port() const {
  std::lock_guard<std::mutex> lk{impl_->mu};
  return impl_->bound_port;
}

std::string llm_stub_server::url() const {
  std::string host = impl_->opts.host;
  if (host.empty() || host == "0.0.0.0")
    host = "127.0.0.1";
  else if (host == "::")
    host = "[::1]";
  else if (host.find(':') != std::string::npos)
    host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(port());
}

void llm_stub_server::set_latency_ms(int ms) {
  std::lock_guard<std::mutex> lk{impl_->mu};
  impl_->latency_ms = ms;
}

void llm_stub_server::push_faults(std::vector<stub_fault_spec> faults) {
  std::lock_guard<std::mutex> lk{impl_->mu};
  for (auto& f : faults)
    impl_->faults.push_back(f);
}

void llm_stub_server::set_default_fault(stub_fault_spec f) {
  std::lock_guard<std::mutex> lk{impl_->mu};
  impl_->default_fault = f;
}

std::vector<stub_request_record> llm_stub_server::requests() const {
  std::lock_guard<std::mutex> lk{impl_->mu};
  return impl_->records;
}

size_t llm_stub_server::request_count() const {
  std::lock_guard<std::mutex> lk{impl_->mu};
  return impl_->records.size();
}

size_t llm_stub_server::max_in_flight() const {
  std::lock_guard<std::mutex> lk{impl_->mu};
  return impl_->max_in_flight;
}

size_t llm_stub_server::in_flight() const {
  std::lock_guard<std::mutex> lk{impl_->mu};
  return impl_->in_flight;
}

void llm_stub_server::reset() {
  std::lock_guard<std::mutex> lk{impl_->mu};
  impl_->records.clear();
  impl_->faults.clear();
  impl_->default_fault = stub_fault_spec{};
  impl_->max_in_flight = impl_->in_flight;
}

} // namespace orch::test
