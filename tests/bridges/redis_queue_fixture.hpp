#pragma once

// What the Redis TASK QUEUE's own suites share: a private redis-server, an
// actor system with a queue on it, and the moves of a stored queue back to
// the layouts before, inside Redis (tests/bridges/redis_queue.cpp,
// redis_queue_layouts.cpp).

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bridges/redis_queue.hpp"
#include "child_process.hpp"
#include "llm_fixture.hpp"

extern char** environ;

namespace orch::redis_queue_test {

using namespace orch::test;
using namespace std::chrono_literals;

/// A private redis-server this test starts and stops by pid. (Not through
/// the process runner: it kills what its child leaves behind.)
struct private_redis {
  int port = free_port();
  pid_t pid = -1;
  /// More arguments for redis-server.
  std::vector<std::string> extra;

  void start() {
    auto p = std::to_string(port);
    std::vector<const char*> argv
      = {"redis-server", "--bind",    "127.0.0.1", "--port",
         p.c_str(),      "--save",    "",          "--appendonly",
         "no",           "--logfile", "/dev/null"};
    for (auto& x : extra)
      argv.push_back(x.c_str());
    argv.push_back(nullptr);
    BOOST_REQUIRE(posix_spawnp(&pid, "redis-server", nullptr, nullptr,
                               const_cast<char**>(argv.data()), environ)
                  == 0);
    // Wait until it accepts connections.
    for (int i = 0; i < 400 && !port_open(port); ++i)
      std::this_thread::sleep_for(25ms);
    BOOST_REQUIRE(port_open(port));
  }

  void stop() {
    if (pid <= 0)
      return;
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    pid = -1;
    for (int i = 0; i < 200 && port_open(port); ++i)
      std::this_thread::sleep_for(25ms);
  }

  ~private_redis() {
    stop();
  }

  std::string url() const {
    return "redis://127.0.0.1:" + std::to_string(port);
  }
};

/// An actor system and a queue on a private redis-server: a test sets
/// `redis.extra`, `settings` and `password` as it needs, then calls open().
struct redis_queue_fixture {
  threaded_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  private_redis redis;
  /// All but the URL, which open() writes.
  redis_queue_settings settings;
  /// The password in the URL, when set.
  std::string password;
  task_queue_actor q;

  void open() {
    redis.start();
    settings.url = password.empty() ? redis.url()
                                    : "redis://:" + password + "@127.0.0.1:"
                                        + std::to_string(redis.port);
    auto x = spawn_redis_queue(sys, settings);
    BOOST_REQUIRE_MESSAGE(x, why(x));
    q = std::move(*x);
  }

  ~redis_queue_fixture() {
    if (q)
      self->send_exit(q, caf::exit_reason::user_shutdown);
  }

  /// The queue's answer to `xs`; an error fails the test.
  template <class T, class... Ts>
  T must(Ts&&... xs) {
    return test::must<T>(self, q, std::forward<Ts>(xs)...);
  }

  /// Tasks of role DEV with these ids.
  static std::vector<task_spec> tasks(const std::vector<std::string>& ids) {
    std::vector<task_spec> ts(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      ts[i].task_id = ids[i];
      ts[i].role = "DEV";
    }
    return ts;
  }

  /// Completes ids, leased by lease(), in one batch without results.
  std::vector<caf::error> complete_all(const std::vector<std::string>& ids) {
    std::vector<task_completion> done(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      done[i].task_id = ids[i];
      done[i].worker = "w";
    }
    return must<std::vector<caf::error>>(atom::complete_v, std::move(done));
  }

  std::vector<queued_task> lease(int32_t n) {
    return must<std::vector<queued_task>>(atom::lease_v, std::string{"w"},
                                          int32_t{60000}, n);
  }

  using counts_map = std::map<std::string, int64_t>;

  bool finished(const std::string& plan) {
    return must<bool>(atom::finished_v, plan);
  }

  /// Takes the queue at `prefix` back to layout 5 inside Redis, and says
  /// whether it moved `n` tombstones: retention's list of finished tasks
  /// becomes the zset P:fin (scored by P:finseq's count), its tombstones
  /// the zset P:gone (2 * P:goneseq's count + 1 for a task that
  /// COMPLETED), and layout 6's mark goes (P:c:state a string again).
  bool to_layout_5(const std::string& prefix, int n) {
    return eval_says(R"lua(
local P = ARGV[1]
local fin = redis.call('LRANGE', P .. ':fin6', 0, -1)
for k, x in ipairs(fin) do redis.call('ZADD', P .. ':fin', k, x) end
if #fin > 0 then redis.call('SET', P .. ':finseq', #fin) end
local q = redis.call('LRANGE', P .. ':goneq', 0, -1)
for k, id in ipairs(q) do
  local bit = redis.call('HGET', P .. ':gone6', id) == '1' and 1 or 0
  redis.call('ZADD', P .. ':gone', 2 * k + bit, id)
end
if #q > 0 then redis.call('SET', P .. ':goneseq', #q) end
redis.call('DEL', P .. ':fin6', P .. ':gone6', P .. ':goneq', P .. ':c:seq')
redis.call('SET', P .. ':c:state', 'layout 2 and after')
return #q
)lua",
                     prefix, "-x " + std::to_string(n));
  }

