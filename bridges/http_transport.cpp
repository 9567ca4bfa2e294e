#include "bridges/http_transport.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "actors/timer_heap.hpp"
#include "bridges/http_reply.hpp"
#include "bridges/http_resolver.hpp"

namespace orch {

namespace {

using namespace http_detail;
using steady = std::chrono::steady_clock;

/// How long a host name's addresses are used before they are looked up
/// again (as libcurl's DNS cache); the old ones serve until the new come.
constexpr auto dns_ttl = std::chrono::seconds(60);

/// Longest wait for a connection to open (libcurl's connect time-out as
/// the client set it).
constexpr int32_t max_connect_ms = 10'000;

/// Bytes read per recv.
constexpr size_t read_chunk = 64 * 1024;

std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r returns the text (maybe not in buf).
  return strerror_r(err, buf, sizeof(buf));
}

struct connection;
struct post_state;

/// scheme://host:port: its addresses and its idle connections.
struct endpoint {
  size_t index = 0;
  std::string host;
  std::string port;
  bool numeric = false;
  std::vector<address> addrs;
  /// The address that answered last.
  size_t preferred = 0;
  steady::time_point resolved_at;
  bool resolving = false;
  std::vector<connection*> idle;
  /// POSTs (by tag) waiting for the host's addresses.
  std::vector<uint64_t> waiting;
};

/// A URL as POSTs to it need it.
struct target {
  endpoint* ep = nullptr;
  /// The request line and the headers up to Authorization.
  std::string head;
  /// The head with each API key's Authorization header.
  std::unordered_map<std::string, std::string> head_by_key;
  /// Why the URL cannot be used (then nothing else is set).
  std::string error;
};

struct post_state {
  uint64_t tag = 0;
  target* t = nullptr;
  const std::string* body = nullptr;
  const std::string* head = nullptr;
  std::string length_line;
  int32_t timeout_ms = 0;
  steady::time_point started;
  connection* conn = nullptr;
  /// Sent once more on a new connection after a kept-alive one died.
  bool resent = false;
  /// The endpoint's addresses tried (bit k: addrs[k]) since it last asked
  /// for a connection.
  uint64_t tried = 0;
  /// Places in the heaps of deadlines: the whole POST's, and the
  /// connection's while one opens.
  size_t whole_slot = static_cast<size_t>(-1);
  size_t connect_slot = static_cast<size_t>(-1);
};

struct connection {
  enum class phase { connecting, sending, receiving, idle, closed };
  int fd = -1;
  endpoint* ep = nullptr;
  phase ph = phase::connecting;
  post_state* p = nullptr;
  /// Carried a reply before: the server may have closed it meanwhile.
  bool reused = false;
  uint32_t events = 0;
  size_t idle_pos = 0;
  size_t addr_index = 0;
  size_t sent = 0;
  http_reply_parser reply;
};

/// Deadlines of running POSTs, earliest first (nanoseconds of the steady
/// clock).
using deadlines = timer_heap<post_state, &post_state::whole_slot>;
using connect_deadlines = timer_heap<post_state, &post_state::connect_slot>;

int64_t ticks(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           t.time_since_epoch())
    .count();
}

/// How long a POST waits for its connection to open.
int32_t connect_ms(const post_state& p) {
  return std::min(p.timeout_ms, max_connect_ms);
}

/// The epoll tag of the fd given to watch_also().
char extra_marker;

} // namespace

