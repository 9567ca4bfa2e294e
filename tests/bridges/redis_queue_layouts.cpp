// The Redis TASK QUEUE's stored layouts: tasks stored by every layout
// before the one its scripts use are moved into it by the first script
// that finds them, and a replica of a layout before fails on the strings
// left in its keys instead of writing a task half in each layout.

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "redis_queue_fixture.hpp"

using namespace orch;
using namespace orch::test;
using namespace orch::redis_queue_test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(redis_queue_layouts)

BOOST_FIXTURE_TEST_CASE(retention_stored_in_layout_5_is_converted,
                        redis_queue_fixture) {
  // Layout 5 kept retention's finished tasks and tombstones in zsets
  // (P:fin, P:gone); layout 6 in lists and a hash (P:fin6; P:gone6 and
  // P:goneq). Its first script moves them in their order and marks the
  // store: P:c:state a hash with the field "\0layout 6" and P:c:seq a
  // string, on which every script of layout 5 fails before it writes
  // (it takes the hash for layout 1's columns and reads P:c:seq first).
  auto now = open_retaining("l5");
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, tasks({"a", "b", "c", "d",
                                                        "e", "f", "g"})),
                      7);
  BOOST_REQUIRE_EQUAL(lease(10).size(), 7u);
  must<queued_task>(atom::cancel_v, std::string{"a"});
  // Finished in the order a, b, c, d, e: a, b and c left (tombstones, a
  // CANCELLED), d and e kept, f and g leased.
  BOOST_REQUIRE(complete_all({"b", "c", "d", "e"})
                == std::vector<caf::error>(4));
  BOOST_REQUIRE(to_layout_5("l5", 3));
  BOOST_REQUIRE(cli_says("ZCARD l5:fin", "-x 2"));
  BOOST_REQUIRE(cli_says("ZSCORE l5:gone b", "-x 5"));
  BOOST_REQUIRE(cli_says("TYPE l5:c:state", "-x string"));
  // The next call converts: the tombstones answer (b and c left COMPLETED,
  // a did not), and the finished tasks leave in their order.
  auto more = tasks({"b", "x", "y"});
  more[1].dependencies = {"c"};
  more[2].dependencies = {"a"};
  BOOST_CHECK_EQUAL(must<int32_t>(atom::add_v, more), 2);
  BOOST_CHECK_EQUAL(must<queued_task>(atom::status_v, std::string{"x"}).state,
                    "READY");
  BOOST_CHECK_EQUAL(must<queued_task>(atom::status_v, std::string{"y"}).state,
                    "BLOCKED");
  BOOST_CHECK(cli_says("EXISTS l5:fin l5:finseq l5:gone l5:goneseq", "-x 0"));
  BOOST_CHECK(cli_says("LRANGE l5:goneq 0 -1 | tr '\\n' ,", "-x a,b,c,"));
  BOOST_CHECK(cli_says("HGET l5:gone6 a", "-x 0"));
  BOOST_CHECK(cli_says("HGET l5:gone6 c", "-x 1"));
  // d and e leave first: y (blocked at its enqueue) and f finished after.
  BOOST_REQUIRE(complete_all({"f"}) == std::vector<caf::error>(1));
  BOOST_CHECK(cli_says("HMGET l5:c2:task d e y f | tr '\\n' ,", "-x ,,B.*"));
  BOOST_CHECK(cli_says("LRANGE l5:goneq 0 -1 | tr '\\n' ,", "-x c,d,e,"));
  *now += 120'000;
  BOOST_REQUIRE(complete_all({"g"}) == std::vector<caf::error>(1));
  BOOST_CHECK(cli_says("LLEN l5:fin6", "-x 1")); // g
  // Layout 6's mark, and what a script of layout 5 reads first on it.
  BOOST_CHECK(cli_says("TYPE l5:c:state", "-x hash"));
  BOOST_CHECK(cli_says("HGETALL l5:c:seq", "WRONGTYPE"));
}

