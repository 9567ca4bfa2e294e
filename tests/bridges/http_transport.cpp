// The LLM client's own HTTP/1.1 transport against a raw TCP server on
// loopback that answers each request with bytes the test chooses: every
// framing of a body, replies in pieces, closed and kept-alive connections,
// broken replies, silence. The reply parser alone: http_reply.cpp.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridges/http_reply.hpp"
#include "bridges/http_transport.hpp"

using orch::http_outcome;
using orch::max_reply_bytes;
using namespace std::chrono_literals;

namespace {

using transport = orch::http_transport;

/// What the server does with one request.
struct answer {
  /// Written one after the other, `gap` apart.
  std::vector<std::string> pieces;
  std::chrono::milliseconds gap{0};
  /// Closes the connection after the pieces (with none: without a reply).
  bool close_after = false;
  /// Neither answers nor closes: the request waits for the client.
  bool silent = false;
};

/// An answer that never comes.
answer silence() {
  answer a;
  a.silent = true;
  return a;
}

/// A TCP server on 127.0.0.1: a thread per connection reads requests
/// (headers, then a Content-Length body) and answers each as `respond`
/// says, given the number of the request (from 0) and its text.
class raw_server {
public:
  using responder = std::function<answer(size_t, const std::string&)>;

  explicit raw_server(responder r) : respond_(std::move(r)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    BOOST_REQUIRE(listen(fd_, 1024) == 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread{[this] { accept_loop(); }};
  }

  ~raw_server() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : conns_)
      t.join();
    close(fd_);
  }

  std::string url(const std::string& path = "/v1/chat/completions") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  uint16_t port() const {
    return port_;
  }

  size_t accepted() const {
    return accepted_;
  }

  size_t requests() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return requests_;
  }

  std::vector<std::string> texts() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return texts_;
  }

private:
  /// Waits up to 50 ms for `fd` to be readable.
  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 50) > 0;
  }

  void accept_loop() {
    while (!stop_) {
      if (!readable(fd_))
        continue;
      auto c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        continue;
      ++accepted_;
      conns_.emplace_back([this, c] { serve(c); });
    }
  }

  void serve(int c) {
    std::string in;
    char buf[65536];
    for (;;) {
      // One request: headers, then Content-Length bytes.
      size_t head_end = std::string::npos;
      size_t want = 0;
      while (!stop_) {
        head_end = in.find("\r\n\r\n");
        if (head_end != std::string::npos) {
          auto cl = in.find("Content-Length: ");
          want = head_end + 4;
          if (cl != std::string::npos && cl < head_end)
            want += std::stoul(in.substr(cl + 16));
          if (in.size() >= want)
            break;
        }
        if (!readable(c))
          continue;
        auto n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) {
          close(c);
          return;
        }
        in.append(buf, static_cast<size_t>(n));
      }
      if (stop_)
        break;
      auto text = in.substr(0, want);
      in.erase(0, want);
      size_t index;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        index = requests_++;
        texts_.push_back(text);
      }
      auto a = respond_(index, text);
      if (a.silent) {
        while (!stop_)
          if (readable(c) && recv(c, buf, sizeof(buf), 0) <= 0)
            break;
        break;
      }
      for (auto& piece : a.pieces) {
        if (send(c, piece.data(), piece.size(), MSG_NOSIGNAL) < 0)
          break;
        if (a.gap.count() > 0)
          std::this_thread::sleep_for(a.gap);
      }
      if (a.close_after)
        break;
    }
    close(c);
  }

  responder respond_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> accepted_{0};
  size_t requests_ = 0;
  std::vector<std::string> texts_;
  mutable std::mutex mtx_;
  std::thread acceptor_;
  std::vector<std::thread> conns_;
};