struct http_transport::impl {
  size_t max_idle;
  int epoll = -1;
  std::shared_ptr<resolver_shared> resolver
    = std::make_shared<resolver_shared>();
  bool resolver_running = false;
  std::vector<std::unique_ptr<endpoint>> endpoints;
  std::unordered_map<std::string, endpoint*> endpoint_by_key;
  std::unordered_map<std::string, std::unique_ptr<target>> targets;
  std::unordered_map<uint64_t, std::unique_ptr<post_state>> running;
  deadlines whole;
  connect_deadlines connecting;
  std::unordered_set<connection*> open;
  /// Closed connections, freed at the end of a poll(): an event for one
  /// may still be in the batch being handled.
  std::vector<connection*> graveyard;
  /// Outcomes decided outside poll(), handed out by the next one.
  std::vector<http_outcome> early;
  std::vector<http_outcome>* out = nullptr;
  std::vector<epoll_event> events = std::vector<epoll_event>(512);
  std::unique_ptr<char[]> scratch{new char[read_chunk]};

  explicit impl(int64_t idle)
      : max_idle(static_cast<size_t>(std::clamp<int64_t>(idle, 16, 1 << 16))) {
    epoll = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    epoll_ctl(epoll, EPOLL_CTL_ADD, resolver->wakeup, &ev);
  }

  ~impl() {
    abort_all();
    for (auto* c : std::vector<connection*>(open.begin(), open.end()))
      close_conn(c);
    bury();
    {
      std::lock_guard<std::mutex> guard{resolver->mtx};
      resolver->stopping = true;
    }
    resolver->cv.notify_all();
    close(epoll);
  }

  // -- outcomes ---------------------------------------------------------------

  void emit(http_outcome&& o) {
    if (out != nullptr)
      out->push_back(std::move(o));
    else
      early.push_back(std::move(o));
  }

  /// Forgets a POST that ended (frees it).
  void end_post(post_state* p) {
    whole.erase(p);
    connecting.erase(p);
    running.erase(p->tag);
  }

  void fail_post(post_state* p, http_outcome::kind what, std::string why) {
    if (p->conn != nullptr)
      close_conn(p->conn);
    http_outcome o;
    o.tag = p->tag;
    o.what = what;
    o.error = std::move(why);
    end_post(p);
    emit(std::move(o));
  }

  // -- URLs and names ---------------------------------------------------------

  endpoint* endpoint_for(const std::string& host, const std::string& port) {
    auto key = host + '\n' + port;
    auto i = endpoint_by_key.find(key);
    if (i != endpoint_by_key.end())
      return i->second;
    auto ep = std::make_unique<endpoint>();
    ep->index = endpoints.size();
    ep->host = host;
    ep->port = port;
    if (auto a = numeric_address(host,
                                 static_cast<uint16_t>(std::stoi(port)))) {
      ep->numeric = true;
      ep->addrs.push_back(*a);
    }
    auto* raw = ep.get();
    endpoints.push_back(std::move(ep));
    endpoint_by_key.emplace(std::move(key), raw);
    return raw;
  }

  /// http://host[:port][/path][?query]: its endpoint and request head.
  target* target_of(const std::string& url) {
    auto i = targets.find(url);
    if (i != targets.end())
      return i->second.get();
    auto t = std::make_unique<target>();
    url_parts parts;
    if (auto why = split_url(url, parts); !why.empty()) {
      t->error = "cannot POST to '" + url + "': " + why;
    } else {
      t->ep = endpoint_for(parts.host, parts.port);
      t->head = "POST " + parts.path + " HTTP/1.1\r\nHost: " + parts.authority
                + "\r\nUser-Agent: orchestrator\r\n"
                  "Accept: application/json\r\n"
                  "Content-Type: application/json\r\n";
    }
    auto* raw = t.get();
    targets.emplace(url, std::move(t));
    return raw;
  }

  /// The head of a POST to `t` with `api_key`, built once per key.
  const std::string* head_for(target& t, const std::string& api_key) {
    auto i = t.head_by_key.find(api_key);
    if (i != t.head_by_key.end())
      return &i->second;
    auto head = t.head;
    if (!api_key.empty())
      head += "Authorization: Bearer " + api_key + "\r\n";
    return &t.head_by_key.emplace(api_key, std::move(head)).first->second;
  }

