#include "bridges/llm_client.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace orch {

namespace {

using steady = std::chrono::steady_clock;

/// The front actor also takes the bridge's answers.
using llm_front_actor = llm_client_actor::extend<
  caf::reacts_to<atom::result, uint64_t, llm_reply>,
  caf::reacts_to<atom::result, uint64_t, caf::error>>;

/// Lets the process open as many sockets as the hard limit allows: thousands
/// of requests in flight need thousands of connections.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/// The part of a URL up to the path: "http://host:8000".
std::string endpoint_of(const std::string& url) {
  auto scheme = url.find("://");
  auto start = scheme == std::string::npos ? 0 : scheme + 3;
  auto slash = url.find('/', start);
  return url.substr(0, slash);
}

// -- the curl engine ----------------------------------------------------------

/// One request, across its attempts.
struct transfer {
  uint64_t id = 0;
  caf::actor reply_to;
  llm_request req;
  std::string endpoint;
  int32_t attempt = 0;
  steady::time_point first_start;
  CURL* easy = nullptr;
  std::string body;
  /// Seconds from a Retry-After header, or -1.
  long retry_after = -1;
  char errbuf[CURL_ERROR_SIZE] = {};
  bool probe = false;
  /// Index of the multi handle running this transfer.
  size_t shard = 0;
};

struct endpoint_state {
  int32_t in_flight = 0;
  std::deque<std::unique_ptr<transfer>> waiting;
  /// Circuit breaker.
  enum class breaker { closed, open, half_open } state = breaker::closed;
  int32_t consecutive_failures = 0;
  steady::time_point open_until;
  bool probe_in_flight = false;
};

struct retry_entry {
  steady::time_point due;
  transfer* t;
  bool operator>(const retry_entry& other) const {
    return due > other.due;
  }
};

/// Largest model reply kept (bytes): a larger one fails the transfer
/// (curl's write error) instead of growing without bound.
constexpr size_t max_reply_bytes = 16 << 20;

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  if (t->body.size() + size * n > max_reply_bytes)
    return 0; // CURLE_WRITE_ERROR
  t->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * n;
  static constexpr char key[] = "retry-after:";
  if (len > sizeof(key) - 1 && strncasecmp(data, key, sizeof(key) - 1) == 0) {
    auto value = std::string(data + sizeof(key) - 1, len - (sizeof(key) - 1));
    char* end = nullptr;
    auto secs = std::strtol(value.c_str(), &end, 10);
    if (end != value.c_str() && secs >= 0)
      t->retry_after = secs;
  }
  return len;
}

class curl_engine {
public:
  explicit curl_engine(llm_client_settings settings)
      : settings_(settings), rng_(std::random_device{}()) {
    raise_fd_limit();
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wakeup_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakeup_;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, wakeup_, &ev);
    // Event-driven: curl tells us which sockets to watch and when its next
    // time-out is due, so a loop pass costs O(active sockets), not O(all
    // transfers) as curl_multi_perform/poll would with thousands in flight.
    // Transfers are spread over several multi handles: libcurl looks for a
    // reusable connection by walking all connections to the host, which
    // gets slow with thousands of them in one cache.
    for (size_t i = 0; i < shards_.size(); ++i) {
      auto& sh = shards_[i];
      sh.engine = this;
      sh.index = i;
      sh.multi = curl_multi_init();
      curl_multi_setopt(sh.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
      curl_multi_setopt(sh.multi, CURLMOPT_SOCKETDATA, &sh);
      curl_multi_setopt(sh.multi, CURLMOPT_TIMERFUNCTION, on_timer);
      curl_multi_setopt(sh.multi, CURLMOPT_TIMERDATA, &sh);
      // Keep every idle connection: curl's default cache (4 x the transfers
      // running) shrinks between a deliberation's phases, when few are, and
      // the next phase opened them again (~430 connections in a run at 3,000
      // in flight, counted with strace). The pool never exceeds the peak in
      // flight.
      curl_multi_setopt(sh.multi, CURLMOPT_MAXCONNECTS,
                        static_cast<long>(std::clamp<int64_t>(
                          settings_.max_per_endpoint, 16, 1 << 16)));
    }
    thread_ = std::thread{[this] { run(); }};
  }