std::string ok_reply(const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra
         + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// Polls until `n` outcomes came or `limit` passed; the outcomes by tag.
std::vector<http_outcome> outcomes(transport& t, size_t n,
                                   std::chrono::milliseconds limit = 10s) {
  std::vector<http_outcome> done;
  auto until = std::chrono::steady_clock::now() + limit;
  while (done.size() < n && std::chrono::steady_clock::now() < until)
    t.poll(50, done);
  std::sort(done.begin(), done.end(),
            [](auto& a, auto& b) { return a.tag < b.tag; });
  return done;
}

const std::string body = R"({"model":"m","messages":[]})";

} // namespace

BOOST_AUTO_TEST_SUITE(http_transport)

BOOST_AUTO_TEST_CASE(posts_on_one_kept_alive_connection) {
  raw_server server{[](size_t i, const std::string&) {
    return answer{{ok_reply("{\"n\":" + std::to_string(i) + "}")}};
  }};
  transport t{16};
  for (uint64_t tag = 1; tag <= 3; ++tag) {
    t.post(tag, server.url(), "sk-1", body, 5000);
    auto out = outcomes(t, 1);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_CHECK_EQUAL(out[0].tag, tag);
    BOOST_CHECK(out[0].what == http_outcome::kind::replied);
    BOOST_CHECK_EQUAL(out[0].status, 200);
    BOOST_CHECK_EQUAL(out[0].body, "{\"n\":" + std::to_string(tag - 1) + "}");
  }
  BOOST_CHECK_EQUAL(server.accepted(), 1u);
  BOOST_CHECK_EQUAL(t.connections(), 1u);
  auto text = server.texts().at(0);
  BOOST_CHECK_EQUAL(text.substr(0, text.find("\r\n")),
                    "POST /v1/chat/completions HTTP/1.1");
  BOOST_CHECK_NE(
    text.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
    std::string::npos);
  BOOST_CHECK_NE(text.find("\r\nAuthorization: Bearer sk-1\r\n"),
                 std::string::npos);
  BOOST_CHECK_NE(text.find("\r\nContent-Type: application/json\r\n"),
                 std::string::npos);
  BOOST_CHECK_NE(text.find("\r\nContent-Length: " + std::to_string(body.size())
                           + "\r\n\r\n" + body),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_key_no_authorization_header) {
  raw_server server{
    [](size_t, const std::string&) { return answer{{ok_reply("{}")}}; }};
  transport t{16};
  t.post(1, server.url(), "", body, 5000);
  BOOST_REQUIRE_EQUAL(outcomes(t, 1).size(), 1u);
  BOOST_CHECK_EQUAL(server.texts().at(0).find("Authorization"),
                    std::string::npos);
}

BOOST_AUTO_TEST_CASE(chunked_replies_in_small_pieces_then_the_next_post) {
  // Chunks with an extension, sizes in both cases of hex, a trailer; sent
  // a few bytes at a time.
  std::string raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5;ext=1\r\nhello\r\n"
                    "A\r\n, chunked \r\n"
                    "b\r\nworld, and \r\n"
                    "3\r\nend\r\n"
                    "0\r\nX-Trailer: yes\r\n\r\n";
  std::vector<std::string> pieces;
  for (size_t i = 0; i < raw.size(); i += 3)
    pieces.push_back(raw.substr(i, 3));
  raw_server server{[&](size_t i, const std::string&) {
    if (i == 0)
      return answer{pieces, 1ms};
    return answer{{ok_reply("second")}};
  }};
  transport t{16};
  t.post(1, server.url(), "", body, 5000);
  auto out = outcomes(t, 1);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK(out[0].what == http_outcome::kind::replied);
  BOOST_CHECK_EQUAL(out[0].body, "hello, chunked world, and end");
  t.post(2, server.url(), "", body, 5000);
  out = outcomes(t, 1);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].body, "second");
  BOOST_CHECK_EQUAL(server.accepted(), 1u);
}

