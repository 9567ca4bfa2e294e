// Where an http:// POST goes: the parts of its URL, and the addresses of
// its host, looked up on a thread of their own. Used by the HTTP
// transport (bridges/http_transport_impl.hpp and its two files) alone.

#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>

#include "bridges/http_transport.hpp"

namespace orch::http_detail {

struct address {
  sockaddr_storage sa{};
  socklen_t len = 0;
};

/// `host` as an IPv4 or IPv6 address (without brackets) with `port`.
std::optional<address> numeric_address(const std::string& host, uint16_t port);

/// The parts of an http:// URL that a POST needs.
struct url_parts {
  /// Without brackets.
  std::string host;
  /// "80" when the URL gives none.
  std::string port;
  /// host[:port] as written: the Host header.
  std::string authority;
  /// From its '/', with the query, without the fragment.
  std::string path;
};

/// Splits `url` into `out`; why it cannot be used, or "".
std::string split_url(std::string_view url, url_parts& out);

/// Host names are looked up on a thread of their own (getaddrinfo blocks
/// for as long as DNS takes). It outlives the transport when a look-up
/// hangs: the transport's destructor does not wait for DNS. The eventfd
/// that ends the transport's waits is here, so that a late answer never
/// writes to a closed (or reused) descriptor.
struct resolver_shared {
  struct job {
    size_t endpoint = 0;
    std::string host;
    std::string port;
  };
  struct answer {
    size_t endpoint = 0;
    std::vector<address> addrs;
    std::string error;
  };

  std::mutex mtx;
  std::condition_variable cv;
  std::deque<job> jobs;
  std::vector<answer> answers;
  bool stopping = false;
  /// An eventfd: written by each answer, watched by the transport.
  int wakeup = -1;
  /// In place of getaddrinfo when set (tests).
  http_transport::lookup_fn lookup;

  resolver_shared();
  resolver_shared(const resolver_shared&) = delete;
  resolver_shared& operator=(const resolver_shared&) = delete;
  ~resolver_shared();

  /// Tells the transport that an answer came.
  void signal();

  /// Takes every signal() so far: one read takes the whole count and sets
  /// it to zero.
  void drain();

  /// The look-up thread: answers jobs until `stopping`.
  static void run(std::shared_ptr<resolver_shared> self);

  /// getaddrinfo for one job.
  static void resolve(const job& j, answer& a);
};

} // namespace orch::http_detail
