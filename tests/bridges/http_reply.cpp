// The LLM client's HTTP/1.1 reply parser alone (bridges/http_reply.hpp):
// a reply split anywhere, the framings that keep a connection or end it,
// broken framings, and the size limit. The transport around it:
// http_transport.cpp; random replies: the fuzz target http_reply.

#include <string>
#include <utility>

#include <boost/test/unit_test.hpp>

#include "bridges/http_reply.hpp"

using orch::http_reply_parser;

BOOST_AUTO_TEST_SUITE(http_reply)

BOOST_AUTO_TEST_CASE(a_reply_split_anywhere_parses_the_same) {
  std::string raw = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n"
                    "Transfer-Encoding: gzip, chunked\r\n\r\n"
                    "4\r\nabcd\r\n2;x=y\r\nef\r\n0\r\n\r\n";
  for (size_t cut = 0; cut <= raw.size(); ++cut) {
    http_reply_parser p;
    size_t used = 0;
    auto r = p.feed(raw.data(), cut, used);
    BOOST_REQUIRE(r != http_reply_parser::result::failed);
    if (r == http_reply_parser::result::more)
      r = p.feed(raw.data() + cut, raw.size() - cut, used);
    BOOST_REQUIRE_MESSAGE(r == http_reply_parser::result::done, "cut " << cut);
    BOOST_CHECK_EQUAL(p.status(), 503);
    BOOST_CHECK_EQUAL(p.retry_after(), 2);
    BOOST_CHECK_EQUAL(p.body(), "abcdef");
    BOOST_CHECK(p.keep_alive());
  }
}

BOOST_AUTO_TEST_CASE(framing_decides_whether_the_connection_is_kept) {
  auto parse = [](const std::string& raw, bool end) {
    http_reply_parser p;
    size_t used = 0;
    auto r = p.feed(raw.data(), raw.size(), used);
    if (r == http_reply_parser::result::more && end)
      r = p.finish();
    return std::make_pair(r == http_reply_parser::result::done, p.keep_alive());
  };
  using pair = std::pair<bool, bool>;
  BOOST_CHECK(
    (parse("HTTP/1.1 204 No Content\r\n\r\n", false) == pair{true, true}));
  BOOST_CHECK((parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false)
               == pair{true, false}));
  BOOST_CHECK((parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                     "Content-Length: 0\r\n\r\n",
                     false)
               == pair{true, true}));
  BOOST_CHECK((parse("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\n"
                     "Content-Length: 0\r\n\r\n",
                     false)
               == pair{true, false}));
  BOOST_CHECK((parse("HTTP/1.1 200 OK\r\n\r\nbody to the end", true)
               == pair{true, false}));
  // Two different lengths, a negative chunk, a folded header: broken.
  BOOST_CHECK(!parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                     "Content-Length: 2\r\n\r\nxx",
                     false)
                 .first);
  BOOST_CHECK(!parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "-1\r\n",
                     true)
                 .first);
  BOOST_CHECK(!parse("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", true).first);
}

BOOST_AUTO_TEST_CASE(chunks_past_the_limit_fail_as_too_large) {
  http_reply_parser p{10};
  std::string raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n";
  size_t used = 0;
  BOOST_CHECK(p.feed(raw.data(), raw.size(), used)
              == http_reply_parser::result::failed);
  BOOST_CHECK(p.too_large());
}

BOOST_AUTO_TEST_SUITE_END()