BOOST_FIXTURE_TEST_CASE(tasks_stored_in_layout_4_are_converted,
                        redis_queue_fixture) {
  // Layout 4 kept a task's state with its owner, its attempts, m and plan
  // in four columns (st, attempts, m, plan) and the tasks backing off in
  // P:backoff4; layout 5 keeps the four in one record per task (the column
  // task: the plan length-prefixed, the owner last) and those tasks in
  // P:backoff5. Its first script moves them and leaves strings at P:c2:st
  // and P:backoff4, on which every script of layout 4 fails before it
  // writes anything. Plan and worker names hold spaces, colons and NUL,
  // which the record must keep apart from its other fields.
  settings.prefix = "l4";
  auto now = test_clock();
  settings.queue.backoff_base_ms = 5000;
  open();
  BOOST_REQUIRE(await_queue(sys, q, 10s));
  const std::string plan{"p:1 2\0x", 7}, other{"q"};
  const std::string worker{"w 3:\0y", 6};
  auto ts = tasks({"a", "b", "c", "d", "e", "f"});
  for (auto k : {0, 1, 3, 5})
    ts[k].plan_id = plan;
  ts[2].plan_id = other;
  ts[3].dependencies = {"a"};
  ts[4].priority = -1; // leased last
  ts[5].dependencies = {"a", "b"};
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, ts), 6);
  auto got = must<std::vector<queued_task>>(atom::lease_v, worker,
                                            int32_t{60000}, int32_t{3});
  BOOST_REQUIRE_EQUAL(got.size(), 3u); // a, b and c
  // c COMPLETED with a result; b failed once: QUEUED, backing off with an
  // error and an attempt counted; a leased; d and f wait for a (f for b
  // too); e READY.
  BOOST_REQUIRE_EQUAL(must<queued_task>(atom::complete_v, std::string{"c"},
                                        worker, std::string{"rc"})
                        .state,
                      "COMPLETED");
  BOOST_REQUIRE_EQUAL(must<queued_task>(atom::fail_v, std::string{"b"}, worker,
                                        std::string{"boom"})
                        .state,
                      "QUEUED");
  auto before = statuses({"a", "b", "c", "d", "e", "f"});
  auto plan_counts = must<counts_map>(atom::counts_v, plan);
  BOOST_REQUIRE(to_layout_4("l4", 6));
  BOOST_REQUIRE(cli_says("HGET l4:c2:st a", "-a ^IN_PROGRESS"));
  BOOST_REQUIRE(cli_says("HGET l4:c2:attempts b", "-x 1"));
  BOOST_REQUIRE(cli_says("ZCARD l4:backoff4", "-x 1"));
  // The next call converts: every task reads as it did.
  check_reads_as(before);
  BOOST_CHECK_EQUAL(before[0].lease_owner, worker);
  BOOST_CHECK_EQUAL(before[1].attempts, 1);
  BOOST_CHECK_EQUAL(before[1].error, "boom");
  BOOST_CHECK(must<counts_map>(atom::counts_v, plan) == plan_counts);
  BOOST_CHECK(plan_counts == (counts_map{{"IN_PROGRESS", 1}, {"QUEUED", 3}}));
  // The columns are gone, layout 5's strings are there, and layout 4's
  // first reads (a task's state; a promotion's look at P:backoff4) fail.
  BOOST_CHECK(cli_says("EXISTS l4:c2:attempts l4:c2:m l4:c2:plan", "-x 0"));
  BOOST_CHECK(cli_says("HLEN l4:c2:task", "-x 7")); // and its own entry
  BOOST_CHECK(cli_says("TYPE l4:c2:st", "-x string"));
  BOOST_CHECK(cli_says("HMGET l4:c2:st a", "WRONGTYPE"));
  BOOST_CHECK(cli_says("ZRANGEBYSCORE l4:backoff4 -inf 0", "WRONGTYPE"));
  BOOST_CHECK(cli_says("ZCARD l4:backoff5", "-x 1"));
  // And the tasks go on: a stranger's completion of a is refused, naming
  // its owner; a's completion makes d READY (f waits for b); b comes back
  // after its backoff with its attempt counted, and its completion makes f
  // READY and the plan finished once f is done.
  auto stranger = must<std::vector<caf::error>>(
    atom::complete_v,
    std::vector<task_completion>{task_completion{"a", "x", "", {}}});
  BOOST_REQUIRE_EQUAL(stranger.size(), 1u);
  BOOST_REQUIRE(stranger[0]);
  BOOST_CHECK_NE(render(stranger[0]).find("leased to " + worker),
                 std::string::npos);
  auto errs = must<std::vector<caf::error>>(
    atom::complete_v,
    std::vector<task_completion>{task_completion{"a", worker, "ra", {}}});
  BOOST_REQUIRE_EQUAL(errs.size(), 1u);
  BOOST_CHECK(!errs[0]);
  BOOST_CHECK_EQUAL(must<queued_task>(atom::status_v, std::string{"f"}).state,
                    "QUEUED");
  auto next = lease(5);
  BOOST_REQUIRE_EQUAL(next.size(), 2u);
  BOOST_CHECK_EQUAL(next[0].task.task_id, "d");
  BOOST_CHECK_EQUAL(next[1].task.task_id, "e");
  BOOST_CHECK(complete_all({"d", "e"}) == std::vector<caf::error>(2));
  *now += 60'000;
  auto again = lease(5);
  BOOST_REQUIRE_EQUAL(again.size(), 1u);
  BOOST_CHECK_EQUAL(again[0].task.task_id, "b");
  BOOST_CHECK_EQUAL(again[0].attempts, 2);
  BOOST_CHECK(complete_all({"b"}) == std::vector<caf::error>(1));
  BOOST_CHECK(!finished(plan));
  auto last = lease(5);
  BOOST_REQUIRE_EQUAL(last.size(), 1u);
  BOOST_CHECK_EQUAL(last[0].task.task_id, "f");
  BOOST_CHECK(complete_all({"f"}) == std::vector<caf::error>(1));
  BOOST_CHECK(finished(plan));
  BOOST_CHECK(must<counts_map>(atom::counts_v, plan)
              == (counts_map{{"COMPLETED", 4}}));
  auto n = must<counts_map>(atom::counts_v);
  BOOST_CHECK_EQUAL(n["COMPLETED"], 6);
  BOOST_CHECK_EQUAL(n["QUEUED"] + n["READY"] + n["IN_PROGRESS"], 0);
}

