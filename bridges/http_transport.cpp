#include "bridges/http_transport.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bridges/http_transport_impl.hpp"

namespace orch {

using namespace http_detail;

namespace {

/// The epoll tag of the fd given to watch_also().
char extra_marker;

} // namespace

http_transport::impl::impl(int64_t idle)
    : max_idle(static_cast<size_t>(std::clamp<int64_t>(idle, 16, 1 << 16))) {
  epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(epoll, EPOLL_CTL_ADD, resolver->wakeup, &ev);
}

http_transport::impl::~impl() {
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

void http_transport::impl::emit(http_outcome&& o) {
  if (out != nullptr)
    out->push_back(std::move(o));
  else
    early.push_back(std::move(o));
}

void http_transport::impl::end_post(post_state* p) {
  whole.erase(p);
  connecting.erase(p);
  running.erase(p->tag);
}

void http_transport::impl::fail_post(post_state* p, http_outcome::kind what,
                                     std::string why) {
  if (p->conn != nullptr)
    close_conn(p->conn);
  http_outcome o;
  o.tag = p->tag;
  o.what = what;
  o.error = std::move(why);
  end_post(p);
  emit(std::move(o));
}

endpoint* http_transport::impl::endpoint_for(const std::string& host,
                                             const std::string& port) {
  auto key = host + '\n' + port;
  auto i = endpoint_by_key.find(key);
  if (i != endpoint_by_key.end())
    return i->second;
  auto ep = std::make_unique<endpoint>();
  ep->index = endpoints.size();
  ep->host = host;
  ep->port = port;
  if (auto a = numeric_address(host, static_cast<uint16_t>(std::stoi(port)))) {
    ep->numeric = true;
    ep->addrs.push_back(*a);
  }
  auto* raw = ep.get();
  endpoints.push_back(std::move(ep));
  endpoint_by_key.emplace(std::move(key), raw);
  return raw;
}

target* http_transport::impl::target_of(const std::string& url) {
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

const std::string* http_transport::impl::head_for(target& t,
                                                  const std::string& api_key) {
  auto i = t.head_by_key.find(api_key);
  if (i != t.head_by_key.end())
    return &i->second;
  auto head = t.head;
  if (!api_key.empty())
    head += "Authorization: Bearer " + api_key + "\r\n";
  return &t.head_by_key.emplace(api_key, std::move(head)).first->second;
}

void http_transport::impl::resolve(endpoint& ep) {
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

void http_transport::impl::take_answers() {
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
                  "Could not resolve host: " + ep.host + " (" + a.error + ")");
      } else {
        p->tried = 0;
        open_conn(p);
      }
    }
  }
}
void http_transport::impl::dispatch(post_state* p) {
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

void http_transport::impl::post(uint64_t tag, const std::string& url,
                                const std::string& api_key,
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

void http_transport::impl::expire(steady::time_point now) {
  while (!whole.empty() && whole.top().first <= ticks(now)) {
    auto* p = whole.top().second;
    auto ms
      = std::chrono::duration_cast<std::chrono::milliseconds>(now - p->started)
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
              "Failed to connect to " + ep.host + " port " + ep.port + " after "
                + std::to_string(connect_ms(*p)) + " ms: Connection timed out");
  }
}

void http_transport::impl::poll(int wait_ms, std::vector<http_outcome>& done) {
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
  auto n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()),
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

void http_transport::impl::abort_all() {
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