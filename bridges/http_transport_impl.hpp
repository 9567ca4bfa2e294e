#pragma once

// The HTTP transport's parts (bridges/http_transport.hpp), shared by its
// two halves: bridges/http_transport.cpp (POSTs from post() to their
// outcome, URLs, host look-ups, poll()) and bridges/http_connections.cpp
// (a connection's socket, from connect() through the reply to the idle
// pool). Included by those two files alone.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <sys/epoll.h>

#include "actors/timer_heap.hpp"
#include "bridges/http_reply.hpp"
#include "bridges/http_resolver.hpp"
#include "bridges/http_transport.hpp"

namespace orch::http_detail {

using steady = std::chrono::steady_clock;

/// How long a host name's addresses are used before they are looked up
/// again (as libcurl's DNS cache); the old ones serve until the new come.
constexpr auto dns_ttl = std::chrono::seconds(60);

/// Longest wait for a connection to open (libcurl's connect time-out as
/// the client set it).
constexpr int32_t max_connect_ms = 10'000;

/// Bytes read per recv.
constexpr size_t read_chunk = 64 * 1024;

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

inline int64_t ticks(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           t.time_since_epoch())
    .count();
}

/// How long a POST waits for its connection to open.
inline int32_t connect_ms(const post_state& p) {
  return std::min(p.timeout_ms, max_connect_ms);
}

} // namespace orch::http_detail

namespace orch {

struct http_transport::impl {
  using address = http_detail::address;
  using connection = http_detail::connection;
  using connect_deadlines = http_detail::connect_deadlines;
  using deadlines = http_detail::deadlines;
  using endpoint = http_detail::endpoint;
  using post_state = http_detail::post_state;
  using resolver_shared = http_detail::resolver_shared;
  using steady = http_detail::steady;
  using target = http_detail::target;

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
  std::unique_ptr<char[]> scratch{new char[http_detail::read_chunk]};

  explicit impl(int64_t idle);
  ~impl();

  // -- outcomes (http_transport.cpp)
  // -------------------------------------------

  /// Hands an outcome to the poll() running, else to the next one.
  void emit(http_outcome&& o);

  /// Forgets a POST that ended (frees it).
  void end_post(post_state* p);

  /// Ends a POST with an error (its connection closed).
  void fail_post(post_state* p, http_outcome::kind what, std::string why);

  // -- URLs and names (http_transport.cpp)
  // -------------------------------------

  /// The endpoint of host:port, made on first use.
  endpoint* endpoint_for(const std::string& host, const std::string& port);

  /// http://host[:port][/path][?query]: its endpoint and request head.
  target* target_of(const std::string& url);

  /// The head of a POST to `t` with `api_key`, built once per key.
  const std::string* head_for(target& t, const std::string& api_key);

  /// Asks the resolver's thread for `ep`'s addresses.
  void resolve(endpoint& ep);

  /// Takes the resolver's answers: the POSTs waiting for them go on.
  void take_answers();

  // -- connections (http_connections.cpp)
  // --------------------------------------

  /// Sets the events epoll reports for `c`.
  void want(connection& c, uint32_t events);

  /// Closes `c` (out of the idle pool, its POST without it); freed by
  /// bury().
  void close_conn(connection* c);

  /// Frees the connections closed during this poll().
  void bury();

  /// The next address for `p` to try: the one that answered last, else
  /// the first not tried yet.
  std::optional<size_t> next_address(const endpoint& ep, const post_state& p);

  /// Opens a connection for `p` on an address it has not tried; fails it
  /// (with `err`, the last attempt's error) when none is left.
  void open_conn(post_state* p, int err = 0);

  /// `c` opened: its POST goes out.
  void connected(connection& c);

  /// A connection did not open: the next address, else the POST fails.
  void connect_failed(connection* c, int err);

  /// Starts sending `p` on `c`.
  void send_on(connection& c, post_state* p);

  /// The bytes of `p`'s request: head, length and body.
  size_t request_size(const post_state& p) const;

  /// Sends what the socket takes of `c`'s request.
  void write_some(connection& c);

  /// The connection failed while it carried a POST. One that was kept
  /// alive and gave nothing back was most likely closed by the server as
  /// the POST went: the POST goes again on a new connection, once.
  void broken(connection* c, std::string why);

  /// The reply is complete: the POST's outcome, and the connection kept
  /// for the next POST when the server allows.
  void replied(connection& c, bool extra_bytes);

  /// Reads what `c`'s socket holds into its reply.
  void read_some(connection& c);

  /// An epoll event for `c`, by the phase it is in.
  void on_event(connection& c, uint32_t ev);

  // -- POSTs (http_transport.cpp)
  // ----------------------------------------------

  /// Puts a POST on an idle connection, a new one, or the wait for the
  /// host's addresses.
  void dispatch(post_state* p);

  /// See http_transport::post.
  void post(uint64_t tag, const std::string& url, const std::string& api_key,
            const std::string& body, int32_t timeout_ms);

  /// Fails the POSTs whose time ran out.
  void expire(steady::time_point now);

  /// See http_transport::poll.
  void poll(int wait_ms, std::vector<http_outcome>& done);

  /// See http_transport::abort_all.
  void abort_all();
};

} // namespace orch