BOOST_FIXTURE_TEST_CASE(tasks_stored_as_hashes_are_converted,
                        redis_queue_fixture) {
  // Layout 0 kept a hash per task (its spec in P:s:<id>, or in the hash for
  // the oldest tasks), the zset P:all and the dependents of a task in the
  // set P:d:<id>; the first script after an upgrade moves every task into
  // the columns (P:c2:<field>).
  settings.prefix = "old";
  open();
  BOOST_REQUIRE(await_queue(sys, q, 10s)); // connected
  auto ts = tasks({"before", "after", "next"});
  ts[0].description = "spec in the hash";
  ts[1].description = "spec in its own key";
  ts[1].priority = -1; // leased second
  ts[2].description = "waits for before";
  ts[2].dependencies = {"before"};
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, ts), 3);
  BOOST_REQUIRE(to_layout_3("old", 3));
  // Back to layout 0, inside Redis: the columns become a hash per task
  // (with "before"'s spec in it, the others' in P:s), the zset P:all, the
  // dependents sets, and the READY tasks go into P:r.
  BOOST_REQUIRE(eval_says(R"lua(
local P = ARGV[1]
redis.call('DEL', P .. ':all') -- layout 3's string: layout 0 had the zset
local fields = {'state', 'plan', 'attempts', 'unmet', 'owner', 'nb', 'result',
                'error', 'm', 'd'}
local function col(f, id) return redis.call('HGET', P .. ':c2:' .. f, id) end
for _, id in ipairs(redis.call('HKEYS', P .. ':c2:state')) do
  if id ~= '' then -- not the column's own field
  local key = P .. ':t:' .. id
  local rank, seq, max = string.match(col('m', id), '^(%S+) (%S+) (%S+)$')
  local prio = (tonumber(seq) - tonumber(rank)) / 1e10
  redis.call('HSET', key, 'state', col('state', id), 'plan',
             col('plan', id) or '', 'prio', string.format('%d', prio), 'seq',
             seq, 'max', max, 'attempts', col('attempts', id) or '0',
             'owner', col('owner', id) or '', 'nb', col('nb', id) or '0')
  if col('state', id) == 'QUEUED' then -- the column: unmet beyond the first
    redis.call('HSET', key, 'unmet', (tonumber(col('unmet', id)) or 0) + 1)
  end
  if col('d', id) then redis.call('SADD', P .. ':d:' .. id, col('d', id)) end
  if id == 'before' then
    redis.call('HSET', key, 'spec', redis.call('GET', P .. ':s:' .. id),
               'lease', '0', 'result', '', 'error', '')
    redis.call('DEL', P .. ':s:' .. id)
  end
  redis.call('ZADD', P .. ':all', seq, id)
  end
end
for _, f in ipairs(fields) do redis.call('DEL', P .. ':c2:' .. f) end
local ready = redis.call('ZRANGE', P .. ':ready2', 0, -1, 'WITHSCORES')
for k = 1, #ready, 2 do
  if ready[k]:sub(1, 1) ~= '\0' then -- not the set's own member
    redis.call('ZADD', P .. ':r', ready[k + 1], ready[k])
  end
end
redis.call('DEL', P .. ':ready2')
return redis.call('ZCARD', P .. ':all')
)lua",
                          "old", "-x 3"));
  auto cli = "redis-cli -p " + std::to_string(redis.port);
  auto before = must<queued_task>(atom::status_v, std::string{"before"});
  BOOST_CHECK_EQUAL(before.task.description, "spec in the hash");
  BOOST_CHECK_EQUAL(before.state, "READY");
  // Converted: the hashes, P:r and the dependents' set are gone, P:all is
  // layout 3's string, the columns hold all three, and "before"'s spec has
  // its own key.
  BOOST_CHECK(cli_says("TYPE old:all", "-x string"));
  BOOST_CHECK_EQUAL(std::system((cli + " EXISTS old:r old:t:before "
                                       "old:t:after old:t:next old:d:before"
                                       " | grep -qx 0")
                                  .c_str()),
                    0);
  BOOST_CHECK_EQUAL( // the three and the column's own field ''
    std::system((cli + " HLEN old:c2:task | grep -qx 4").c_str()), 0);
  BOOST_CHECK_EQUAL(
    std::system((cli + " EXISTS old:s:before | grep -qx 1").c_str()), 0);
  auto leased = lease(5);
  BOOST_REQUIRE_EQUAL(leased.size(), 2u);
  BOOST_CHECK_EQUAL(leased[0].task.task_id, "before");
  BOOST_CHECK_EQUAL(leased[0].attempts, 1);
  BOOST_CHECK_EQUAL(leased[1].task.description, "spec in its own key");
  auto done = must<queued_task>(atom::complete_v, std::string{"before"},
                                std::string{"w"}, std::string{"{}"});
  BOOST_CHECK_EQUAL(done.state, "COMPLETED");
  BOOST_CHECK_EQUAL(done.result, "{}");
  BOOST_CHECK_EQUAL(done.task.description, "spec in the hash");
  // The dependent's unmet count came along: it is READY now.
  auto all = must<std::vector<queued_task>>(atom::list_v, std::string{});
  BOOST_REQUIRE_EQUAL(all.size(), 3u);
  BOOST_CHECK_EQUAL(all[0].task.task_id, "before");
  BOOST_CHECK_EQUAL(all[1].task.task_id, "after");
  BOOST_CHECK_EQUAL(all[1].state, "IN_PROGRESS");
  BOOST_CHECK_EQUAL(all[2].task.task_id, "next");
  BOOST_CHECK_EQUAL(all[2].state, "READY");
}

