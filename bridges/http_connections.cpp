// The HTTP transport's connections: connect() to an address of the
// endpoint, the request out with sendmsg, the reply in with recv and the
// reply parser, then the idle pool or close (bridges/http_transport_impl.hpp).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bridges/http_transport_impl.hpp"

namespace orch {

using namespace http_detail;

namespace {

std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r returns the text (maybe not in buf).
  return strerror_r(err, buf, sizeof(buf));
}

} // namespace

void http_transport::impl::want(connection& c, uint32_t events) {
  if (c.events == events)
    return;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &c;
  epoll_ctl(epoll, EPOLL_CTL_MOD, c.fd, &ev);
  c.events = events;
}

void http_transport::impl::close_conn(connection* c) {
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

void http_transport::impl::bury() {
  for (auto* c : graveyard)
    delete c;
  graveyard.clear();
}

std::optional<size_t> http_transport::impl::next_address(const endpoint& ep,
                                                         const post_state& p) {
  auto n = std::min<size_t>(ep.addrs.size(), 64);
  auto untried = [&](size_t k) { return ((p.tried >> k) & 1) == 0; };
  if (ep.preferred < n && untried(ep.preferred))
    return ep.preferred;
  for (size_t k = 0; k < n; ++k)
    if (untried(k))
      return k;
  return std::nullopt;
}

void http_transport::impl::open_conn(post_state* p, int err) {
  auto& ep = *p->t->ep;
  while (auto k = next_address(ep, *p)) {
    p->tried |= uint64_t{1} << *k;
    auto& a = ep.addrs[*k];
    auto fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                     0);
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

void http_transport::impl::connected(connection& c) {
  connecting.erase(c.p);
  // The address that answered is tried first by the next connections (a
  // name with an address that refuses, e.g. ::1 where the server listens
  // on IPv4 only, costs one refused attempt, not one per connection).
  c.ep->preferred = c.addr_index;
  send_on(c, c.p);
}

void http_transport::impl::connect_failed(connection* c, int err) {
  auto* p = c->p;
  close_conn(c);
  open_conn(p, err);
}

void http_transport::impl::send_on(connection& c, post_state* p) {
  c.p = p;
  p->conn = &c;
  c.ph = connection::phase::sending;
  c.sent = 0;
  c.reply.reset();
  write_some(c);
}

size_t http_transport::impl::request_size(const post_state& p) const {
  return p.head->size() + p.length_line.size() + p.body->size();
}

void http_transport::impl::write_some(connection& c) {
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

void http_transport::impl::broken(connection* c, std::string why) {
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

void http_transport::impl::replied(connection& c, bool extra_bytes) {
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

void http_transport::impl::read_some(connection& c) {
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

void http_transport::impl::on_event(connection& c, uint32_t ev) {
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

} // namespace orch
