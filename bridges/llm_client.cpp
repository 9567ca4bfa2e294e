#include "bridges/llm_client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/delegated.hpp>
#include <caf/mailbox_element.hpp>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include "bridges/curl_transport.hpp"
#include "bridges/http_transport.hpp"

namespace orch {

namespace {

using steady = std::chrono::steady_clock;

/// The part of a URL up to the path: "http://host:8000".
std::string endpoint_of(const std::string& url) {
  auto scheme = url.find("://");
  auto start = scheme == std::string::npos ? 0 : scheme + 3;
  auto slash = url.find('/', start);
  return url.substr(0, slash);
}

/// Lets the process open as many sockets as the hard limit allows: thousands
/// of requests in flight need thousands of connections.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// -- the engine --------------------------------------------------------------

/// One request, across its attempts.
struct call {
  uint64_t id = 0;
  /// Who asked, and the id its answer carries: the engine answers the
  /// requester itself, not through the front actor.
  caf::strong_actor_ptr requester;
  caf::message_id answer_id;
  llm_request req;
  std::string endpoint;
  int32_t attempt = 0;
  steady::time_point first_start;
  /// When this attempt went out.
  steady::time_point sent;
  bool probe = false;
};

struct endpoint_state {
  int32_t in_flight = 0;
  std::deque<std::unique_ptr<call>> waiting;
  /// Circuit breaker.
  enum class breaker { closed, open, half_open } state = breaker::closed;
  int32_t consecutive_failures = 0;
  steady::time_point open_until;
  bool probe_in_flight = false;
};

struct retry_entry {
  steady::time_point due;
  call* c;
  bool operator>(const retry_entry& other) const {
    return due > other.due;
  }
};

/// The requests' side of the bridge, on a thread of its own: the cap of
/// requests in flight per endpoint and the queue behind it, the circuit
/// breaker, retries with backoff or Retry-After, and the answers. The
/// thread drives the HTTP transports: its own for http://
/// (bridges/http_transport.hpp), libcurl for https://
/// (bridges/curl_transport.hpp), made when the first such URL comes.
class llm_engine {
public:
  explicit llm_engine(llm_client_settings settings)
      : settings_(settings),
        http_((raise_fd_limit(), settings.max_per_endpoint)),
        rng_(std::random_device{}()) {
    // The own transport knows no proxies: where the environment names one,
    // http:// goes through libcurl, which honours it (and NO_PROXY).
    for (auto* var : {"http_proxy", "all_proxy", "ALL_PROXY"})
      if (auto* v = std::getenv(var); v != nullptr && *v != '\0'
                                       && !settings_.curl_for_http) {
        spdlog::info("llm client: {} is set; http:// endpoints go through "
                     "libcurl and its proxy",
                     var);
        settings_.curl_for_http = true;
      }
    thread_ = std::thread{[this] { run(); }};
  }

  ~llm_engine() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    http_.wake();
    thread_.join();
  }

  llm_engine(const llm_engine&) = delete;
  llm_engine& operator=(const llm_engine&) = delete;

  /// Thread-safe: hands a request to the engine thread, which answers
  /// `requester` with a message of id `answer_id` (a response).
  void submit(uint64_t id, caf::strong_actor_ptr requester,
              caf::message_id answer_id, llm_request req) {
    auto c = std::make_unique<call>();
    c->id = id;
    c->requester = std::move(requester);
    c->answer_id = answer_id;
    c->req = std::move(req);
    c->endpoint = endpoint_of(c->req.url);
    bool first;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      first = incoming_.empty();
      incoming_.push_back(std::move(c));
    }
    // The engine thread looks at `incoming_` after it says it may wait and
    // before it waits (run): either it sees this request, or this sees
    // that it may wait. A busy engine thread is not woken (a system call),
    // nor one waiting out a window of gathered replies (run).
    if (first && may_wait_.load(std::memory_order_seq_cst))
      http_.wake();
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
  void run() {
    std::vector<std::unique_ptr<call>> batch;
    std::vector<http_outcome> done;
    for (;;) {
      if (auto now = steady::now(); now < next_read_) {
        // Gathering replies (llm_client_settings::gather_max_us): requests
        // that come meanwhile wait too (submit does not wake this thread
        // while `may_wait_` is false, and `incoming_` is taken only after
        // the window) and go out with the next read.
        {
          std::lock_guard<std::mutex> guard{mtx_};
          if (stopping_)
            break;
        }
        http_.wait_for_wake(
          std::chrono::duration_cast<std::chrono::microseconds>(next_read_
                                                                - now)
            .count()
          + 1);
        continue;
      }
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (stopping_)
          break;
        batch.assign(std::make_move_iterator(incoming_.begin()),
                     std::make_move_iterator(incoming_.end()));
        incoming_.clear();
      }
      for (auto& c : batch)
        admit(std::move(c));
      batch.clear();
      fire_due_retries();
      auto wait = wait_ms();
      if (curl_)
        wait = curl_->due_in_ms(wait);
      if (!may_wait())
        wait = 0;
      http_.poll(wait, done);
      may_wait_.store(false, std::memory_order_relaxed);
      if (curl_)
        curl_->poll(0, done);
      if (!done.empty()) {
        auto read_at = steady::now();
        next_read_ = read_at + gather_window();
        for (auto& out : done)
          finished(out, read_at);
        done.clear();
      }
    }
    shutdown();
  }