  void resolve(endpoint& ep) {
    ep.resolving = true;
    if (!resolver_running) {
      resolver_running = true;
      std::thread{resolver_shared::run, resolver}.detach();
    }
    {
      std::lock_guard<std::mutex> guard{resolver->mtx};
      resolver->jobs.push_back({ep.index, ep.host, ep.port});
    }
    resolver->cv.notify_one();
  }

  void take_answers() {
    std::vector<resolver_shared::answer> answers;
    {
      std::lock_guard<std::mutex> guard{resolver->mtx};
      answers.swap(resolver->answers);
    }
    for (auto& a : answers) {
      auto& ep = *endpoints[a.endpoint];
      ep.resolving = false;
      ep.resolved_at = steady::now();
      if (!a.addrs.empty()) {
        ep.addrs = std::move(a.addrs);
        ep.preferred = 0;
      }
      auto waiting = std::move(ep.waiting);
      ep.waiting.clear();
      for (auto tag : waiting) {
        auto i = running.find(tag);
        if (i == running.end())
          continue; // timed out meanwhile
        auto* p = i->second.get();
        if (ep.addrs.empty()) {
          fail_post(p, http_outcome::kind::conn_error,
                    "Could not resolve host: " + ep.host + " (" + a.error
                      + ")");
        } else {
          p->tried = 0;
          open_conn(p);
        }
      }
    }
  }

  // -- connections ------------------------------------------------------------

  void want(connection& c, uint32_t events) {
    if (c.events == events)
      return;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &c;
    epoll_ctl(epoll, EPOLL_CTL_MOD, c.fd, &ev);
    c.events = events;
  }

  void close_conn(connection* c) {
    if (c->fd < 0)
      return;
    if (c->ph == connection::phase::idle) {
      auto& idle = c->ep->idle;
      idle[c->idle_pos] = idle.back();
      idle[c->idle_pos]->idle_pos = c->idle_pos;
      idle.pop_back();
    }
    if (c->p != nullptr) {
      connecting.erase(c->p);
      c->p->conn = nullptr;
      c->p = nullptr;
    }
    close(c->fd); // leaves the epoll set with it
    c->fd = -1;
    c->ph = connection::phase::closed;
    open.erase(c);
    graveyard.push_back(c);
  }

  void bury() {
    for (auto* c : graveyard)
      delete c;
    graveyard.clear();
  }

  /// The next address for `p` to try: the one that answered last, else
  /// the first not tried yet.
  std::optional<size_t> next_address(const endpoint& ep, const post_state& p) {
    auto n = std::min<size_t>(ep.addrs.size(), 64);
    auto untried = [&](size_t k) { return ((p.tried >> k) & 1) == 0; };
    if (ep.preferred < n && untried(ep.preferred))
      return ep.preferred;
    for (size_t k = 0; k < n; ++k)
      if (untried(k))
        return k;
    return std::nullopt;
  }