BOOST_FIXTURE_TEST_CASE(an_old_replicas_enqueue_of_a_known_task_changes_nothing,
                        redis_queue_fixture) {
  // During a rolling update a replica of the version before may enqueue a
  // task again (a redelivered plan): it no longer finds P:all, so it writes
  // a hash, P:all, P:r and a count for a task the columns know. The next
  // script keeps the columns' task and takes the rest back.
  settings.prefix = "dup";
  open();
  BOOST_REQUIRE(await_queue(sys, q, 10s));
  auto ts = tasks({"a", "b"});
  ts[1].priority = -1;
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, ts), 2);
  auto first = lease(1);
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  BOOST_CHECK_EQUAL(first[0].task.task_id, "a");
  BOOST_CHECK_EQUAL(must<queued_task>(atom::complete_v, std::string{"a"},
                                      std::string{"w"}, std::string{"done"})
                      .state,
                    "COMPLETED");
  // What the old enqueue script writes for "a", before layout 3 (which
  // leaves a string at P:all).
  auto old = "redis-cli -p " + std::to_string(redis.port)
             + " EVAL \"redis.call('DEL', 'dup:all') "
               "redis.call('HSET', 'dup:t:a', 'state', 'READY', "
               "'plan', '', 'prio', '0', 'seq', '9', 'max', '3', "
               "'attempts', '0', 'owner', '', 'nb', '0') "
               "redis.call('ZADD', 'dup:all', 9, 'a') "
               "redis.call('ZADD', 'dup:r', 9, 'a') "
               "redis.call('HINCRBY', 'dup:pc:', 'READY', 1) "
               "return redis.call('HINCRBY', 'dup:sc', 'READY', 1)\" 0"
               " > /dev/null";
  BOOST_REQUIRE_EQUAL(std::system(old.c_str()), 0);
  auto a = must<queued_task>(atom::status_v, std::string{"a"});
  BOOST_CHECK_EQUAL(a.state, "COMPLETED");
  BOOST_CHECK_EQUAL(a.result, "done");
  auto n = must<std::map<std::string, int64_t>>(atom::counts_v);
  BOOST_CHECK_EQUAL(n["READY"], 1);
  BOOST_CHECK_EQUAL(n["COMPLETED"], 1);
  auto rest = lease(5);
  BOOST_REQUIRE_EQUAL(rest.size(), 1u);
  BOOST_CHECK_EQUAL(rest[0].task.task_id, "b");
  // From layout 3 on, layout 0's enqueue fails at its first step, the
  // look-up of the batch's ids in P:all.
  BOOST_CHECK(cli_says("ZMSCORE dup:all a", "WRONGTYPE"));
}

