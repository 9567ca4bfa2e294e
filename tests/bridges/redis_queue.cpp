// The Redis TASK QUEUE beyond the contract: URLs, and reconnection after
// Redis restarts (with its script cache empty).

#include <csignal>
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

BOOST_AUTO_TEST_SUITE_END()