BOOST_AUTO_TEST_CASE(a_reply_framed_by_the_connection_end) {
  // HTTP/1.0 without Content-Length: the body runs to the close, and the
  // next POST needs a new connection.
  raw_server server{[](size_t, const std::string&) {
    return answer{
      {"HTTP/1.0 200 OK\r\n\r\n", "part one, ", "part two"}, 5ms, true};
  }};
  transport t{16};
  for (uint64_t tag = 1; tag <= 2; ++tag) {
    t.post(tag, server.url(), "", body, 5000);
    auto out = outcomes(t, 1);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_CHECK(out[0].what == http_outcome::kind::replied);
    BOOST_CHECK_EQUAL(out[0].body, "part one, part two");
  }
  BOOST_CHECK_EQUAL(server.accepted(), 2u);
}

BOOST_AUTO_TEST_CASE(connection_close_is_honoured) {
  raw_server server{[](size_t, const std::string&) {
    return answer{{ok_reply("{}", "Connection: close\r\n")}};
  }};
  transport t{16};
  for (uint64_t tag = 1; tag <= 2; ++tag) {
    t.post(tag, server.url(), "", body, 5000);
    BOOST_REQUIRE_EQUAL(outcomes(t, 1).size(), 1u);
  }
  BOOST_CHECK_EQUAL(server.accepted(), 2u);
}

BOOST_AUTO_TEST_CASE(interim_responses_are_skipped) {
  raw_server server{[](size_t, const std::string&) {
    return answer{{"HTTP/1.1 100 Continue\r\n\r\n" + ok_reply("final")}};
  }};
  transport t{16};
  t.post(1, server.url(), "", body, 5000);
  auto out = outcomes(t, 1);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].status, 200);
  BOOST_CHECK_EQUAL(out[0].body, "final");
}

BOOST_AUTO_TEST_CASE(status_and_retry_after_are_reported) {
  raw_server server{[](size_t, const std::string&) {
    return answer{{"HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\n"
                   "Content-Length: 2\r\n\r\n{}"}};
  }};
  transport t{16};
  t.post(1, server.url(), "", body, 5000);
  auto out = outcomes(t, 1);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK(out[0].what == http_outcome::kind::replied);
  BOOST_CHECK_EQUAL(out[0].status, 429);
  BOOST_CHECK_EQUAL(out[0].retry_after, 7);
}

BOOST_AUTO_TEST_CASE(
  a_kept_alive_connection_the_server_closed_is_posted_again) {
  // The second POST finds its kept-alive connection closed without a
  // reply (as a server's keep-alive time-out races it): it goes once more
  // on a new connection.
  raw_server server{[](size_t i, const std::string&) {
    if (i == 1)
      return answer{{}, 0ms, true};
    return answer{{ok_reply("{\"n\":" + std::to_string(i) + "}")}};
  }};
  transport t{16};
  t.post(1, server.url(), "", body, 5000);
  BOOST_REQUIRE_EQUAL(outcomes(t, 1).size(), 1u);
  t.post(2, server.url(), "", body, 5000);
  auto out = outcomes(t, 1);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK(out[0].what == http_outcome::kind::replied);
  BOOST_CHECK_EQUAL(out[0].body, "{\"n\":2}");
  BOOST_CHECK_EQUAL(server.requests(), 3u);
  BOOST_CHECK_EQUAL(server.accepted(), 2u);
}

BOOST_AUTO_TEST_CASE(a_new_connection_closed_without_a_reply_fails_once) {
  raw_server server{[](size_t, const std::string&) {
    return answer{{}, 0ms, true};
  }};
  transport t{16};
  t.post(1, server.url(), "", body, 5000);
  auto out = outcomes(t, 1);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK(out[0].what == http_outcome::kind::conn_error);
  BOOST_CHECK_EQUAL(out[0].error, "Empty reply from server");
  BOOST_CHECK_EQUAL(server.requests(), 1u);
}

