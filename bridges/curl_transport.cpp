#include "bridges/curl_transport.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace orch {

namespace {

using steady = std::chrono::steady_clock;

std::once_flag curl_global;

/// One POST inside curl.
struct running_post {
  uint64_t tag = 0;
  CURL* easy = nullptr;
  std::string body;
  long retry_after = -1;
  char errbuf[CURL_ERROR_SIZE] = {};
  /// Index of the multi handle running it.
  size_t shard = 0;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* p = static_cast<running_post*>(user);
  if (p->body.size() + size * n > max_reply_bytes)
    return 0; // CURLE_WRITE_ERROR
  p->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* p = static_cast<running_post*>(user);
  auto len = size * n;
  static constexpr char key[] = "retry-after:";
  if (len > sizeof(key) - 1 && strncasecmp(data, key, sizeof(key) - 1) == 0) {
    auto value = std::string(data + sizeof(key) - 1, len - (sizeof(key) - 1));
    char* end = nullptr;
    auto secs = std::strtol(value.c_str(), &end, 10);
    if (end != value.c_str() && secs >= 0)
      p->retry_after = secs;
  }
  return len;
}

} // namespace

struct curl_transport::impl {
  /// A socket in the epoll set: its shard, the events registered, and
  /// whether curl watches it (else parked: an idle kept-alive connection).
  struct watch {
    size_t shard = 0;
    uint32_t events = 0;
    bool active = true;
  };

  struct shard {
    impl* owner = nullptr;
    size_t index = 0;
    CURLM* multi = nullptr;
    /// curl's next time-out.
    std::optional<steady::time_point> due;
    /// Open connections and POSTs running.
    int64_t connections = 0;
    int64_t in_flight = 0;
  };

  int epoll = -1;
  std::unordered_map<curl_socket_t, watch> watched;
  /// Sockets opened through on_open_socket and not closed yet.
  std::unordered_set<curl_socket_t> own_sockets;
  /// Transfers are spread over several multi handles: libcurl looks for a
  /// reusable connection by walking all connections to the host, which
  /// gets slow with thousands of them in one cache.
  std::array<shard, 8> shards;
  size_t next_shard = 0;
  std::vector<CURL*> spare;
  std::unordered_map<std::string, curl_slist*> headers;
  std::unordered_set<CURL*> active;
  std::vector<epoll_event> events = std::vector<epoll_event>(512);

  explicit impl(int64_t max_idle) {
    std::call_once(curl_global,
                   [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    epoll = epoll_create1(EPOLL_CLOEXEC);
    // Event-driven: curl tells us which sockets to watch and when its next
    // time-out is due, so a loop pass costs O(active sockets), not O(all
    // transfers) as curl_multi_perform/poll would with thousands in flight.
    for (size_t i = 0; i < shards.size(); ++i) {
      auto& sh = shards[i];
      sh.owner = this;
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
                        static_cast<long>(
                          std::clamp<int64_t>(max_idle, 16, 1 << 16)));
    }
  }

  ~impl() {
    abort_all();
    for (auto* easy : spare)
      curl_easy_cleanup(easy);
    for (auto& sh : shards)
      curl_multi_cleanup(sh.multi);
    for (auto& [key, h] : headers)
      curl_slist_free_all(h);
    close(epoll);
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
    auto* self = sh->owner;
    auto w = self->watched.find(s);
    if (what == CURL_POLL_REMOVE) {
      if (w == self->watched.end())
        return 0;
      // Only our own connections: a socket curl closes without
      // on_close_socket (its resolver's) must not stay in the table.
      if (w->second.events == EPOLLIN && self->own_sockets.count(s) > 0) {
        w->second.active = false;
      } else {
        epoll_ctl(self->epoll, EPOLL_CTL_DEL, s, nullptr);
        self->watched.erase(w);
      }
      return 0;
    }
    epoll_event ev{};
    ev.data.fd = s;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
      ev.events |= EPOLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
      ev.events |= EPOLLOUT;
    if (w == self->watched.end()) {
      self->watched.emplace(s, watch{sh->index, ev.events, true});
      if (epoll_ctl(self->epoll, EPOLL_CTL_ADD, s, &ev) != 0)
        epoll_ctl(self->epoll, EPOLL_CTL_MOD, s, &ev);
      return 0;
    }
    w->second.shard = sh->index;
    w->second.active = true;
    if (w->second.events != ev.events) {
      w->second.events = ev.events;
      if (epoll_ctl(self->epoll, EPOLL_CTL_MOD, s, &ev) != 0)
        epoll_ctl(self->epoll, EPOLL_CTL_ADD, s, &ev);
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
      sh->owner->own_sockets.insert(s);
    }
    return s;
  }

  static int on_close_socket(void* user, curl_socket_t s) {
    auto* sh = static_cast<shard*>(user);
    --sh->connections;
    // Closing removes it from the epoll set; a parked one is forgotten too.
    sh->owner->watched.erase(s);
    sh->owner->own_sockets.erase(s);
    return close(s);
  }

  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto* sh = static_cast<shard*>(user);
    if (timeout_ms < 0)
      sh->due.reset();
    else
      sh->due = steady::now() + std::chrono::milliseconds(timeout_ms);
    return 0;
  }