  /// Opens a connection for `p` on an address it has not tried; fails it
  /// (with `err`, the last attempt's error) when none is left.
  void open_conn(post_state* p, int err = 0) {
    auto& ep = *p->t->ep;
    while (auto k = next_address(ep, *p)) {
      p->tried |= uint64_t{1} << *k;
      auto& a = ep.addrs[*k];
      auto fd = socket(a.sa.ss_family,
                       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        err = errno;
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
      auto rc = connect(fd, reinterpret_cast<const sockaddr*>(&a.sa), a.len);
      if (rc != 0 && errno != EINPROGRESS) {
        err = errno;
        close(fd);
        continue;
      }
      auto* c = new connection;
      c->fd = fd;
      c->ep = &ep;
      c->addr_index = *k;
      c->p = p;
      c->events = EPOLLIN | EPOLLOUT;
      p->conn = c;
      open.insert(c);
      epoll_event ev{};
      ev.events = c->events;
      ev.data.ptr = c;
      epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
      connecting.insert(
        ticks(steady::now() + std::chrono::milliseconds(connect_ms(*p))), p);
      if (rc == 0)
        connected(*c);
      return;
    }
    fail_post(p, http_outcome::kind::conn_error,
              "Failed to connect to " + ep.host + " port " + ep.port + ": "
                + errno_text(err != 0 ? err : EADDRNOTAVAIL));
  }

  void connected(connection& c) {
    connecting.erase(c.p);
    // The address that answered is tried first by the next connections (a
    // name with an address that refuses, e.g. ::1 where the server listens
    // on IPv4 only, costs one refused attempt, not one per connection).
    c.ep->preferred = c.addr_index;
    send_on(c, c.p);
  }

  /// A connection did not open: the next address, else the POST fails.
  void connect_failed(connection* c, int err) {
    auto* p = c->p;
    close_conn(c);
    open_conn(p, err);
  }

  void send_on(connection& c, post_state* p) {
    c.p = p;
    p->conn = &c;
    c.ph = connection::phase::sending;
    c.sent = 0;
    c.reply.reset();
    write_some(c);
  }

  size_t request_size(const post_state& p) const {
    return p.head->size() + p.length_line.size() + p.body->size();
  }

  void write_some(connection& c) {
    auto& p = *c.p;
    const std::string* parts[] = {p.head, &p.length_line, p.body};
    auto total = request_size(p);
    while (c.sent < total) {
      iovec iov[3];
      int n = 0;
      size_t skip = c.sent;
      for (auto* s : parts) {
        if (skip >= s->size()) {
          skip -= s->size();
          continue;
        }
        iov[n].iov_base = const_cast<char*>(s->data() + skip);
        iov[n].iov_len = s->size() - skip;
        skip = 0;
        ++n;
      }
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = static_cast<size_t>(n);
      auto w = sendmsg(c.fd, &m, MSG_NOSIGNAL);
      if (w > 0) {
        c.sent += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        want(c, EPOLLIN | EPOLLOUT);
        return;
      }
      broken(&c, "Send failure: " + errno_text(w < 0 ? errno : EPIPE));
      return;
    }
    c.ph = connection::phase::receiving;
    want(c, EPOLLIN);
  }

  /// The connection failed while it carried a POST. One that was kept
  /// alive and gave nothing back was most likely closed by the server as
  /// the POST went: the POST goes again on a new connection, once.
  void broken(connection* c, std::string why) {
    auto* p = c->p;
    auto stale = c->reused && !c->reply.started() && p != nullptr && !p->resent;
    close_conn(c);
    if (p == nullptr)
      return;
    if (stale) {
      p->resent = true;
      dispatch(p);
      return;
    }
    fail_post(p, http_outcome::kind::conn_error, std::move(why));
  }

  /// The reply is complete: the POST's outcome, and the connection kept
  /// for the next POST when the server allows.
  void replied(connection& c, bool extra_bytes) {
    auto* p = c.p;
    http_outcome o;
    o.tag = p->tag;
    o.what = http_outcome::kind::replied;
    o.status = c.reply.status();
    o.retry_after = c.reply.retry_after();
    o.body = std::move(c.reply.body());
    auto reuse = c.reply.keep_alive() && !extra_bytes
                 && c.sent == request_size(*p);
    c.p = nullptr;
    p->conn = nullptr;
    end_post(p);
    emit(std::move(o));
    if (!reuse || c.ep->idle.size() >= max_idle) {
      close_conn(&c);
      return;
    }
    c.ph = connection::phase::idle;
    c.reused = true;
    c.reply.reset();
    want(c, EPOLLIN);
    c.idle_pos = c.ep->idle.size();
    c.ep->idle.push_back(&c);
  }

  void read_some(connection& c) {
    for (;;) {
      auto n = recv(c.fd, scratch.get(), read_chunk, 0);
      if (n > 0) {
        if (c.p == nullptr) {
          // Bytes nobody asked for on an idle connection.
          close_conn(&c);
          return;
        }
        size_t used = 0;
        auto r = c.reply.feed(scratch.get(), static_cast<size_t>(n), used);
        if (r == http_reply_parser::result::done) {
          replied(c, used < static_cast<size_t>(n));
          return;
        }
        if (r == http_reply_parser::result::failed) {
          auto kind = c.reply.too_large() ? http_outcome::kind::too_large
                                          : http_outcome::kind::conn_error;
          fail_post(c.p, kind, c.reply.error());
          return;
        }
        if (static_cast<size_t>(n) < read_chunk)
          return; // drained, most likely; epoll says when more comes
        continue;
      }
      if (n == 0) {
        if (c.p == nullptr) {
          close_conn(&c); // the server closed an idle connection
          return;
        }
        if (c.reply.finish() == http_reply_parser::result::done)
          replied(c, true);
        else
          broken(&c, c.reply.error());
        return;
      }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      if (c.p == nullptr) {
        close_conn(&c);
        return;
      }
      broken(&c, "Recv failure: " + errno_text(errno));
      return;
    }
  }

  void on_event(connection& c, uint32_t ev) {
    switch (c.ph) {
      case connection::phase::connecting: {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
          err = errno;
        if (err == 0 && (ev & (EPOLLERR | EPOLLHUP)) != 0)
          err = ECONNREFUSED;
        if (err != 0)
          connect_failed(&c, err);
        else if ((ev & EPOLLOUT) != 0)
          connected(c);
        return;
      }
      case connection::phase::sending:
        if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
          // The server may answer (an error) before it has read it all.
          read_some(c);
          if (c.fd < 0 || c.ph != connection::phase::sending)
            return;
        }
        if ((ev & EPOLLOUT) != 0)
          write_some(c);
        return;
      case connection::phase::receiving:
      case connection::phase::idle: read_some(c); return;
      case connection::phase::closed: return;
    }
  }