BOOST_FIXTURE_TEST_CASE(plans_counted_by_state_are_finished_by_their_open_tasks,
                        redis_queue_fixture) {
  // Layouts before 3 counted a plan's tasks in each state (fields QUEUED,
  // READY, IN_PROGRESS, ... of P:pc:<plan>); layout 3 counts only the open
  // ones, in the field OPEN, and adds the open fields the layouts before
  // left (layout 4 moves the sum into P:open). It leaves P:all a string, on which every script of layout 2
  // fails before it writes anything: such a replica would read counts by
  // state that no longer change, and see plans done that are not.
  settings.prefix = "l2";
  open();
  BOOST_REQUIRE(await_queue(sys, q, 10s));
  auto ts = tasks({"a", "b", "c", "d"});
  ts[0].plan_id = ts[1].plan_id = ts[2].plan_id = "p1";
  ts[3].plan_id = "p2";
  ts[1].dependencies = {"a"};
  ts[0].priority = 2; // leased first
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, ts), 4);
  auto first = lease(1);
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  BOOST_CHECK_EQUAL(first[0].task.task_id, "a");
  // Back to layout 2: p1's counts by state (from its tasks' states), no
  // OPEN, no string at P:all.
  BOOST_REQUIRE(to_layout_3("l2", 4));
  BOOST_REQUIRE(eval_says(R"lua(
local P = ARGV[1]
for _, plan in ipairs({'p1', 'p2'}) do
  local key = P .. ':pc:' .. plan
  redis.call('DEL', key)
  for _, id in ipairs(redis.call('SMEMBERS', P .. ':p:' .. plan)) do
    redis.call('HINCRBY', key, redis.call('HGET', P .. ':c2:state', id), 1)
  end
end
redis.call('DEL', P .. ':all')
return redis.call('HGET', P .. ':pc:p1', 'IN_PROGRESS')
)lua",
                          "l2", "-x 1"));
  BOOST_CHECK(!finished("p1"));
  BOOST_CHECK(!finished("p2"));
  // The next script left the string: layout 2's first look at P:all
  // (EXISTS, then ZRANGE) fails.
  BOOST_CHECK(cli_says("TYPE l2:all", "-x string"));
  BOOST_CHECK(cli_says("ZRANGE l2:all 0 -1", "WRONGTYPE"));
  // The counts left (by state, and OPEN) became p1's open tasks in
  // P:open, which fall to 0 as they close; a plan with none open leaves
  // the hash.
  auto errs = complete_all({"a"});
  BOOST_REQUIRE_EQUAL(errs.size(), 1u);
  BOOST_CHECK(!errs[0]);
  BOOST_CHECK(!finished("p1"));
  auto next = lease(5);
  BOOST_REQUIRE_EQUAL(next.size(), 3u); // b, c and d
  std::vector<std::string> ids;
  for (auto& x : next)
    if (x.task.plan_id == "p1")
      ids.push_back(x.task.task_id);
  BOOST_REQUIRE_EQUAL(ids.size(), 2u);
  errs = complete_all(ids);
  BOOST_REQUIRE_EQUAL(errs.size(), 2u);
  BOOST_CHECK(finished("p1"));
  BOOST_CHECK(!finished("p2"));
  BOOST_CHECK(cli_says("HEXISTS l2:open p1", "-x 0"));
  BOOST_CHECK(cli_says("HEXISTS l2:open p2", "-x 1"));
  BOOST_CHECK(cli_says("EXISTS l2:pc:p1 l2:pc:p2", "-x 0"));
  auto n = must<counts_map>(atom::counts_v, std::string{"p1"});
  BOOST_CHECK(n == (counts_map{{"COMPLETED", 3}}));
}

