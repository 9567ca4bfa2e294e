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

BOOST_FIXTURE_TEST_CASE(finished_tasks_leave_redis_past_the_limits,
                        redis_queue_fixture) {
  // With retention, what a finished task kept in Redis goes with it: its
  // record and other fields, its spec, its place in its plan's set and in
  // its dependencies' dependents; a tombstone stays (the latest
  // tombstones_max), and a plan counts the tasks that left until its last
  // one leaves. (Both queues answering alike with retention:
  // task_queue_model/both_backends_answer_alike_with_retention.)
  auto now = open_retaining("rt");
  auto ts = tasks({"a", "b", "c", "d", "x"});
  for (auto& t : ts)
    t.plan_id = "p";
  ts[1].dependencies = {"a"};
  ts[4].plan_id = "other";
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, ts), 5);
  auto first = lease(10);
  BOOST_REQUIRE_EQUAL(first.size(), 4u); // a, c, d, x
  // x is cancelled: it finished first, so it leaves first.
  must<queued_task>(atom::cancel_v, std::string{"x"});
  BOOST_REQUIRE(complete_all({"a", "c"}) == std::vector<caf::error>(2));
  // Three finished, two kept: x left, with its spec and its plan's set.
  BOOST_CHECK(cli_says("LLEN rt:fin6", "-x 2"));
  BOOST_CHECK(cli_says("HEXISTS rt:c2:task x", "-x 0"));
  BOOST_CHECK(cli_says("EXISTS rt:s:x rt:p:other", "-x 0"));
  BOOST_CHECK(cli_says("HGET rt:gone6 x", "-x 0")); // not COMPLETED
  caf::error gone;
  self->request(q, 5s, atom::status_v, std::string{"x"})
    .receive([](queued_task&) {}, [&](caf::error& e) { gone = e; });
  BOOST_CHECK(code_of(gone) == ec::not_found);
  BOOST_REQUIRE(complete_all({"d"}) == std::vector<caf::error>(1));
  // a left too (COMPLETED): its tombstone says so, b (READY since a
  // completed) no longer lists it... and a's dependents went with it.
  BOOST_CHECK(cli_says("HEXISTS rt:c2:task a", "-x 0"));
  BOOST_CHECK(cli_says("HEXISTS rt:c2:d a", "-x 0"));
  BOOST_CHECK(cli_says("HGET rt:gone6 a", "-x 1"));
  BOOST_CHECK(cli_says("LRANGE rt:goneq 0 -1 | tr '\\n' ,", "-x x,a,"));
  auto n = must<counts_map>(atom::counts_v, std::string{"p"});
  BOOST_CHECK(n == (counts_map{{"COMPLETED", 3}, {"READY", 1}}));
  // Enqueued again: a left COMPLETED, so nothing is added; a task that
  // depends on it is READY at once, one on x is BLOCKED.
  BOOST_CHECK_EQUAL(must<int32_t>(atom::add_v, tasks({"a"})), 0);
  auto more = tasks({"e", "f"});
  more[0].dependencies = {"a"};
  more[1].dependencies = {"x"};
  for (auto& t : more)
    t.plan_id = "p";
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, more), 2);
  BOOST_CHECK_EQUAL(must<queued_task>(atom::status_v, std::string{"e"}).state,
                    "READY");
  auto f = must<queued_task>(atom::status_v, std::string{"f"});
  BOOST_CHECK_EQUAL(f.state, "BLOCKED");
  BOOST_CHECK_EQUAL(f.error, "dependency x did not complete");
  // After retain_ms every finished task leaves at the next completion
  // (c, d and f here; b and e are the two kept), and only the latest three
  // tombstones stay (x's went).
  auto rest = lease(10);
  BOOST_REQUIRE_EQUAL(rest.size(), 2u); // b and e
  *now += 120'000;
  BOOST_REQUIRE(complete_all({"b", "e"}) == std::vector<caf::error>(2));
  BOOST_CHECK(cli_says("LLEN rt:fin6", "-x 2"));
  BOOST_CHECK(cli_says("LRANGE rt:goneq 0 -1 | tr '\\n' ,", "-x c,d,f,"));
  BOOST_CHECK(cli_says("HLEN rt:gone6", "-x 4")); // and its own entry
  BOOST_CHECK(cli_says("HEXISTS rt:gone6 x", "-x 0"));
  // The plan's last task gone, its counts go too.
  *now += 120'000;
  BOOST_REQUIRE(complete_all({"zz"}).size() == 1u); // not found: still purges
  BOOST_CHECK(cli_says("HLEN rt:c2:task", "-x 1")); // its own entry only
  BOOST_CHECK(cli_says("EXISTS rt:p:p rt:fin6", "-x 0"));
  BOOST_CHECK(cli_says("HLEN rt:pg", "-x 0"));
  BOOST_CHECK(must<counts_map>(atom::counts_v, std::string{"p"}).empty());
  BOOST_CHECK(!finished("p"));
  auto all = must<counts_map>(atom::counts_v);
  int64_t kept = 0;
  for (auto& [state, k] : all)
    kept += k;
  BOOST_CHECK_EQUAL(kept, 0);
  BOOST_CHECK(cli_says("--scan --pattern 'rt:s:*' | wc -l", "-x 0"));
}

BOOST_AUTO_TEST_SUITE_END()