  /// How long after reading replies the engine waits before it reads
  /// again: a share of a model call's mean time while enough calls are in
  /// flight, else none.
  steady::duration gather_window() const {
    if (settings_.gather_max_us <= 0 || settings_.gather_share <= 0
        || running_.size()
             < static_cast<size_t>(std::max(settings_.gather_min_in_flight, 0)))
      return {};
    return std::min<steady::duration>(
      mean_call_ / settings_.gather_share,
      std::chrono::microseconds(settings_.gather_max_us));
  }

  /// Says that the engine thread may wait (see submit), then looks at
  /// `incoming_` once more: false when a request or the stop came first
  /// (then it must not wait). The caller clears `may_wait_` after its wait.
  bool may_wait() {
    may_wait_.store(true, std::memory_order_seq_cst);
    std::lock_guard<std::mutex> guard{mtx_};
    return incoming_.empty() && !stopping_;
  }

  /// How long the transport may wait: until the next retry is due.
  int wait_ms() const {
    if (retries_.empty())
      return 1000;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  retries_.top().due - steady::now())
                  .count();
    return static_cast<int>(std::clamp<int64_t>(left, 0, 1000));
  }

  /// A new request or a retry: passes the circuit breaker and the cap.
  void admit(std::unique_ptr<call> c) {
    auto& ep = endpoints_[c->endpoint];
    auto now = steady::now();
    if (c->attempt == 0)
      c->first_start = now;
    if (ep.state == endpoint_state::breaker::open) {
      if (now < ep.open_until) {
        fail_fast(std::move(c), ep);
        return;
      }
      ep.state = endpoint_state::breaker::half_open;
    }
    if (ep.state == endpoint_state::breaker::half_open) {
      if (ep.probe_in_flight) {
        fail_fast(std::move(c), ep);
        return;
      }
      ep.probe_in_flight = true;
      c->probe = true;
    }
    if (ep.in_flight >= settings_.max_per_endpoint && !c->probe) {
      ep.waiting.push_back(std::move(c));
      return;
    }
    start(std::move(c), ep);
  }

  void start(std::unique_ptr<call> c, endpoint_state& ep) {
    ++ep.in_flight;
    c->sent = steady::now();
    auto id = c->id;
    auto& req = c->req;
    if (settings_.curl_for_http || req.url.rfind("https://", 0) == 0)
      curl().post(id, req.url, req.api_key, req.body, req.timeout_ms);
    else
      http_.post(id, req.url, req.api_key, req.body, req.timeout_ms);
    running_.emplace(id, std::move(c));
  }

  /// A POST ended; `read_at` is when its outcome was read.
  void finished(http_outcome& out, steady::time_point read_at) {
    auto i = running_.find(out.tag);
    if (i == running_.end())
      return;
    auto c = std::move(i->second);
    running_.erase(i);
    auto& ep = endpoints_[c->endpoint];
    --ep.in_flight;
    bool probe = c->probe;
    c->probe = false;
    if (probe)
      ep.probe_in_flight = false;
    using kind = http_outcome::kind;
    auto replied = out.what == kind::replied;
    auto ok = replied && out.status >= 200 && out.status < 300;
    // A reply past max_reply_bytes is not retried.
    auto conn_error = out.what == kind::conn_error;
    auto timed_out = out.what == kind::timed_out;
    auto server_error = replied && out.status >= 500;
    auto throttled = replied && out.status == 429;
    if (ok) {
      // A moving mean over about the last 16 calls, from the first.
      auto took = read_at - c->sent;
      mean_call_ = mean_call_.count() == 0 ? took
                                           : mean_call_ + (took - mean_call_) / 16;
      ep.consecutive_failures = 0;
      if (ep.state != endpoint_state::breaker::closed) {
        std::lock_guard<std::mutex> guard{health_mtx_};
        failing_.erase(c->endpoint);
      }
      ep.state = endpoint_state::breaker::closed;
      deliver(std::move(c), out);
    } else {
      if (conn_error || timed_out || server_error) {
        ++ep.consecutive_failures;
        if (probe || ep.consecutive_failures >= settings_.breaker_threshold)
          open_circuit(ep, c->endpoint);
      }
      auto retryable = conn_error || server_error || throttled;
      if (retryable && c->attempt < settings_.max_retries
          && ep.state != endpoint_state::breaker::open) {
        schedule_retry(std::move(c), out.retry_after);
      } else {
        // Errors that outlasted the retries are the endpoint's trouble,
        // not the request's: unavailable. A time-out stays one (the
        // request's own limit may be too short for the model).
        fail(std::move(c), out, retryable);
      }
    }
    pump(ep);
  }

  /// Starts waiting requests while the endpoint has room.
  void pump(endpoint_state& ep) {
    while (!ep.waiting.empty() && ep.in_flight < settings_.max_per_endpoint) {
      auto c = std::move(ep.waiting.front());
      ep.waiting.pop_front();
      start(std::move(c), ep);
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
      auto c = std::move(ep.waiting.front());
      ep.waiting.pop_front();
      fail_fast(std::move(c), ep);
    }
  }

  void schedule_retry(std::unique_ptr<call> c, long retry_after) {
    int64_t delay = 0;
    if (retry_after >= 0) {
      delay = std::min<int64_t>(retry_after * 1000, settings_.backoff_max_ms);
    } else {
      auto base = static_cast<int64_t>(settings_.backoff_base_ms)
                  << std::min(c->attempt, 20);
      std::uniform_real_distribution<double> jitter{0.5, 1.5};
      delay = std::min<int64_t>(static_cast<int64_t>(base * jitter(rng_)),
                                settings_.backoff_max_ms);
    }
    ++c->attempt;
    auto due = steady::now() + std::chrono::milliseconds(delay);
    retries_.push(retry_entry{due, c.release()});
  }

  void fire_due_retries() {
    auto now = steady::now();
    while (!retries_.empty() && retries_.top().due <= now) {
      std::unique_ptr<call> c{retries_.top().c};
      retries_.pop();
      admit(std::move(c));
    }
  }

  int64_t elapsed_ms(const call& c) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             steady::now() - c.first_start)
      .count();
  }

  /// Answers the request's requester directly, as its response (one
  /// message from this thread into the requester's mailbox).
  static void answer(call& c, caf::message msg) {
    c.requester->enqueue(nullptr, c.answer_id, std::move(msg), nullptr);
  }

  void deliver(std::unique_ptr<call> c, http_outcome& out) {
    llm_reply reply;
    reply.status = static_cast<int32_t>(out.status);
    reply.body = std::move(out.body);
    reply.latency_ms = elapsed_ms(*c);
    reply.retries = c->attempt;
    answer(*c, caf::make_message(std::move(reply)));
  }

  /// Fails a request: `unavailable` when the endpoint is at fault
  /// (connection errors, 429, 5xx after the retries), so that the task
  /// waits for it instead of failing; `timeout` or `agent_failed` else.
  void fail(std::unique_ptr<call> c, const http_outcome& out,
            bool endpoint_fault) {
    std::string what = "POST " + c->req.url + ": ";
    if (out.what != http_outcome::kind::replied) {
      what += out.error;
    } else {
      what += "HTTP " + std::to_string(out.status);
      if (!out.body.empty())
        what += " " + out.body.substr(0, 200);
    }
    what += " (" + std::to_string(c->attempt + 1) + " attempt"
            + (c->attempt > 0 ? "s" : "") + ", "
            + std::to_string(elapsed_ms(*c)) + " ms)";
    auto code = out.what == http_outcome::kind::timed_out ? ec::timeout
                : endpoint_fault                          ? ec::unavailable
                                                          : ec::agent_failed;
    answer(*c, caf::make_message(caf::make_error(code, std::move(what))));
  }

  void fail_fast(std::unique_ptr<call> c, const endpoint_state& ep) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  ep.open_until - steady::now())
                  .count();
    auto err = caf::make_error(
      ec::unavailable,
      "circuit open for " + c->endpoint + " after "
        + std::to_string(ep.consecutive_failures)
        + " consecutive failures; failing fast, next probe in "
        + std::to_string(std::max<int64_t>(left, 0)) + " ms");
    answer(*c, caf::make_message(std::move(err)));
  }

  /// Fails everything still pending when the engine stops.
  void shutdown() {
    auto stopped = [](std::unique_ptr<call> c) {
      answer(*c, caf::make_message(
                   caf::make_error(ec::agent_failed,
                                   "llm client stopped before POST "
                                     + c->req.url + " finished")));
    };
    for (auto& [name, ep] : endpoints_)
      while (!ep.waiting.empty()) {
        auto c = std::move(ep.waiting.front());
        ep.waiting.pop_front();
        stopped(std::move(c));
      }
    while (!retries_.empty()) {
      std::unique_ptr<call> c{retries_.top().c};
      retries_.pop();
      stopped(std::move(c));
    }
    for (auto& c : incoming_)
      stopped(std::move(c));
    incoming_.clear();
    // POSTs still running: out of the transports first, then answered.
    http_.abort_all();
    if (curl_)
      curl_->abort_all();
    for (auto& [id, c] : running_)
      stopped(std::move(c));
    running_.clear();
  }

  /// The https:// transport, made for the first such URL; its epoll set
  /// ends the waits of http_'s.
  curl_transport& curl() {
    if (!curl_) {
      curl_ = std::make_unique<curl_transport>(settings_.max_per_endpoint);
      http_.watch_also(curl_->fd());
    }
    return *curl_;
  }

  llm_client_settings settings_;
  http_transport http_;
  std::unique_ptr<curl_transport> curl_;
  std::thread thread_;
  std::mutex mtx_;
  mutable std::mutex health_mtx_;
  std::map<std::string, std::string> failing_;
  bool stopping_ = false;
  std::deque<std::unique_ptr<call>> incoming_;
  /// True from just before the engine thread's last look at `incoming_`
  /// until its wait for the transport ended (see submit); false while it
  /// waits out a window of gathered replies.
  std::atomic<bool> may_wait_{false};
  // -- engine thread only --
  std::map<std::string, endpoint_state> endpoints_;
  std::unordered_map<uint64_t, std::unique_ptr<call>> running_;
  std::priority_queue<retry_entry, std::vector<retry_entry>,
                      std::greater<retry_entry>>
    retries_;
  std::mt19937_64 rng_;
  /// Mean time of a successful call (see gather_window).
  steady::duration mean_call_{};
  /// Replies are not read before this (see gather_window).
  steady::time_point next_read_{};
};

