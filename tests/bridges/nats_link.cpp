// The NATS link against a real nats-server: the stream follower reads the
// stream from its start and says when it has read what the stream held;
// connections with a credentials file are accepted every time.

#include <fstream>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "service_util.hpp"
#include "test_util.hpp"

using namespace orch;
using namespace orch::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

BOOST_AUTO_TEST_SUITE(nats_link)

BOOST_AUTO_TEST_CASE(a_follower_says_when_it_has_caught_up_with_the_stream) {
  scratch_dir dir;
  nats_server nats{dir.path};
  auto link = client(nats.url());
  for (int i = 0; i < 3; ++i)
    publish_raw(*link, "orchestration.test.event", std::to_string(i));
  auto f = follow(*link, "orchestration.>", true);
  BOOST_REQUIRE(f);
  std::vector<bool> caught_up;
  while (auto m = (*f)->next(milliseconds(2000))) {
    caught_up.push_back((*f)->caught_up());
    if (caught_up.size() == 3)
      break;
  }
  BOOST_CHECK((caught_up == std::vector<bool>{false, false, true}));
  // A message published later is the last again.
  publish_raw(*link, "orchestration.test.event", "3");
  auto m = (*f)->next(milliseconds(2000));
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data, "3");
  BOOST_CHECK((*f)->caught_up());
}

// nats.c 3.4.1 leaves the nonce's signature out of CONNECT when its first
// byte is zero (one connection in 256), the server refuses the connection,
// and nats.c gives up: a client failed, a serve stayed not ready. Enough
// connections that the case comes up (without the link's own signing, 1,500
// one-shot connections all succeed with a chance of 0.3 %), each accepted.
BOOST_AUTO_TEST_CASE(every_connection_with_a_credentials_file_is_accepted) {
  scratch_dir dir;
  auto d = dir.path;
  child make({"/usr/bin/python3",
              std::string{ORCH_SOURCE_DIR} + "/tests/nats/make_creds.py", d,
              "orch"},
             {}, d + "/make_creds.log");
  BOOST_REQUIRE_MESSAGE(make.wait(seconds(30)) == 0, make.output());
  nats_server nats{d, {"-c", d + "/auth.conf"}};
  nats_settings s;
  s.url = nats.url();
  s.creds_file = d + "/orch.creds";
  s.retry_forever = false;
  int refused = 0;
  std::string first;
  for (int i = 0; i < 1500; ++i) {
    auto link = nats_connect(s);
    if (!link && refused++ == 0)
      first = render(link.error());
  }
  BOOST_CHECK_MESSAGE(refused == 0,
                      refused << " of 1500 connections failed: " << first);
  // Connections that keep trying (serve's) get there too.
  s.retry_forever = true;
  int stuck = 0;
  for (int i = 0; i < 300; ++i) {
    auto link = nats_connect(s);
    BOOST_REQUIRE(link);
    auto until = std::chrono::steady_clock::now() + seconds(10);
    while (!health(**link).connected && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(milliseconds(1));
    stuck += health(**link).connected ? 0 : 1;
    if (!health(**link).connected)
      BOOST_TEST_MESSAGE("stuck: " << health(**link).reason);
  }
  BOOST_CHECK_EQUAL(stuck, 0);
  // A file without a seed stops the connection with a message naming it.
  {
    std::ofstream half{d + "/half.creds"};
    half << slurp(d + "/orch.creds").substr(0, 40) << "\n";
  }
  s.creds_file = d + "/half.creds";
  auto bad = nats_connect(s);
  BOOST_REQUIRE(!bad);
  BOOST_CHECK_NE(render(bad.error()).find("NATS_CREDS file " + d
                                          + "/half.creds holds no"),
                 std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
