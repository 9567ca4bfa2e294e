// The Redis TASK QUEUE beyond the contract: URLs, reconnection after Redis
// restarts (with its script cache empty) and a refused AUTH. Tasks stored
// by the layouts before: redis_queue_layouts.cpp.

#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "redis_queue_fixture.hpp"

using namespace orch;
using namespace orch::test;
using namespace orch::redis_queue_test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(redis_queue)

BOOST_AUTO_TEST_CASE(urls_are_parsed_or_rejected) {
  auto ep = parse_redis_url("redis://:secret@cache.local:6380/2");
  BOOST_REQUIRE_MESSAGE(ep, why(ep));
  BOOST_CHECK_EQUAL(ep->host, "cache.local");
  BOOST_CHECK_EQUAL(ep->port, 6380);
  BOOST_CHECK_EQUAL(ep->password, "secret");
  BOOST_CHECK_EQUAL(ep->db, 2);
  auto plain = parse_redis_url("redis://10.0.0.5");
  BOOST_REQUIRE_MESSAGE(plain, why(plain));
  BOOST_CHECK_EQUAL(plain->port, 6379);
  for (auto bad :
       {"http://x:1", "redis://h:port", "redis://h:70000", "redis://h:1/db"}) {
    auto x = parse_redis_url(bad);
    BOOST_REQUIRE(!x);
    BOOST_CHECK(code_of(x.error()) == ec::invalid_config);
  }
}

BOOST_FIXTURE_TEST_CASE(reconnects_after_redis_restarts,
                        redis_queue_fixture) {
  settings.reconnect_ms = 100;
  open();
  auto add = [&](std::string id) {
    task_spec t;
    t.task_id = std::move(id);
    t.role = "DEV";
    t.description = "x";
    caf::expected<int32_t> out{caf::make_error(ec::internal, "unset")};
    self->request(q, 5s, atom::add_v, std::vector<task_spec>{t})
      .receive([&](int32_t n) { out = n; },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  };
  auto eventually = [&](std::string id) {
    for (int i = 0; i < 100; ++i) {
      auto n = add(id);
      if (n)
        return n;
      std::this_thread::sleep_for(50ms);
    }
    return add(id);
  };
  auto first = eventually("a");
  BOOST_REQUIRE_MESSAGE(first, why(first));
  BOOST_CHECK_EQUAL(*first, 1);
  redis.stop();
  auto down = add("b");
  BOOST_REQUIRE(!down);
  BOOST_CHECK(code_of(down.error()) == ec::agent_failed);
  BOOST_CHECK_NE(render(down.error()).find("redis"), std::string::npos);
  redis.start();
  // Back after the restart (the new server has no cached scripts).
  auto again = eventually("c");
  BOOST_REQUIRE_MESSAGE(again, why(again));
  BOOST_CHECK_EQUAL(*again, 1);
  auto leased = must<std::vector<queued_task>>(
    atom::lease_v, std::string{"w"}, int32_t{1000}, int32_t{5});
  BOOST_REQUIRE_EQUAL(leased.size(), 1u);
  BOOST_CHECK_EQUAL(leased[0].task.task_id, "c");
}

BOOST_FIXTURE_TEST_CASE(a_refused_auth_is_reported_and_tried_again,
                        redis_queue_fixture) {
  // With a wrong password every call says AUTH failed, also the scripts
  // (Redis drops a connection that sends an argument over 16 KB before it
  // authenticated, and the reason would turn into "unavailable"); once
  // Redis takes the password, the queue works without a restart.
  redis.extra = {"--requirepass", "first-pw"};
  password = "second-pw";
  settings.prefix = "auth";
  settings.reconnect_ms = 100;
  open();
  std::vector<task_spec> ts(1);
  ts[0].task_id = "t";
  ts[0].role = "DEV";
  // Connected and refused: each call names AUTH, none finds the
  // connection gone.
  int refused = 0;
  for (int i = 0; i < 40 && refused < 5; ++i) {
    self->request(q, 5s, atom::add_v, ts)
      .receive([&](int32_t) { BOOST_FAIL("enqueued without AUTH"); },
               [&](caf::error& e) {
                 auto text = render(e);
                 if (text.find("AUTH failed") != std::string::npos)
                   ++refused;
                 else
                   BOOST_REQUIRE_MESSAGE(refused == 0, text);
               });
    std::this_thread::sleep_for(50ms);
  }
  BOOST_REQUIRE_EQUAL(refused, 5);
  auto fix = "redis-cli -p " + std::to_string(redis.port)
             + " -a first-pw --no-auth-warning CONFIG SET requirepass "
               "second-pw > /dev/null";
  BOOST_REQUIRE_EQUAL(std::system(fix.c_str()), 0);
  bool added = false;
  for (int i = 0; i < 100 && !added; ++i) {
    self->request(q, 5s, atom::add_v, ts)
      .receive([&](int32_t n) { added = n == 1; }, [](caf::error&) {});
    if (!added)
      std::this_thread::sleep_for(50ms);
  }
  BOOST_CHECK(added);
}

BOOST_AUTO_TEST_SUITE_END()