  ~curl_engine() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    wake();
    thread_.join();
    for (auto& sh : shards_)
      curl_multi_cleanup(sh.multi);
    close(wakeup_);
    close(epoll_);
  }

  curl_engine(const curl_engine&) = delete;
  curl_engine& operator=(const curl_engine&) = delete;

  /// Thread-safe: hands a request to the engine thread.
  void submit(uint64_t id, caf::actor reply_to, llm_request req) {
    auto t = std::make_unique<transfer>();
    t->id = id;
    t->reply_to = std::move(reply_to);
    t->req = std::move(req);
    t->endpoint = endpoint_of(t->req.url);
    bool first;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      first = incoming_.empty();
      incoming_.push_back(std::move(t));
    }
    if (first)
      wake();
  }

  /// Endpoints whose circuit is open, with why (thread-safe).
  std::vector<std::string> failing() const {
    std::lock_guard<std::mutex> guard{health_mtx_};
    std::vector<std::string> out;
    for (auto& [ep, why] : failing_)
      out.push_back(ep + ": " + why);
    return out;
  }

private:
  void wake() {
    uint64_t one = 1;
    auto n = write(wakeup_, &one, sizeof(one));
    (void) n;
  }

  /// curl says which sockets to watch. A connection that goes idle (curl
  /// stops watching it after a reply) stays in the epoll set, parked,
  /// while it was watched for input only: a kept-alive connection is reused
  /// for the next request, and the removal and re-adding were two of the
  /// three epoll_ctl calls per request. A parked socket that becomes
  /// readable (the server closed it) is removed then; a socket curl closes
  /// leaves the set with it (on_close_socket). Only sockets opened through
  /// on_open_socket are parked: curl closes others itself.
  static int on_socket(CURL*, curl_socket_t s, int what, void* user, void*) {
    auto* sh = static_cast<shard*>(user);
    auto* self = sh->engine;
    auto w = self->watched_.find(s);
    if (what == CURL_POLL_REMOVE) {
      if (w == self->watched_.end())
        return 0;
      // Only our own connections: a socket curl closes without
      // on_close_socket (its resolver's) must not stay in the table.
      if (w->second.events == EPOLLIN && self->own_sockets_.count(s) > 0) {
        w->second.active = false;
      } else {
        epoll_ctl(self->epoll_, EPOLL_CTL_DEL, s, nullptr);
        self->watched_.erase(w);
      }
      return 0;
    }
    epoll_event ev{};
    ev.data.fd = s;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
      ev.events |= EPOLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
      ev.events |= EPOLLOUT;
    if (w == self->watched_.end()) {
      self->watched_.emplace(s, watch{sh->index, ev.events, true});
      if (epoll_ctl(self->epoll_, EPOLL_CTL_ADD, s, &ev) != 0)
        epoll_ctl(self->epoll_, EPOLL_CTL_MOD, s, &ev);
      return 0;
    }
    w->second.shard = sh->index;
    w->second.active = true;
    if (w->second.events != ev.events) {
      w->second.events = ev.events;
      if (epoll_ctl(self->epoll_, EPOLL_CTL_MOD, s, &ev) != 0)
        epoll_ctl(self->epoll_, EPOLL_CTL_ADD, s, &ev);
    }
    return 0;
  }

  /// curl opens and closes its sockets through these, so that each shard
  /// knows how many connections it holds.
  static curl_socket_t on_open_socket(void* user, curlsocktype,
                                      curl_sockaddr* addr) {
    auto* sh = static_cast<shard*>(user);
    auto s = socket(addr->family, addr->socktype | SOCK_CLOEXEC,
                    addr->protocol);
    if (s != CURL_SOCKET_BAD) {
      ++sh->connections;
      sh->engine->own_sockets_.insert(s);
    }
    return s;
  }

  static int on_close_socket(void* user, curl_socket_t s) {
    auto* sh = static_cast<shard*>(user);
    --sh->connections;
    // Closing removes it from the epoll set; a parked one is forgotten too.
    sh->engine->watched_.erase(s);
    sh->engine->own_sockets_.erase(s);
    return close(s);
  }

  /// The shard for a new transfer: one with an idle connection if there is
  /// one (the most idle), else the least busy. Round robin alone opened a
  /// connection whenever its next shard had none idle while others had
  /// (~620 connections in a run at 3,000 in flight, counted with strace).
  size_t pick_shard() {
    size_t best = next_shard_++ % shards_.size();
    auto idle = [&](const shard& sh) { return sh.connections - sh.in_flight; };
    for (size_t k = 1; k < shards_.size(); ++k) {
      auto i = (best + k) % shards_.size();
      auto& a = shards_[i];
      auto& b = shards_[best];
      if (idle(a) > idle(b) || (idle(a) == idle(b) && a.in_flight < b.in_flight))
        best = i;
    }
    return best;
  }

  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto* sh = static_cast<shard*>(user);
    if (timeout_ms < 0)
      sh->due.reset();
    else
      sh->due = steady::now() + std::chrono::milliseconds(timeout_ms);
    return 0;
  }

  void run() {
    std::vector<std::unique_ptr<transfer>> batch;
    std::vector<epoll_event> events(512);
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (stopping_)
          break;
        batch.assign(std::make_move_iterator(incoming_.begin()),
                     std::make_move_iterator(incoming_.end()));
        incoming_.clear();
      }
      for (auto& t : batch)
        admit(std::move(t));
      batch.clear();
      fire_due_retries();
      int running = 0;
      auto now = steady::now();
      for (auto& sh : shards_)
        if (sh.due && *sh.due <= now) {
          sh.due.reset();
          curl_multi_socket_action(sh.multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
      collect();
      auto n = epoll_wait(epoll_, events.data(),
                          static_cast<int>(events.size()), wait_ms());
      for (int i = 0; i < n; ++i) {
        auto fd = events[i].data.fd;
        if (fd == wakeup_) {
          uint64_t count;
          while (read(wakeup_, &count, sizeof(count)) > 0) {
          }
          continue;
        }
        int flags = 0;
        if (events[i].events & EPOLLIN)
          flags |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT)
          flags |= CURL_CSELECT_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP))
          flags |= CURL_CSELECT_ERR;
        auto w = watched_.find(fd);
        if (w == watched_.end())
          continue;
        if (!w->second.active) {
          // A parked connection: the server closed it or sent what was
          // not asked for. curl finds it dead when it would reuse it.
          epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
          watched_.erase(w);
          continue;
        }
        curl_multi_socket_action(shards_[w->second.shard].multi, fd, flags,
                                 &running);
      }
      collect();
    }
    shutdown();
  }

  /// Hands finished transfers on.
  void collect() {
    for (auto& sh : shards_) {
      int left = 0;
      while (auto* msg = curl_multi_info_read(sh.multi, &left)) {
        if (msg->msg != CURLMSG_DONE)
          continue;
        transfer* raw = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &raw);
        auto code = msg->data.result;
        finished(std::unique_ptr<transfer>{raw}, code);
      }
    }
  }

  /// How long epoll may sleep: until curl's or a retry's next deadline.
  int wait_ms() const {
    auto now = steady::now();
    int64_t wait = 1000;
    auto until = [&](steady::time_point t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(t - now)
        .count();
    };
    for (auto& sh : shards_)
      if (sh.due)
        wait = std::min<int64_t>(wait, until(*sh.due));
    if (!retries_.empty())
      wait = std::min<int64_t>(wait, until(retries_.top().due));
    return static_cast<int>(std::clamp<int64_t>(wait, 0, 1000));
  }

  /// A new request or a retry: passes the circuit breaker and the cap.
  void admit(std::unique_ptr<transfer> t) {
    auto& ep = endpoints_[t->endpoint];
    auto now = steady::now();
    if (t->attempt == 0)
      t->first_start = now;
    if (ep.state == endpoint_state::breaker::open) {
      if (now < ep.open_until) {
        fail_fast(std::move(t), ep);
        return;
      }
      ep.state = endpoint_state::breaker::half_open;
    }
    if (ep.state == endpoint_state::breaker::half_open) {
      if (ep.probe_in_flight) {
        fail_fast(std::move(t), ep);
        return;
      }
      ep.probe_in_flight = true;
      t->probe = true;
    }
    if (ep.in_flight >= settings_.max_per_endpoint && !t->probe) {
      ep.waiting.push_back(std::move(t));
      return;
    }
    start(std::move(t), ep);
  }

  void start(std::unique_ptr<transfer> t, endpoint_state& ep) {
    ++ep.in_flight;
    t->body.clear();
    t->retry_after = -1;
    t->errbuf[0] = '\0';
    CURL* easy = take_easy();
    t->easy = easy;
    // Every option is set for each transfer: an easy handle from the spares
    // keeps its connection-independent state without curl_easy_reset.
    curl_easy_setopt(easy, CURLOPT_URL, t->req.url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_for(t->req.api_key));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->req.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(t->req.body.size()));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max(1, t->req.timeout_ms)));
    curl_easy_setopt(
      easy, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(std::clamp(t->req.timeout_ms, 1, 10000)));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t.get());
    t->shard = pick_shard();
    auto& sh = shards_[t->shard];
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &sh);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, &sh);
    ++sh.in_flight;
    curl_multi_add_handle(sh.multi, easy);
    active_.insert(easy);
    t.release(); // owned by the multi handle until finished()
  }

  void finished(std::unique_ptr<transfer> t, CURLcode code) {
    auto& ep = endpoints_[t->endpoint];
    --ep.in_flight;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(shards_[t->shard].multi, t->easy);
    --shards_[t->shard].in_flight;
    active_.erase(t->easy);
    give_back_easy(t->easy);
    t->easy = nullptr;
    bool probe = t->probe;
    t->probe = false;
    if (probe)
      ep.probe_in_flight = false;
    auto ok = code == CURLE_OK && status >= 200 && status < 300;
    auto timed_out = code == CURLE_OPERATION_TIMEDOUT;
    // A reply past max_reply_bytes (on_body refused it) is not retried.
    auto too_large = code == CURLE_WRITE_ERROR;
    auto conn_error = code != CURLE_OK && !timed_out && !too_large;
    auto server_error = code == CURLE_OK && status >= 500;
    auto throttled = code == CURLE_OK && status == 429;
    if (ok) {
      ep.consecutive_failures = 0;
      if (ep.state != endpoint_state::breaker::closed) {
        std::lock_guard<std::mutex> guard{health_mtx_};
        failing_.erase(t->endpoint);
      }
      ep.state = endpoint_state::breaker::closed;
      deliver(std::move(t), status);
    } else {
      if (conn_error || timed_out || server_error) {
        ++ep.consecutive_failures;
        if (probe || ep.consecutive_failures >= settings_.breaker_threshold)
          open_circuit(ep, t->endpoint);
      }
      auto retryable = conn_error || server_error || throttled;
      if (retryable && t->attempt < settings_.max_retries
          && ep.state != endpoint_state::breaker::open) {
        schedule_retry(std::move(t));
      } else {
        // Errors that outlasted the retries are the endpoint's trouble,
        // not the request's: unavailable. A time-out stays one (the
        // request's own limit may be too short for the model).
        fail(std::move(t), status, code, retryable);
      }
    }
    pump(ep);
  }

  /// Starts waiting requests while the endpoint has room.
  void pump(endpoint_state& ep) {
    while (!ep.waiting.empty() && ep.in_flight < settings_.max_per_endpoint) {
      auto t = std::move(ep.waiting.front());
      ep.waiting.pop_front();
      start(std::move(t), ep);
    }
  }

  void open_circuit(endpoint_state& ep, const std::string& endpoint) {
    if (ep.state != endpoint_state::breaker::open)
      spdlog::warn("llm client opened circuit of {} after {} failures",
                   endpoint, ep.consecutive_failures);
    {
      std::lock_guard<std::mutex> guard{health_mtx_};
      failing_[endpoint] = "circuit open after "
                           + std::to_string(ep.consecutive_failures)
                           + " failed requests";
    }
    ep.state = endpoint_state::breaker::open;
    ep.open_until = steady::now()
                    + std::chrono::milliseconds(settings_.breaker_cooldown_ms);
    // Everything queued for this endpoint fails fast now.
    while (!ep.waiting.empty()) {
      auto t = std::move(ep.waiting.front());
      ep.waiting.pop_front();
      fail_fast(std::move(t), ep);
    }
  }

  void schedule_retry(std::unique_ptr<transfer> t) {
    int64_t delay = 0;
    if (t->retry_after >= 0) {
      delay = std::min<int64_t>(t->retry_after * 1000,
                                settings_.backoff_max_ms);
    } else {
      auto base = static_cast<int64_t>(settings_.backoff_base_ms)
                  << std::min(t->attempt, 20);
      std::uniform_real_distribution<double> jitter{0.5, 1.5};
      delay = std::min<int64_t>(static_cast<int64_t>(base * jitter(rng_)),
                                settings_.backoff_max_ms);
    }
    ++t->attempt;
    auto due = steady::now() + std::chrono::milliseconds(delay);
    retries_.push(retry_entry{due, t.release()});
  }

  void fire_due_retries() {
    auto now = steady::now();
    while (!retries_.empty() && retries_.top().due <= now) {
      std::unique_ptr<transfer> t{retries_.top().t};
      retries_.pop();
      admit(std::move(t));
    }
  }

  int64_t elapsed_ms(const transfer& t) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             steady::now() - t.first_start)
      .count();
  }

  void deliver(std::unique_ptr<transfer> t, long status) {
    llm_reply reply;
    reply.status = static_cast<int32_t>(status);
    reply.body = std::move(t->body);
    reply.latency_ms = elapsed_ms(*t);
    reply.retries = t->attempt;
    caf::anon_send(t->reply_to, atom::result_v, t->id, std::move(reply));
  }

  /// Fails a request: `unavailable` when the endpoint is at fault
  /// (connection errors, 429, 5xx after the retries), so that the task
  /// waits for it instead of failing; `timeout` or `agent_failed` else.
  void fail(std::unique_ptr<transfer> t, long status, CURLcode code,
            bool endpoint_fault) {
    std::string what = "POST " + t->req.url + ": ";
    if (code == CURLE_WRITE_ERROR) {
      what += "the reply is larger than " + std::to_string(max_reply_bytes)
              + " bytes";
    } else if (code != CURLE_OK) {
      what += t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(code);
    } else {
      what += "HTTP " + std::to_string(status);
      if (!t->body.empty())
        what += " " + t->body.substr(0, 200);
    }
    what += " (" + std::to_string(t->attempt + 1) + " attempt"
            + (t->attempt > 0 ? "s" : "") + ", "
            + std::to_string(elapsed_ms(*t)) + " ms)";
    auto err = caf::make_error(code == CURLE_OPERATION_TIMEDOUT ? ec::timeout
                               : endpoint_fault                 ? ec::unavailable
                                                                : ec::agent_failed,
                               std::move(what));
    caf::anon_send(t->reply_to, atom::result_v, t->id, std::move(err));
  }

  void fail_fast(std::unique_ptr<transfer> t, const endpoint_state& ep) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  ep.open_until - steady::now())
                  .count();
    auto err = caf::make_error(
      ec::unavailable,
      "circuit open for " + t->endpoint + " after "
        + std::to_string(ep.consecutive_failures)
        + " consecutive failures; failing fast, next probe in "
        + std::to_string(std::max<int64_t>(left, 0)) + " ms");
    caf::anon_send(t->reply_to, atom::result_v, t->id, std::move(err));
  }

  /// The request headers for an API key, built once per key and kept for
  /// the engine's life (a deployment has one key per endpoint, or none).
  curl_slist* headers_for(const std::string& api_key) {
    auto i = headers_.find(api_key);
    if (i != headers_.end())
      return i->second;
    auto* h = curl_slist_append(nullptr, "Content-Type: application/json");
    if (!api_key.empty())
      h = curl_slist_append(h, ("Authorization: Bearer " + api_key).c_str());
    // No "Expect: 100-continue" round trip for large prompts.
    h = curl_slist_append(h, "Expect:");
    headers_.emplace(api_key, h);
    return h;
  }

  CURL* take_easy() {
    if (!spare_.empty()) {
      auto* easy = spare_.back();
      spare_.pop_back();
      return easy;
    }
    return curl_easy_init();
  }

  void give_back_easy(CURL* easy) {
    if (spare_.size() < 1024)
      spare_.push_back(easy);
    else
      curl_easy_cleanup(easy);
  }

  /// Fails everything still pending when the engine stops.
  void shutdown() {
    auto stopped = [](std::unique_ptr<transfer> t) {
      caf::anon_send(t->reply_to, atom::result_v, t->id,
                     caf::make_error(ec::agent_failed,
                                     "llm client stopped before POST "
                                       + t->req.url + " finished"));
    };
    for (auto& [name, ep] : endpoints_)
      while (!ep.waiting.empty()) {
        auto t = std::move(ep.waiting.front());
        ep.waiting.pop_front();
        stopped(std::move(t));
      }
    while (!retries_.empty()) {
      std::unique_ptr<transfer> t{retries_.top().t};
      retries_.pop();
      stopped(std::move(t));
    }
    for (auto& t : incoming_)
      stopped(std::move(t));
    incoming_.clear();
    // Transfers still inside the multi handle.
    for (auto* easy : std::vector<CURL*>(active_.begin(), active_.end())) {
      transfer* raw = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
      curl_multi_remove_handle(shards_[raw->shard].multi, easy);
      active_.erase(easy);
      curl_easy_cleanup(easy);
      std::unique_ptr<transfer> t{raw};
      stopped(std::move(t));
    }
    for (auto* easy : spare_)
      curl_easy_cleanup(easy);
    spare_.clear();
    for (auto& [key, h] : headers_)
      curl_slist_free_all(h);
    headers_.clear();
  }

  llm_client_settings settings_;
  int epoll_ = -1;
  int wakeup_ = -1;
  /// A socket in the epoll set: its shard, the events registered, and
  /// whether curl watches it (else parked: an idle kept-alive connection).
  struct watch {
    size_t shard = 0;
    uint32_t events = 0;
    bool active = true;
  };
  std::unordered_map<curl_socket_t, watch> watched_;
  /// Sockets opened through on_open_socket and not closed yet.
  std::unordered_set<curl_socket_t> own_sockets_;
  struct shard {
    curl_engine* engine = nullptr;
    size_t index = 0;
    CURLM* multi = nullptr;
    /// curl's next time-out.
    std::optional<steady::time_point> due;
    /// Open connections and transfers running.
    int64_t connections = 0;
    int64_t in_flight = 0;
  };
  std::array<shard, 8> shards_;
  size_t next_shard_ = 0;
  std::thread thread_;
  std::mutex mtx_;
  mutable std::mutex health_mtx_;
  std::map<std::string, std::string> failing_;
  bool stopping_ = false;
  std::deque<std::unique_ptr<transfer>> incoming_;
  // -- engine thread only --
  std::map<std::string, endpoint_state> endpoints_;
  std::priority_queue<retry_entry, std::vector<retry_entry>,
                      std::greater<retry_entry>>
    retries_;
  std::vector<CURL*> spare_;
  std::unordered_map<std::string, curl_slist*> headers_;
  std::unordered_set<CURL*> active_;
  std::mt19937_64 rng_;
};