  // -- POSTs ------------------------------------------------------------------

  /// Puts a POST on an idle connection, a new one, or the wait for the
  /// host's addresses.
  void dispatch(post_state* p) {
    auto& ep = *p->t->ep;
    if (!ep.idle.empty() && !p->resent) {
      auto* c = ep.idle.back();
      ep.idle.pop_back();
      send_on(*c, p);
      return;
    }
    if (!ep.numeric && !ep.resolving
        && (ep.addrs.empty() || steady::now() - ep.resolved_at > dns_ttl))
      resolve(ep);
    if (ep.addrs.empty()) {
      ep.waiting.push_back(p->tag);
      return;
    }
    p->tried = 0;
    open_conn(p);
  }

  void post(uint64_t tag, const std::string& url, const std::string& api_key,
            const std::string& body, int32_t timeout_ms) {
    auto* t = target_of(url);
    auto refuse = [&](std::string why) {
      http_outcome o;
      o.tag = tag;
      o.what = http_outcome::kind::conn_error;
      o.error = std::move(why);
      emit(std::move(o));
    };
    if (!t->error.empty())
      return refuse(t->error);
    if (api_key.find_first_of("\r\n") != std::string::npos)
      return refuse("the API key holds a line break");
    auto p = std::make_unique<post_state>();
    p->tag = tag;
    p->t = t;
    p->body = &body;
    p->head = head_for(*t, api_key);
    p->length_line = "Content-Length: " + std::to_string(body.size())
                     + "\r\n\r\n";
    p->timeout_ms = std::max(1, timeout_ms);
    p->started = steady::now();
    whole.insert(ticks(p->started + std::chrono::milliseconds(p->timeout_ms)),
                 p.get());
    auto* raw = p.get();
    running[tag] = std::move(p);
    dispatch(raw);
  }