BOOST_FIXTURE_TEST_CASE(tasks_stored_in_layout_3_are_converted,
                        redis_queue_fixture) {
  // Layouts 2 and 3 kept a task's state and owner in columns of their own
  // and the tasks backing off in P:backoff2; layout 4 keeps the two in one
  // field (the column st: a leased task's state with its owner) and those
  // tasks in P:backoff4. Its first script moves them and leaves strings at
  // P:c2:state and P:backoff2, on which every script of layout 3 fails
  // before it writes anything.
  settings.prefix = "l3";
  auto now = test_clock();
  settings.queue.backoff_base_ms = 5000;
  open();
  BOOST_REQUIRE(await_queue(sys, q, 10s));
  auto ts = tasks({"a", "b", "c", "d", "e"});
  ts[3].dependencies = {"a"};
  ts[4].priority = -1; // leased last
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, ts), 5);
  auto got = lease(3);
  BOOST_REQUIRE_EQUAL(got.size(), 3u); // a, b and c
  // c COMPLETED with a result; b failed once: QUEUED, backing off with an
  // error and an attempt counted; a leased; d waits for a; e READY.
  BOOST_REQUIRE_EQUAL(must<queued_task>(atom::complete_v, std::string{"c"},
                                        std::string{"w"}, std::string{"rc"})
                        .state,
                      "COMPLETED");
  BOOST_REQUIRE_EQUAL(must<queued_task>(atom::fail_v, std::string{"b"},
                                        std::string{"w"}, std::string{"boom"})
                        .state,
                      "QUEUED");
  auto before = statuses({"a", "b", "c", "d", "e"});
  BOOST_REQUIRE(to_layout_3("l3", 5));
  BOOST_REQUIRE(cli_says("HGET l3:c2:state a", "-x IN_PROGRESS"));
  BOOST_REQUIRE(cli_says("ZCARD l3:backoff2", "-x 1"));
  // The next call converts: every task reads as it did.
  check_reads_as(before);
  BOOST_CHECK_EQUAL(before[0].lease_owner, "w");
  BOOST_CHECK_EQUAL(before[1].attempts, 1);
  BOOST_CHECK_EQUAL(before[1].error, "boom");
  // The columns are gone, layout 4's strings are there, and layout 3's
  // first reads (a task's state; a promotion's look at P:backoff2) fail;
  // the tasks went on into layout 5's records.
  BOOST_CHECK(cli_says("EXISTS l3:c2:owner l3:pc:", "-x 0"));
  // The plan's (none: '') open tasks, moved from its own P:pc:<plan>:
  // a, b, d and e.
  BOOST_CHECK(cli_says("HGET l3:open ''", "-x 4"));
  BOOST_CHECK(cli_says("HGET l3:c2:task a", "^IN_PROGRESS"));
  BOOST_CHECK(cli_says("TYPE l3:c2:state", "-x string"));
  BOOST_CHECK(cli_says("HGET l3:c2:state a", "WRONGTYPE"));
  BOOST_CHECK(cli_says("ZRANGEBYSCORE l3:backoff2 -inf 0", "WRONGTYPE"));
  BOOST_CHECK(cli_says("ZCARD l3:backoff5", "-x 1"));
  // And the tasks go on: a's completion makes d READY; b comes back after
  // its backoff with its attempt counted; a stranger's completion of e
  // is refused.
  auto errs = complete_all({"a"});
  BOOST_REQUIRE_EQUAL(errs.size(), 1u);
  BOOST_CHECK(!errs[0]);
  auto next = lease(5);
  BOOST_REQUIRE_EQUAL(next.size(), 2u);
  BOOST_CHECK_EQUAL(next[0].task.task_id, "d");
  BOOST_CHECK_EQUAL(next[1].task.task_id, "e");
  auto stranger = must<std::vector<caf::error>>(
    atom::complete_v,
    std::vector<task_completion>{task_completion{"e", "x", "", {}}});
  BOOST_REQUIRE_EQUAL(stranger.size(), 1u);
  BOOST_CHECK(stranger[0]);
  *now += 60'000;
  auto again = lease(5);
  BOOST_REQUIRE_EQUAL(again.size(), 3u); // b, and d and e, whose leases ended
  std::map<std::string, int32_t> attempts;
  for (auto& x : again)
    attempts[x.task.task_id] = x.attempts;
  BOOST_CHECK_EQUAL(attempts["b"], 2);
  BOOST_CHECK_EQUAL(attempts["d"], 2);
  auto n = must<counts_map>(atom::counts_v);
  BOOST_CHECK_EQUAL(n["COMPLETED"], 2);
  BOOST_CHECK_EQUAL(n["IN_PROGRESS"], 3);
}