// -- the front actor ----------------------------------------------------------

struct llm_front_state {
  static inline const char* name = "llm-client";
  std::unique_ptr<curl_engine> engine;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, caf::typed_response_promise<llm_reply>> pending;
};

llm_front_actor::behavior_type
llm_front(llm_front_actor::stateful_pointer<llm_front_state> self,
          llm_client_settings settings) {
  self->state.engine = std::make_unique<curl_engine>(settings);
  return {
    [=](atom::complete, llm_request& req) -> caf::result<llm_reply> {
      auto& st = self->state;
      if (req.url.rfind("http://", 0) != 0 && req.url.rfind("https://", 0) != 0)
        return caf::make_error(ec::invalid_argument,
                               "LLM URL must start with http:// or https://, "
                               "got '"
                                 + req.url + "'");
      auto id = ++st.next_id;
      auto rp = self->make_response_promise<llm_reply>();
      st.pending.emplace(id, rp);
      st.engine->submit(id, caf::actor_cast<caf::actor>(self), std::move(req));
      return rp;
    },
    [=](atom::status) -> caf::result<std::vector<std::string>> {
      return self->state.engine->failing();
    },
    [=](atom::result, uint64_t id, llm_reply& reply) {
      auto& st = self->state;
      auto i = st.pending.find(id);
      if (i == st.pending.end())
        return;
      i->second.deliver(std::move(reply));
      st.pending.erase(i);
    },
    [=](atom::result, uint64_t id, caf::error& err) {
      auto& st = self->state;
      auto i = st.pending.find(id);
      if (i == st.pending.end())
        return;
      i->second.deliver(std::move(err));
      st.pending.erase(i);
    },
  };
}

std::once_flag curl_global;

} // namespace

llm_client_actor spawn_llm_client(caf::actor_system& sys,
                                  llm_client_settings settings) {
  std::call_once(curl_global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  auto front = sys.spawn(llm_front, settings);
  return caf::actor_cast<llm_client_actor>(front);
}

} // namespace orch