  /// Takes the queue at `prefix` back to layout 4 inside Redis, and says
  /// whether it moved `n` tasks: each record in the column task becomes the
  /// columns st (the state, a leased task's with its owner), attempts, m
  /// and plan, P:backoff5 becomes P:backoff4, and layout 5's strings go
  /// (after layout 6's mark: to_layout_5).
  bool to_layout_4(const std::string& prefix, int n) {
    if (!to_layout_5(prefix, 0))
      return false;
    return eval_says(R"lua(
local P = ARGV[1]
local function col(f) return P .. ':c2:' .. f end
redis.call('DEL', col('st'), P .. ':backoff4')
local n = 0
local h = redis.call('HGETALL', col('task'))
for k = 1, #h, 2 do
  if h[k] ~= '' then -- not the column's own entry
    local id, v = h[k], h[k + 1]
    local s, a, m, pl, at = string.match(
      v, '^(%S+) (%d+) (%S+ %S+ %S+) (%d+):()')
    local e = at + tonumber(pl)
    local plan, o = string.sub(v, at, e - 1), string.sub(v, e)
    if o ~= '' then s = s .. '\0' .. o end
    redis.call('HSET', col('st'), id, s)
    if a ~= '0' then redis.call('HSET', col('attempts'), id, a) end
    redis.call('HSET', col('m'), id, m)
    if plan ~= '' then redis.call('HSET', col('plan'), id, plan) end
    n = n + 1
  end
end
redis.call('DEL', col('task'))
if redis.call('EXISTS', P .. ':backoff5') == 1 then
  redis.call('RENAME', P .. ':backoff5', P .. ':backoff4')
end
return n
)lua",
                     prefix, "-x " + std::to_string(n));
  }

  /// Takes the queue at `prefix` back to layout 3 inside Redis, and says
  /// whether it moved `n` tasks: the column st (a leased task's state with
  /// its owner) becomes the columns state and owner, P:backoff4 becomes
  /// P:backoff2, each plan's field in P:open the field OPEN of its own
  /// P:pc:<plan>, and layout 4's strings go.
  bool to_layout_3(const std::string& prefix, int n) {
    if (!to_layout_4(prefix, n))
      return false;
    return eval_says(R"lua(
local P = ARGV[1]
local function col(f) return P .. ':c2:' .. f end
redis.call('DEL', col('state'), P .. ':backoff2')
local n = 0
local h = redis.call('HGETALL', col('st'))
for k = 1, #h, 2 do
  if h[k] ~= '' then -- not the column's own entry
    local id, s, o = h[k], h[k + 1], nil
    local z = string.find(s, '\0', 1, true)
    if z then s, o = string.sub(s, 1, z - 1), string.sub(s, z + 1) end
    redis.call('HSET', col('state'), id, s)
    if o then redis.call('HSET', col('owner'), id, o) end
    n = n + 1
  end
end
redis.call('DEL', col('st'))
local o = redis.call('HGETALL', P .. ':open')
for k = 1, #o, 2 do redis.call('HSET', P .. ':pc:' .. o[k], 'OPEN', o[k + 1]) end
redis.call('DEL', P .. ':open')
if redis.call('EXISTS', P .. ':backoff4') == 1 then
  redis.call('RENAME', P .. ':backoff4', P .. ':backoff2')
end
return n
)lua",
                     prefix, "-x " + std::to_string(n));
  }

  /// Runs the Lua script `lua` with `redis-cli --eval` (ARGV[1]: `prefix`)
  /// and says whether its output matches `pattern` (as cli_says).
  bool eval_says(const std::string& lua, const std::string& prefix,
                 const std::string& pattern) {
    scratch_dir dir;
    auto file = dir.path + "/script.lua";
    std::ofstream{file} << lua;
    return cli_says("--eval " + file + " , " + prefix, pattern);
  }

  /// A clock the test moves (ms, from 1,000,000), for the queue to open.
  std::shared_ptr<int64_t> test_clock() {
    auto now = std::make_shared<int64_t>(1'000'000);
    settings.queue.clock = [now] { return *now; };
    return now;
  }

  /// Opens the queue at `prefix` with retention (finished tasks kept 60 s,
  /// at most 2 of them, 3 tombstones) on a test clock, which it returns.
  std::shared_ptr<int64_t> open_retaining(const std::string& prefix) {
    settings.prefix = prefix;
    auto now = test_clock();
    settings.queue.retain_ms = 60'000;
    settings.queue.retain_max = 2;
    settings.queue.tombstones_max = 3;
    open();
    BOOST_REQUIRE(await_queue(sys, q, std::chrono::seconds(10)));
    return now;
  }

  /// Each task's record now.
  std::vector<queued_task> statuses(const std::vector<std::string>& ids) {
    std::vector<queued_task> out;
    for (auto& id : ids)
      out.push_back(must<queued_task>(atom::status_v, id));
    return out;
  }

  /// Checks that each task of `before` reads as it did.
  void check_reads_as(const std::vector<queued_task>& before) {
    for (auto& x : before) {
      auto y = must<queued_task>(atom::status_v, x.task.task_id);
      BOOST_TEST_CONTEXT(x.task.task_id) {
        BOOST_CHECK_EQUAL(y.state, x.state);
        BOOST_CHECK_EQUAL(y.attempts, x.attempts);
        BOOST_CHECK_EQUAL(y.max_attempts, x.max_attempts);
        BOOST_CHECK_EQUAL(y.lease_owner, x.lease_owner);
        BOOST_CHECK_EQUAL(y.lease_expires_ms, x.lease_expires_ms);
        BOOST_CHECK_EQUAL(y.not_before_ms, x.not_before_ms);
        BOOST_CHECK_EQUAL(y.seq, x.seq);
        BOOST_CHECK_EQUAL(y.result, x.result);
        BOOST_CHECK_EQUAL(y.error, x.error);
      }
    }
  }

  /// Whether `redis-cli ARGS 2>&1 | grep -q PATTERN` succeeds.
  bool cli_says(const std::string& args, const std::string& pattern) {
    auto cmd = "redis-cli -p " + std::to_string(redis.port) + " " + args
               + " 2>&1 | grep -q " + pattern;
    return std::system(cmd.c_str()) == 0;
  }
};

} // namespace orch::redis_queue_test
