// The Redis TASK QUEUE beyond the contract: URLs, reconnection after Redis
// restarts (with its script cache empty), and tasks stored by an earlier
// layout.

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <arpa/inet.h>
#include <boost/test/unit_test.hpp>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/process_runner.hpp"
#include "bridges/redis_queue.hpp"
#include "llm_fixture.hpp"

extern char** environ;

using namespace orch;
using namespace orch::test;
using namespace std::chrono_literals;

namespace {

int free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

/// A private redis-server this test starts and stops by pid. (Not through
/// the process runner: it kills what its child leaves behind.)
struct private_redis {
  int port = free_port();
  pid_t pid = -1;

  void start() {
    auto p = std::to_string(port);
    const char* argv[]
      = {"redis-server", "--bind",    "127.0.0.1", "--port",
         p.c_str(),      "--save",    "",          "--appendonly",
         "no",           "--logfile", "/dev/null", nullptr};
    BOOST_REQUIRE(posix_spawnp(&pid, "redis-server", nullptr, nullptr,
                               const_cast<char**>(argv), environ)
                  == 0);
    // Wait until it accepts connections.
    for (int i = 0; i < 400 && !accepting(); ++i)
      std::this_thread::sleep_for(25ms);
    BOOST_REQUIRE(accepting());
  }

  bool accepting() const {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(s);
    return ok;
  }

  void stop() {
    if (pid <= 0)
      return;
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    pid = -1;
    for (int i = 0; i < 200 && accepting(); ++i)
      std::this_thread::sleep_for(25ms);
  }

  ~private_redis() {
    stop();
  }

  std::string url() const {
    return "redis://127.0.0.1:" + std::to_string(port);
  }
};

} // namespace

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

BOOST_AUTO_TEST_CASE(reconnects_after_redis_restarts) {
  threaded_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  private_redis redis;
  redis.start();
  redis_queue_settings rs;
  rs.url = redis.url();
  rs.reconnect_ms = 100;
  auto q = spawn_redis_queue(sys, rs);
  BOOST_REQUIRE_MESSAGE(q, why(q));
  auto add = [&](std::string id) {
    task_spec t;
    t.task_id = std::move(id);
    t.role = "DEV";
    t.description = "x";
    caf::expected<int32_t> out{caf::make_error(ec::internal, "unset")};
    self->request(*q, 5s, atom::add_v, std::vector<task_spec>{t})
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
  std::vector<queued_task> leased;
  self
    ->request(*q, 5s, atom::lease_v, std::string{"w"}, int32_t{1000},
              int32_t{5})
    .receive([&](std::vector<queued_task>& xs) { leased = std::move(xs); },
             [&](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_REQUIRE_EQUAL(leased.size(), 1u);
  BOOST_CHECK_EQUAL(leased[0].task.task_id, "c");
  self->send_exit(*q, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_spec_kept_in_the_task_hash_is_still_read) {
  // Tasks queued before the spec moved to its own key (P:s:<id>) keep it in
  // their hash (field "spec"), with every field written; status, lease and
  // completion still read them.
  threaded_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  private_redis redis;
  redis.start();
  redis_queue_settings rs;
  rs.url = redis.url();
  rs.prefix = "old";
  auto q = spawn_redis_queue(sys, rs);
  BOOST_REQUIRE_MESSAGE(q, why(q));
  BOOST_REQUIRE(await_queue(sys, *q, 10s)); // connected
  std::vector<task_spec> ts(2);
  ts[0].task_id = "before";
  ts[0].description = "stored in the hash";
  ts[1].task_id = "after";
  ts[1].description = "stored in its own key";
  ts[1].priority = -1; // leased second
  for (auto& t : ts)
    t.role = "DEV";
  self->request(*q, 5s, atom::add_v, ts)
    .receive([&](int32_t n) { BOOST_REQUIRE_EQUAL(n, 2); },
             [&](caf::error& e) { BOOST_FAIL(render(e)); });
  // Back to the earlier layout for "before", inside Redis: the spec in
  // the hash, and every field there, also those at their default.
  auto move = "redis-cli -p " + std::to_string(redis.port)
              + " EVAL \"redis.call('HSET', KEYS[1], 'spec', "
                "redis.call('GET', KEYS[2]), 'unmet', '0', 'lease', '0', "
                "'result', '', 'error', '') return redis.call('DEL', "
                "KEYS[2])\" 2 old:t:before old:s:before > /dev/null";
  BOOST_REQUIRE_EQUAL(std::system(move.c_str()), 0);
  self->request(*q, 5s, atom::status_v, std::string{"before"})
    .receive(
      [&](queued_task& x) {
        BOOST_CHECK_EQUAL(x.task.description, "stored in the hash");
      },
      [&](caf::error& e) { BOOST_FAIL(render(e)); });
  std::vector<queued_task> leased;
  self
    ->request(*q, 5s, atom::lease_v, std::string{"w"}, int32_t{60000},
              int32_t{5})
    .receive([&](std::vector<queued_task>& xs) { leased = std::move(xs); },
             [&](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_REQUIRE_EQUAL(leased.size(), 2u);
  BOOST_CHECK_EQUAL(leased[0].task.task_id, "before");
  BOOST_CHECK_EQUAL(leased[0].task.description, "stored in the hash");
  BOOST_CHECK_EQUAL(leased[1].task.description, "stored in its own key");
  self
    ->request(*q, 5s, atom::complete_v, std::string{"before"},
              std::string{"w"}, std::string{"{}"})
    .receive(
      [&](queued_task& x) {
        BOOST_CHECK_EQUAL(x.state, "COMPLETED");
        BOOST_CHECK_EQUAL(x.task.description, "stored in the hash");
      },
      [&](caf::error& e) { BOOST_FAIL(render(e)); });
  self->send_exit(*q, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