  /// The shard for a new POST: one with an idle connection if there is
  /// one (the most idle), else the least busy. Round robin alone opened a
  /// connection whenever its next shard had none idle while others had
  /// (~620 connections in a run at 3,000 in flight, counted with strace).
  size_t pick_shard() {
    size_t best = next_shard++ % shards.size();
    auto idle = [&](const shard& sh) { return sh.connections - sh.in_flight; };
    for (size_t k = 1; k < shards.size(); ++k) {
      auto i = (best + k) % shards.size();
      auto& a = shards[i];
      auto& b = shards[best];
      if (idle(a) > idle(b) || (idle(a) == idle(b) && a.in_flight < b.in_flight))
        best = i;
    }
    return best;
  }

  /// The request headers for an API key, built once per key and kept for
  /// the transport's life (a deployment has one key per endpoint, or none).
  curl_slist* headers_for(const std::string& api_key) {
    auto i = headers.find(api_key);
    if (i != headers.end())
      return i->second;
    auto* h = curl_slist_append(nullptr, "Content-Type: application/json");
    if (!api_key.empty())
      h = curl_slist_append(h, ("Authorization: Bearer " + api_key).c_str());
    // No "Expect: 100-continue" round trip for large prompts.
    h = curl_slist_append(h, "Expect:");
    headers.emplace(api_key, h);
    return h;
  }

  CURL* take_easy() {
    if (!spare.empty()) {
      auto* easy = spare.back();
      spare.pop_back();
      return easy;
    }
    return curl_easy_init();
  }

  void give_back_easy(CURL* easy) {
    if (spare.size() < 1024)
      spare.push_back(easy);
    else
      curl_easy_cleanup(easy);
  }