// -- the front actor ----------------------------------------------------------

struct llm_front_state {
  static inline const char* name = "llm-client";
  std::unique_ptr<llm_engine> engine;
  uint64_t next_id = 0;
};

/// Takes requests and hands them to the engine thread; the engine answers
/// each requester itself (one message per answer instead of two: nothing
/// comes back through this actor).
llm_client_actor::behavior_type
llm_front(llm_client_actor::stateful_pointer<llm_front_state> self,
          llm_client_settings settings) {
  self->state.engine = std::make_unique<llm_engine>(settings);
  return {
    [=](atom::complete, llm_request& req) -> caf::result<llm_reply> {
      auto& st = self->state;
      if (req.url.rfind("http://", 0) != 0 && req.url.rfind("https://", 0) != 0)
        return caf::make_error(ec::invalid_argument,
                               "LLM URL must start with http:// or https://, "
                               "got '"
                                 + req.url + "'");
      auto* what = self->current_mailbox_element();
      // The answer goes straight to the sender, as a response promise would
      // send it (a response to a request, a plain message to a send); that
      // takes a sender and no relays (nothing forwards or delegates to this
      // actor).
      if (!what->sender || !what->stages.empty())
        return caf::make_error(ec::invalid_argument,
                               "complete needs a sender and no forwarding");
      st.engine->submit(++st.next_id, what->sender, what->mid.response_id(),
                        std::move(req));
      return caf::delegated<llm_reply>{};
    },
    [=](atom::status) -> caf::result<std::vector<std::string>> {
      return self->state.engine->failing();
    },
  };
}

} // namespace

llm_client_actor spawn_llm_client(caf::actor_system& sys,
                                  llm_client_settings settings) {
  return sys.spawn(llm_front, settings);
}

} // namespace orch