BOOST_FIXTURE_TEST_CASE(tasks_stored_in_layout_1_are_converted,
                        redis_queue_fixture) {
  // Layout 1 kept the columns under P:c:, a task's seq, max and priority in
  // columns of their own, its dependents in the set P:d:<id>, the zsets
  // P:ready, P:leases and P:backoff, and (from the version before it) a
  // lease's end in the column P:c:lease. The first script of layout 2 moves
  // all of it, and P:c:state then holds a string on which every script of
  // layout 1 fails (since layout 6, a mark on which it finds no task and
  // fails to enqueue).
  settings.prefix = "l1";
  open();
  BOOST_REQUIRE(await_queue(sys, q, 10s));
  auto ts = tasks({"a", "b", "c", "d", "e"});
  ts[1].priority = 5;   // leased first
  ts[2].dependencies = {"a"};
  ts[3].dependencies = {"a", "b"};
  ts[4].dependencies = {"z"}; // not enqueued yet
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, ts), 5);
  auto got = lease(1);
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0].task.task_id, "b");
  auto b_seq = got[0].seq;
  BOOST_CHECK_EQUAL(b_seq, 2);
  BOOST_CHECK_EQUAL(got[0].max_attempts, settings.queue.max_attempts);
  // Back to layout 1, inside Redis.
  BOOST_REQUIRE(to_layout_3("l1", 5));
  BOOST_REQUIRE(eval_says(R"lua(
local P = ARGV[1]
redis.call('DEL', P .. ':c:state')
for _, f in ipairs({'state', 'plan', 'attempts', 'owner', 'nb', 'result',
                    'error'}) do
  if redis.call('EXISTS', P .. ':c2:' .. f) == 1 then
    redis.call('RENAME', P .. ':c2:' .. f, P .. ':c:' .. f)
  end
end
-- Layout 1 counted every unmet dependency (layout 2: those beyond the
-- first).
local st = redis.call('HGETALL', P .. ':c:state')
for k = 1, #st, 2 do
  if st[k + 1] == 'QUEUED' then
    local u = tonumber(redis.call('HGET', P .. ':c2:unmet', st[k])) or 0
    redis.call('HSET', P .. ':c:unmet', st[k], u + 1)
  end
end
redis.call('DEL', P .. ':c2:unmet')
local m = redis.call('HGETALL', P .. ':c2:m')
for k = 1, #m, 2 do
  local id = m[k]
  local rank, seq, max = string.match(m[k + 1], '^(%S+) (%S+) (%S+)$')
  if rank then
    local prio = (tonumber(seq) - tonumber(rank)) / 1e10
    redis.call('HSET', P .. ':c:seq', id, seq)
    redis.call('HSET', P .. ':c:max', id, max)
    if prio ~= 0 then
      redis.call('HSET', P .. ':c:prio', id, string.format('%d', prio))
    end
  end
end
-- The columns d and w become sets P:d:<id> and P:w:<id>.
for _, f in ipairs({'d', 'w'}) do
  local h = redis.call('HGETALL', P .. ':c2:' .. f)
  for k = 1, #h, 2 do
    if h[k] ~= '' then
      for x in string.gmatch(h[k + 1], '%Z+') do
        redis.call('SADD', P .. ':' .. f .. ':' .. h[k], x)
      end
    end
  end
end
redis.call('DEL', P .. ':c2:m', P .. ':c2:d', P .. ':c2:w')
redis.call('HSET', P .. ':c:lease', 'b', '12345')
redis.call('RENAME', P .. ':ready2', P .. ':ready')
redis.call('RENAME', P .. ':leases2', P .. ':leases')
return redis.call('HLEN', P .. ':c:seq')
)lua",
                          "l1", "-x 5"));
  auto cli = "redis-cli -p " + std::to_string(redis.port);
  // The next call converts: the lease, seq, max and priorities came along.
  auto b = must<queued_task>(atom::status_v, std::string{"b"});
  BOOST_CHECK_EQUAL(b.state, "IN_PROGRESS");
  BOOST_CHECK_EQUAL(b.seq, b_seq);
  BOOST_CHECK_EQUAL(b.max_attempts, settings.queue.max_attempts);
  BOOST_CHECK_EQUAL(b.lease_expires_ms, got[0].lease_expires_ms);
  BOOST_CHECK_EQUAL(std::system((cli + " EXISTS l1:c:max l1:c:prio "
                                       "l1:c:lease l1:d:a l1:d:b l1:ready "
                                       "l1:leases l1:w:z | grep -qx 0")
                                  .c_str()),
                    0);
  // A script of layout 1 reads P:c:state first: since layout 6 it finds
  // no task there (layout 6's mark), and its enqueue fails on P:c:seq.
  BOOST_CHECK(cli_says("HMGET l1:c:state a", "-x ''"));
  BOOST_CHECK(cli_says("HSET l1:c:seq a 1", "WRONGTYPE"));
  // The dependents came along: a frees c, and d once b is done too.
  auto next = lease(5);
  BOOST_REQUIRE_EQUAL(next.size(), 1u);
  BOOST_CHECK_EQUAL(next[0].task.task_id, "a");
  BOOST_CHECK_EQUAL(next[0].seq, 1);
  auto errs = complete_all({"a"});
  BOOST_REQUIRE_EQUAL(errs.size(), 1u);
  BOOST_CHECK(!errs[0]);
  BOOST_CHECK_EQUAL(must<queued_task>(atom::status_v, std::string{"c"}).state,
                    "READY");
  BOOST_CHECK_EQUAL(must<queued_task>(atom::status_v, std::string{"d"}).state,
                    "QUEUED");
  errs = complete_all({"b"});
  BOOST_REQUIRE_EQUAL(errs.size(), 1u);
  BOOST_CHECK(!errs[0]);
  auto rest = lease(5);
  BOOST_REQUIRE_EQUAL(rest.size(), 2u);
  BOOST_CHECK_EQUAL(rest[0].task.task_id, "c");
  BOOST_CHECK_EQUAL(rest[1].task.task_id, "d");
  // So did e, waiting for z: z comes, and its completion frees e.
  BOOST_CHECK_EQUAL(must<queued_task>(atom::status_v, std::string{"e"}).state,
                    "QUEUED");
  BOOST_REQUIRE_EQUAL(must<int32_t>(atom::add_v, tasks({"z"})), 1);
  auto z = lease(5);
  BOOST_REQUIRE_EQUAL(z.size(), 1u);
  BOOST_CHECK_EQUAL(z[0].task.task_id, "z");
  errs = complete_all({"z"});
  BOOST_REQUIRE_EQUAL(errs.size(), 1u);
  BOOST_CHECK(!errs[0]);
  BOOST_CHECK_EQUAL(must<queued_task>(atom::status_v, std::string{"e"}).state,
                    "READY");
}

BOOST_AUTO_TEST_SUITE_END()
