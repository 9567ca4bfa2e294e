// The NATS link's stream follower against a real nats-server: it reads the
// stream from its start and says when it has read what the stream held.

#include <boost/test/unit_test.hpp>

#include "service_util.hpp"
#include "test_util.hpp"

using namespace orch;
using namespace orch::test;
using std::chrono::milliseconds;

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

BOOST_AUTO_TEST_SUITE_END()