  /// Fails the POSTs whose time ran out.
  void expire(steady::time_point now) {
    while (!whole.empty() && whole.top().first <= ticks(now)) {
      auto* p = whole.top().second;
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  now - p->started)
                  .count();
      auto got = p->conn != nullptr ? p->conn->reply.body().size() : 0;
      fail_post(p, http_outcome::kind::timed_out,
                "Operation timed out after " + std::to_string(ms)
                  + " milliseconds with " + std::to_string(got)
                  + " bytes received");
    }
    while (!connecting.empty() && connecting.top().first <= ticks(now)) {
      auto* p = connecting.top().second;
      auto& ep = *p->t->ep;
      fail_post(p, http_outcome::kind::timed_out,
                "Failed to connect to " + ep.host + " port " + ep.port
                  + " after " + std::to_string(connect_ms(*p))
                  + " ms: Connection timed out");
    }
  }

  void poll(int wait_ms, std::vector<http_outcome>& done) {
    out = &done;
    auto before = done.size();
    for (auto& o : early)
      done.push_back(std::move(o));
    early.clear();
    take_answers();
    auto now = steady::now();
    expire(now);
    int64_t wait = done.size() > before ? 0 : wait_ms;
    // Not past the earliest deadline (rounded up to a millisecond).
    auto until = [&](const auto& heap) {
      if (heap.empty())
        return;
      auto left = std::max<int64_t>(heap.top().first - ticks(now), 0);
      wait = std::min<int64_t>(wait, (left + 999'999) / 1'000'000);
    };
    until(whole);
    until(connecting);
    auto n
      = epoll_wait(epoll, events.data(), static_cast<int>(events.size()),
                   static_cast<int>(std::clamp<int64_t>(wait, 0, wait_ms)));
    for (int i = 0; i < n; ++i) {
      auto* ptr = events[i].data.ptr;
      if (ptr == nullptr) {
        resolver->drain();
        continue;
      }
      if (ptr == &extra_marker)
        continue;
      auto* c = static_cast<connection*>(ptr);
      if (c->fd >= 0)
        on_event(*c, events[i].events);
    }
    take_answers();
    expire(steady::now());
    bury();
    out = nullptr;
  }

  void abort_all() {
    for (auto& [tag, p] : running)
      if (p->conn != nullptr)
        close_conn(p->conn);
    whole = deadlines{};
    connecting = connect_deadlines{};
    running.clear();
    for (auto& ep : endpoints)
      ep->waiting.clear();
    early.clear();
  }
};

http_transport::http_transport(int64_t max_idle)
    : impl_(std::make_unique<impl>(max_idle)) {}

http_transport::~http_transport() = default;

void http_transport::post(uint64_t tag, const std::string& url,
                          const std::string& api_key, const std::string& body,
                          int32_t timeout_ms) {
  impl_->post(tag, url, api_key, body, timeout_ms);
}

void http_transport::poll(int wait_ms, std::vector<http_outcome>& done) {
  impl_->poll(wait_ms, done);
}

void http_transport::wake() {
  impl_->resolver->signal();
}

bool http_transport::wait_for_wake(int64_t timeout_us) {
  pollfd pfd{impl_->resolver->wakeup, POLLIN, 0};
  timespec ts{static_cast<time_t>(timeout_us / 1'000'000),
              static_cast<long>(timeout_us % 1'000'000) * 1000};
  if (ppoll(&pfd, 1, &ts, nullptr) <= 0)
    return false;
  impl_->resolver->drain();
  return true;
}

void http_transport::watch_also(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &extra_marker;
  epoll_ctl(impl_->epoll, EPOLL_CTL_ADD, fd, &ev);
}

void http_transport::abort_all() {
  impl_->abort_all();
}

void http_transport::use_lookup(lookup_fn f) {
  std::lock_guard<std::mutex> guard{impl_->resolver->mtx};
  impl_->resolver->lookup = std::move(f);
}

size_t http_transport::connections() const {
  return impl_->open.size();
}

} // namespace orch