BOOST_AUTO_TEST_CASE(a_reply_cut_short_is_an_error) {
  raw_server server{[](size_t, const std::string&) {
    return answer{
      {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"}, 0ms, true};
  }};
  transport t{16};
  t.post(1, server.url(), "", body, 5000);
  auto out = outcomes(t, 1);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK(out[0].what == http_outcome::kind::conn_error);
  BOOST_CHECK_NE(out[0].error.find("closed the connection before the reply"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(t.connections(), 0u);
}

BOOST_AUTO_TEST_CASE(malformed_and_oversized_replies) {
  raw_server server{[](size_t i, const std::string&) {
    if (i == 0)
      return answer{{"SSH-2.0-OpenSSH_9.2\r\n\r\n"}};
    if (i == 1)
      return answer{{"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n{}"}};
    return answer{{"HTTP/1.1 200 OK\r\nContent-Length: "
                   + std::to_string(max_reply_bytes + 1) + "\r\n\r\n"}};
  }};
  transport t{16};
  for (uint64_t tag = 1; tag <= 3; ++tag) {
    t.post(tag, server.url(), "", body, 5000);
    auto out = outcomes(t, 1);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    if (tag < 3) {
      BOOST_CHECK(out[0].what == http_outcome::kind::conn_error);
      BOOST_CHECK_NE(out[0].error.find("malformed HTTP reply"),
                     std::string::npos);
    } else {
      BOOST_CHECK(out[0].what == http_outcome::kind::too_large);
    }
  }
  // Each broken connection was closed, none kept.
  BOOST_CHECK_EQUAL(server.accepted(), 3u);
  BOOST_CHECK_EQUAL(t.connections(), 0u);
}

BOOST_AUTO_TEST_CASE(a_silent_server_times_out_within_the_limit) {
  raw_server server{[](size_t, const std::string&) { return silence(); }};
  transport t{16};
  auto start = std::chrono::steady_clock::now();
  t.post(1, server.url(), "", body, 300);
  auto out = outcomes(t, 1);
  auto took = std::chrono::steady_clock::now() - start;
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK(out[0].what == http_outcome::kind::timed_out);
  BOOST_CHECK_NE(out[0].error.find("timed out after"), std::string::npos);
  BOOST_CHECK(took >= 290ms);
  BOOST_CHECK(took < 3s);
  BOOST_CHECK_EQUAL(t.connections(), 0u);
}

BOOST_AUTO_TEST_CASE(a_large_body_is_sent_in_full) {
  // More than the socket buffers hold: written as the server reads.
  std::string big(8 << 20, 'x');
  raw_server server{[](size_t, const std::string& text) {
    auto got = text.size() - (text.find("\r\n\r\n") + 4);
    return answer{{ok_reply(std::to_string(got))}};
  }};
  transport t{16};
  t.post(1, server.url(), "", big, 20000);
  auto out = outcomes(t, 1, 20s);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].body, std::to_string(big.size()));
}

BOOST_AUTO_TEST_CASE(many_posts_in_flight_each_get_their_reply) {
  raw_server server{[](size_t, const std::string& text) {
    // Echo the body: each POST must get its own reply back.
    return answer{{ok_reply(text.substr(text.find("\r\n\r\n") + 4))}, 20ms};
  }};
  transport t{16};
  constexpr uint64_t n = 64;
  std::vector<std::string> bodies;
  for (uint64_t i = 0; i < n; ++i)
    bodies.push_back("{\"i\":" + std::to_string(i) + "}");
  for (uint64_t i = 0; i < n; ++i)
    t.post(i, server.url(), "", bodies[i], 10000);
  auto out = outcomes(t, n);
  BOOST_REQUIRE_EQUAL(out.size(), n);
  for (uint64_t i = 0; i < n; ++i) {
    BOOST_CHECK_EQUAL(out[i].tag, i);
    BOOST_CHECK_EQUAL(out[i].body, bodies[i]);
  }
  // Kept: no more connections than were needed at once, at most the cap of
  // idle ones.
  BOOST_CHECK_LE(t.connections(), 16u);
  BOOST_CHECK_LE(server.accepted(), n);
}

BOOST_AUTO_TEST_CASE(names_are_resolved_off_the_loop) {
  raw_server server{
    [](size_t, const std::string&) { return answer{{ok_reply("{}")}}; }};
  transport t{16};
  t.post(1, "http://localhost:" + std::to_string(server.port()) + "/v1/x", "",
         body, 5000);
  auto out = outcomes(t, 1);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_MESSAGE(out[0].what == http_outcome::kind::replied, out[0].error);
  BOOST_CHECK_NE(server.texts().at(0).find("\r\nHost: localhost:"
                                           + std::to_string(server.port())),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(each_address_of_a_name_is_tried) {
  // The name's first address refuses (nothing listens on 127.0.0.2), the
  // second answers: every POST of a wave that opens connections at once
  // gets through, on one look-up.
  raw_server server{[](size_t, const std::string&) {
    return answer{{ok_reply("{}")}, 5ms};
  }};
  transport t{64};
  std::atomic<int> lookups{0};
  t.use_lookup([&](const std::string& host, const std::string&) {
    ++lookups;
    if (host == "model.test")
      return std::vector<std::string>{"127.0.0.2", "127.0.0.1"};
    return std::vector<std::string>{};
  });
  auto url = "http://model.test:" + std::to_string(server.port()) + "/";
  constexpr uint64_t n = 20;
  for (int wave = 0; wave < 2; ++wave) {
    for (uint64_t i = 0; i < n; ++i)
      t.post(i, url, "", body, 5000);
    auto out = outcomes(t, n);
    BOOST_REQUIRE_EQUAL(out.size(), n);
    for (auto& o : out)
      BOOST_CHECK_MESSAGE(o.what == http_outcome::kind::replied, o.error);
  }
  BOOST_CHECK_EQUAL(lookups.load(), 1);
  // A name without addresses fails its POSTs with why.
  t.post(99, "http://nowhere.test/", "", body, 5000);
  auto out = outcomes(t, 1);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK(out[0].what == http_outcome::kind::conn_error);
  BOOST_CHECK_NE(out[0].error.find("Could not resolve host: nowhere.test"),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(refused_connections_and_bad_urls_are_errors) {
  uint16_t port;
  {
    raw_server gone{[](size_t, const std::string&) { return answer{}; }};
    port = gone.port();
  }
  transport t{16};
  t.post(1, "http://127.0.0.1:" + std::to_string(port) + "/", "", body, 5000);
  t.post(2, "http://127.0.0.1:99999/", "", body, 5000);
  t.post(3, "http://user:pw@127.0.0.1:80/", "", body, 5000);
  t.post(4, "http:///v1", "", body, 5000);
  t.post(5, "http://127.0.0.1:80/", "key\r\nX-Evil: 1", body, 5000);
  auto out = outcomes(t, 5);
  BOOST_REQUIRE_EQUAL(out.size(), 5u);
  for (auto& o : out)
    BOOST_CHECK(o.what == http_outcome::kind::conn_error);
  BOOST_CHECK_NE(out[0].error.find("Failed to connect to 127.0.0.1 port "),
                 std::string::npos);
  BOOST_CHECK_NE(out[0].error.find("Connection refused"), std::string::npos);
  BOOST_CHECK_NE(out[1].error.find("a bad port"), std::string::npos);
  BOOST_CHECK_NE(out[2].error.find("user names"), std::string::npos);
  BOOST_CHECK_NE(out[3].error.find("no host"), std::string::npos);
  BOOST_CHECK_NE(out[4].error.find("line break"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(abort_all_drops_what_runs) {
  raw_server server{[](size_t, const std::string&) { return silence(); }};
  transport t{16};
  t.post(1, server.url(), "", body, 5000);
  t.post(2, server.url(), "", body, 5000);
  outcomes(t, 1, 200ms);
  BOOST_CHECK_EQUAL(t.connections(), 2u);
  t.abort_all();
  BOOST_CHECK_EQUAL(t.connections(), 0u);
  BOOST_CHECK(outcomes(t, 1, 200ms).empty());
}

BOOST_AUTO_TEST_SUITE_END()
