#include "bridges/http_resolver.hpp"

#include <algorithm>
#include <cstring>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace orch::http_detail {

resolver_shared::resolver_shared()
  : wakeup(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
}

resolver_shared::~resolver_shared() {
  if (wakeup >= 0)
    close(wakeup);
}

void resolver_shared::signal() {
  uint64_t one = 1;
  auto n = write(wakeup, &one, sizeof(one));
  (void) n;
}

void resolver_shared::drain() {
  uint64_t count;
  auto got = read(wakeup, &count, sizeof(count));
  (void) got;
}

std::optional<address> numeric_address(const std::string& host, uint16_t port) {
  address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.sa);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.sa);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof(sockaddr_in);
    return a;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof(sockaddr_in6);
    return a;
  }
  return std::nullopt;
}

std::string split_url(std::string_view url, url_parts& out) {
  constexpr auto npos = std::string_view::npos;
  if (url.substr(0, 7) != "http://")
    return "not an http:// URL";
  auto rest = url.substr(7);
  auto end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, end);
  auto path = end == npos ? std::string_view{} : rest.substr(end);
  path = path.substr(0, path.find('#'));
  if (authority.find('@') != npos)
    return "user names in URLs are not supported";
  auto host = authority;
  std::string_view port = "80";
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == npos)
      return "an IPv6 address without its ']'";
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return "text after the IPv6 address";
      port = after.substr(1);
    }
  } else if (auto colon = authority.rfind(':'); colon != npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty())
    return "no host";
  auto digits = !port.empty() && port.size() <= 5
                && std::all_of(port.begin(), port.end(),
                               [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoi(std::string{port}) < 1
      || std::stoi(std::string{port}) > 65535)
    return "a bad port";
  if (url.find_first_of("\r\n ") != npos)
    return "a space or line break in the URL";
  out.host = host;
  out.port = port;
  out.authority = authority;
  out.path = path.empty() || path.front() != '/' ? "/" + std::string{path}
                                                 : std::string{path};
  return {};
}

void resolver_shared::run(std::shared_ptr<resolver_shared> self) {
  for (;;) {
    job j;
    {
      std::unique_lock<std::mutex> guard{self->mtx};
      self->cv.wait(guard,
                    [&] { return self->stopping || !self->jobs.empty(); });
      if (self->stopping)
        return;
      j = std::move(self->jobs.front());
      self->jobs.pop_front();
    }
    answer a;
    a.endpoint = j.endpoint;
    http_transport::lookup_fn lookup;
    {
      std::lock_guard<std::mutex> guard{self->mtx};
      lookup = self->lookup;
    }
    if (lookup) {
      for (auto& name : lookup(j.host, j.port))
        if (auto x
            = numeric_address(name, static_cast<uint16_t>(std::stoi(j.port))))
          a.addrs.push_back(*x);
      if (a.addrs.empty())
        a.error = "no address";
    } else {
      resolve(j, a);
    }
    {
      std::lock_guard<std::mutex> guard{self->mtx};
      self->answers.push_back(std::move(a));
    }
    self->signal();
  }
}

void resolver_shared::resolve(const job& j, answer& a) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto rc = getaddrinfo(j.host.c_str(), j.port.c_str(), &hints, &found);
  if (rc != 0) {
    a.error = gai_strerror(rc);
  } else {
    for (auto* i = found; i != nullptr; i = i->ai_next) {
      if (i->ai_addrlen > sizeof(sockaddr_storage))
        continue;
      address x;
      std::memcpy(&x.sa, i->ai_addr, i->ai_addrlen);
      x.len = i->ai_addrlen;
      a.addrs.push_back(x);
    }
    freeaddrinfo(found);
    if (a.addrs.empty())
      a.error = "no address";
  }
}

} // namespace orch::http_detail