  void post(uint64_t tag, const std::string& url, const std::string& api_key,
            const std::string& body, int32_t timeout_ms) {
    auto p = std::make_unique<running_post>();
    p->tag = tag;
    CURL* easy = take_easy();
    p->easy = easy;
    // Every option is set for each POST: an easy handle from the spares
    // keeps its connection-independent state without curl_easy_reset.
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_for(api_key));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(body.size()));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, p.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, p.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max(1, timeout_ms)));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::clamp(timeout_ms, 1, 10000)));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, p.get());
    p->shard = pick_shard();
    auto& sh = shards[p->shard];
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &sh);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, &sh);
    ++sh.in_flight;
    curl_multi_add_handle(sh.multi, easy);
    active.insert(easy);
    p.release(); // owned by the multi handle until it ends
  }

  /// Takes a POST out of curl; its record.
  std::unique_ptr<running_post> take_out(CURL* easy) {
    running_post* raw = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
    std::unique_ptr<running_post> p{raw};
    curl_multi_remove_handle(shards[p->shard].multi, easy);
    --shards[p->shard].in_flight;
    active.erase(easy);
    give_back_easy(easy);
    p->easy = nullptr;
    return p;
  }

  /// Moves the POSTs curl has finished to `done`.
  void collect(std::vector<http_outcome>& done) {
    for (auto& sh : shards) {
      int left = 0;
      while (auto* msg = curl_multi_info_read(sh.multi, &left)) {
        if (msg->msg != CURLMSG_DONE)
          continue;
        auto code = msg->data.result;
        auto* easy = msg->easy_handle;
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        auto p = take_out(easy);
        http_outcome out;
        out.tag = p->tag;
        out.status = status;
        out.retry_after = p->retry_after;
        out.body = std::move(p->body);
        switch (code) {
          case CURLE_OK:
            out.what = http_outcome::kind::replied;
            break;
          case CURLE_OPERATION_TIMEDOUT:
            out.what = http_outcome::kind::timed_out;
            break;
          case CURLE_WRITE_ERROR:
            out.what = http_outcome::kind::too_large;
            break;
          default:
            out.what = http_outcome::kind::conn_error;
        }
        if (out.what == http_outcome::kind::too_large)
          out.error = "the reply is larger than "
                      + std::to_string(max_reply_bytes) + " bytes";
        else if (code != CURLE_OK)
          out.error = p->errbuf[0] != '\0' ? p->errbuf
                                           : curl_easy_strerror(code);
        done.push_back(std::move(out));
      }
    }
  }

  /// Milliseconds until curl's next time-out, at most `limit`.
  int64_t due_in(int64_t limit, steady::time_point now) const {
    for (auto& sh : shards)
      if (sh.due)
        limit = std::min<int64_t>(
          limit, std::chrono::duration_cast<std::chrono::milliseconds>(*sh.due
                                                                       - now)
                   .count());
    return limit;
  }

  void poll(int wait_ms, std::vector<http_outcome>& done) {
    int running = 0;
    auto now = steady::now();
    for (auto& sh : shards)
      if (sh.due && *sh.due <= now) {
        sh.due.reset();
        curl_multi_socket_action(sh.multi, CURL_SOCKET_TIMEOUT, 0, &running);
      }
    auto before = done.size();
    collect(done);
    int64_t wait = due_in(done.size() > before ? 0 : wait_ms, now);
    auto n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()),
                        static_cast<int>(std::clamp<int64_t>(wait, 0,
                                                             wait_ms)));
    for (int i = 0; i < n; ++i) {
      auto fd = events[i].data.fd;
      int flags = 0;
      if (events[i].events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
      if (events[i].events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
      if (events[i].events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
      auto w = watched.find(fd);
      if (w == watched.end())
        continue;
      if (!w->second.active) {
        // A parked connection: the server closed it or sent what was
        // not asked for. curl finds it dead when it would reuse it.
        epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
        watched.erase(w);
        continue;
      }
      curl_multi_socket_action(shards[w->second.shard].multi, fd, flags,
                               &running);
    }
    collect(done);
  }

  void abort_all() {
    for (auto* easy : std::vector<CURL*>(active.begin(), active.end()))
      take_out(easy);
  }
};

curl_transport::curl_transport(int64_t max_idle)
    : impl_(std::make_unique<impl>(max_idle)) {
}

curl_transport::~curl_transport() = default;

void curl_transport::post(uint64_t tag, const std::string& url,
                          const std::string& api_key, const std::string& body,
                          int32_t timeout_ms) {
  impl_->post(tag, url, api_key, body, timeout_ms);
}

void curl_transport::poll(int wait_ms, std::vector<http_outcome>& done) {
  impl_->poll(wait_ms, done);
}

int curl_transport::fd() const {
  return impl_->epoll;
}

int curl_transport::due_in_ms(int limit) const {
  return static_cast<int>(
    std::max<int64_t>(impl_->due_in(limit, steady::now()), 0));
}

void curl_transport::abort_all() {
  impl_->abort_all();
}

} // namespace orch
