// The TASK QUEUE contract for a task's own transitions (enqueue, lease,
// completion, failure, retry, cancel, release), each case on both backends
// (memory, Redis). Plans and the outbox: task_queue_plans.cpp; what only
// the memory queue does: memory_queue.cpp.

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>

#include "queue_fixture.hpp"

using namespace orch;
using namespace orch::test;
using namespace orch::test::queue;
using namespace std::chrono_literals;

namespace {

/// The answers to a batch completing a (leased to w) by w, b (leased to
/// w) by x, the unknown zz, d by w and a again: a and d complete, b has
/// the wrong owner, zz is not found, and the second a finds it completed.
void check_mixed_batch(const std::vector<caf::error>& errs) {
  BOOST_REQUIRE_EQUAL(errs.size(), 5u);
  BOOST_CHECK(!errs[0]);
  BOOST_CHECK(code_of(errs[1]) == ec::invalid_argument);
  BOOST_CHECK(code_of(errs[2]) == ec::not_found);
  BOOST_CHECK(!errs[3]);
  BOOST_CHECK(code_of(errs[4]) == ec::invalid_argument);
}

} // namespace

BOOST_AUTO_TEST_SUITE(task_queue)

BOOST_AUTO_TEST_CASE_TEMPLATE(enqueue_is_idempotent, B, backends) {
  queue_fixture<B> f;
  BOOST_CHECK_EQUAL(f.add({t("a"), t("b")}), 2);
  BOOST_CHECK_EQUAL(f.add({t("a"), t("c")}), 1);
  auto all = f.template must<std::vector<queued_task>>(atom::list_v,
                                                       std::string{});
  BOOST_CHECK_EQUAL(all.size(), 3u);
}

// A task comes back (leased, by status, in a list, completed) with every
// field of its spec as it was queued. The memory queue keeps a task's
// constraints only when they are not the defaults: each of their fields
// alone makes them so.
BOOST_AUTO_TEST_CASE_TEMPLATE(a_task_comes_back_as_it_was_queued, B,
                              backends) {
  queue_fixture<B> f;
  auto full = t("full", 4);
  full.story_id = "s1";
  full.plan_id = "p1";
  full.case_id = "c1";
  full.role = "QA";
  full.description = std::string(100, 'd'); // longer than a short string
  auto& c = full.constraints;
  c.rubric = "correct first";
  c.requirements = {"r1", "r2"};
  c.metadata = {{"k1", "v1"}, {"k2", "v2"}};
  c.max_iterations = 4;
  c.timeout_seconds = 7;
  c.k = 2;
  c.rounds = 0;
  c.limit_ms = 900;
  std::vector<task_spec> sent{full, t("plain")};
  auto one = [&](std::string id, std::function<void(constraints&)> set) {
    auto x = t(std::move(id));
    set(x.constraints);
    sent.push_back(std::move(x));
  };
  one("rubric", [](constraints& x) { x.rubric = "r"; });
  one("requirements", [](constraints& x) { x.requirements = {"r"}; });
  one("metadata", [](constraints& x) { x.metadata = {{"k", "v"}}; });
  one("iterations", [](constraints& x) { x.max_iterations = 11; });
  one("timeout", [](constraints& x) { x.timeout_seconds = 1; });
  one("k", [](constraints& x) { x.k = 1; });
  one("rounds", [](constraints& x) { x.rounds = 2; });
  one("limit", [](constraints& x) { x.limit_ms = 1; });
  sent.push_back(t("after", 0, {"full", "plain"}));
  BOOST_REQUIRE_EQUAL(f.add(sent), static_cast<int32_t>(sent.size()));
  std::map<std::string, std::string> want;
  for (auto& x : sent)
    want[x.task_id] = caf::deep_to_string(x);
  auto check = [&](const queued_task& got) {
    BOOST_CHECK_EQUAL(caf::deep_to_string(got.task), want[got.task.task_id]);
  };
  for (auto& x : f.template must<std::vector<queued_task>>(atom::list_v,
                                                           std::string{}))
    check(x);
  auto leased = f.lease("w", 100);
  BOOST_REQUIRE_EQUAL(leased.size(), sent.size() - 1); // not "after" yet
  for (auto& x : leased) {
    check(x);
    BOOST_CHECK_EQUAL(x.lease_owner, "w");
    check(f.status(x.task.task_id));
    auto done = f.complete(x.task.task_id, "w");
    check(done);
    BOOST_CHECK_EQUAL(done.lease_owner, "");
    BOOST_CHECK_EQUAL(done.result, "{}");
  }
  auto last = f.lease("w2", 100);
  BOOST_REQUIRE_EQUAL(last.size(), 1u);
  check(last[0]);
  BOOST_CHECK_EQUAL(f.status("after").lease_owner, "w2");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(priority_then_fifo, B, backends) {
  queue_fixture<B> f;
  f.add({t("low1", 1), t("high1", 5), t("low2", 1), t("high2", 5)});
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 4))), "high1,high2,low1,low2");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(dependencies_gate_readiness, B, backends) {
  queue_fixture<B> f;
  // c depends on a task that arrives later.
  f.add({t("c", 9, {"b"}), t("a"), t("b", 0, {"a"})});
  BOOST_CHECK_EQUAL(f.status("c").state, "QUEUED");
  BOOST_CHECK_EQUAL(f.status("b").state, "QUEUED");
  auto first = f.lease("w", 10);
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  BOOST_CHECK_EQUAL(first[0].task.task_id, "a");
  BOOST_CHECK(f.lease("w", 10).empty());
  f.complete("a", "w");
  BOOST_CHECK_EQUAL(f.status("b").state, "READY");
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 10))), "b");
  f.complete("b", "w");
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 10))), "c");
  auto done = f.complete("c", "w");
  BOOST_CHECK_EQUAL(done.state, "COMPLETED");
  BOOST_CHECK_EQUAL(done.result, "{}");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_dependency_may_arrive_in_a_later_batch, B,
                              backends) {
  queue_fixture<B> f;
  // c and d wait for b, which comes in the next batch, twice (a
  // redelivery), and then again alone.
  f.add({t("c", 0, {"b"}), t("d", 0, {"b"})});
  BOOST_CHECK_EQUAL(f.add({t("a"), t("b"), t("b")}), 2);
  BOOST_CHECK_EQUAL(f.add({t("b")}), 0);
  BOOST_CHECK_EQUAL(f.status("c").state, "QUEUED");
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 10))), "a,b");
  f.complete("b", "w");
  BOOST_CHECK_EQUAL(f.status("c").state, "READY");
  BOOST_CHECK_EQUAL(f.status("d").state, "READY");
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 10))), "c,d");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(only_the_owner_completes, B, backends) {
  queue_fixture<B> f;
  f.add({t("a")});
  f.lease("w1");
  auto err = f.template must_fail<queued_task>(
    atom::complete_v, std::string{"a"}, std::string{"w2"}, std::string{});
  BOOST_CHECK(code_of(err) == ec::invalid_argument);
  BOOST_CHECK_NE(render(err).find("leased to w1"), std::string::npos);
  auto missing = f.template must_fail<queued_task>(atom::status_v,
                                                   std::string{"zzz"});
  BOOST_CHECK(code_of(missing) == ec::not_found);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(failures_retry_with_backoff_then_block, B,
                              backends) {
  queue_fixture<B> f;
  f.add({t("a"), t("b", 0, {"a"}), t("c", 0, {"b"})});
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto got = f.lease("w");
    BOOST_REQUIRE_EQUAL(got.size(), 1u);
    BOOST_CHECK_EQUAL(got[0].attempts, attempt);
    auto after = f.fail("a", "w");
    if (attempt < 3) {
      BOOST_CHECK_EQUAL(after.state, "QUEUED");
      // Not before the backoff: 100 ms, then 200 ms.
      BOOST_CHECK(f.lease("w").empty());
      *f.now += 100 << (attempt - 1);
    } else {
      BOOST_CHECK_EQUAL(after.state, "FAILED");
      BOOST_CHECK_EQUAL(after.error, "boom");
    }
  }
  auto b = f.status("b");
  auto c = f.status("c");
  BOOST_CHECK_EQUAL(b.state, "BLOCKED");
  BOOST_CHECK_NE(b.error.find("dependency a failed: boom"), std::string::npos);
  BOOST_CHECK_EQUAL(c.state, "BLOCKED");
  BOOST_CHECK_NE(c.error.find("dependency b is blocked"), std::string::npos);
  // A task that arrives later behind a failed one is blocked at once.
  f.add({t("d", 0, {"a"})});
  BOOST_CHECK_EQUAL(f.status("d").state, "BLOCKED");
}

// A leased batch mixes tasks attempted before (their last error and the
// end of their backoff travel with them) and first attempts (none).
BOOST_AUTO_TEST_CASE_TEMPLATE(a_retried_task_is_leased_with_its_last_error, B,
                              backends) {
  queue_fixture<B> f;
  f.add({t("a"), t("b"), t("c"), t("d")});
  auto first = f.lease("w", 2);
  BOOST_REQUIRE_EQUAL(joined(ids(first)), "a,b");
  f.fail("b", "w");
  auto due = *f.now + 100;
  *f.now += 100;
  auto got = f.lease("w", 3);
  BOOST_REQUIRE_EQUAL(joined(ids(got)), "b,c,d");
  BOOST_CHECK_EQUAL(got[0].attempts, 2);
  BOOST_CHECK_EQUAL(got[0].error, "boom");
  BOOST_CHECK_EQUAL(got[0].not_before_ms, due);
  for (size_t i = 1; i < got.size(); ++i) {
    BOOST_CHECK_EQUAL(got[i].attempts, 1);
    BOOST_CHECK_EQUAL(got[i].error, "");
    BOOST_CHECK_EQUAL(got[i].not_before_ms, 0);
  }
}

// Batches of thousands: in Redis a command of more than 1,000 arguments
// goes in pieces (Lua's unpack has a limit), whose replies must join in
// order and whose counts must add up.
BOOST_AUTO_TEST_CASE_TEMPLATE(batches_of_thousands_keep_their_order, B,
                              backends) {
  queue_fixture<B> f;
  // n0..n1199 independent, n1200..n2399 each waiting for n(i - 1200).
  std::vector<task_spec> xs;
  for (int i = 0; i < 2400; ++i) {
    std::vector<std::string> deps;
    if (i >= 1200)
      deps.push_back("n" + std::to_string(i - 1200));
    xs.push_back(t("n" + std::to_string(i), i % 4, std::move(deps)));
  }
  BOOST_REQUIRE_EQUAL(f.add(std::move(xs)), 2400);
  auto check = [](const std::vector<queued_task>& got) {
    for (size_t i = 0; i < got.size(); ++i) {
      auto& q = got[i];
      BOOST_CHECK_EQUAL(q.state, "IN_PROGRESS");
      BOOST_CHECK_EQUAL(q.lease_owner, "w");
      BOOST_CHECK_EQUAL(q.attempts, 1);
      BOOST_CHECK_EQUAL(q.task.description, "do " + q.task.task_id);
      auto n = std::stoi(q.task.task_id.substr(1));
      BOOST_CHECK_EQUAL(q.task.priority, n % 4);
      if (i > 0) {
        auto& p = got[i - 1];
        BOOST_CHECK(p.task.priority > q.task.priority
                    || (p.task.priority == q.task.priority && p.seq < q.seq));
      }
    }
  };
  auto settle = [&](const std::vector<queued_task>& got) {
    auto errs = f.complete_all(ids(got), "w");
    BOOST_REQUIRE_EQUAL(errs.size(), got.size());
    for (auto& e : errs)
      BOOST_CHECK(!e);
  };
  // 1,100 of the 1,200 READY ones; the 1,100 they free join the other 100.
  auto first = f.lease("w", 1100);
  BOOST_REQUIRE_EQUAL(first.size(), 1100u);
  check(first);
  for (auto& q : first)
    BOOST_CHECK_LT(std::stoi(q.task.task_id.substr(1)), 1200);
  settle(first);
  auto counts = f.template must<std::map<std::string, int64_t>>(atom::counts_v);
  BOOST_CHECK_EQUAL(counts["COMPLETED"], 1100);
  BOOST_CHECK_EQUAL(counts["READY"], 1200);
  BOOST_CHECK_EQUAL(counts["QUEUED"], 100);
  auto second = f.lease("w", 2000);
  BOOST_REQUIRE_EQUAL(second.size(), 1200u);
  check(second);
  settle(second);
  auto last = f.lease("w", 2000);
  BOOST_REQUIRE_EQUAL(last.size(), 100u);
  check(last);
  settle(last);
  counts = f.template must<std::map<std::string, int64_t>>(atom::counts_v);
  BOOST_CHECK_EQUAL(counts["COMPLETED"], 2400);
  BOOST_CHECK_EQUAL(counts["READY"] + counts["QUEUED"] + counts["IN_PROGRESS"],
                    0);
}

// A lease's end travels with the task: in the lease, in its status, after
// an extension; a settled task has none, nor an error of an attempt before.
BOOST_AUTO_TEST_CASE_TEMPLATE(a_lease_ends_when_it_says, B, backends) {
  queue_fixture<B> f;
  f.add({t("a"), t("b")});
  auto t0 = f.now->load();
  auto got = f.lease("w", 2, 1000);
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  for (auto& q : got)
    BOOST_CHECK_EQUAL(q.lease_expires_ms, t0 + 1000);
  BOOST_CHECK_EQUAL(f.status("a").lease_expires_ms, t0 + 1000);
  *f.now += 400;
  auto ext = f.template must<queued_task>(atom::extend_v, std::string{"a"},
                                          std::string{"w"}, int32_t{500});
  BOOST_CHECK_EQUAL(ext.lease_expires_ms, t0 + 900);
  BOOST_CHECK_EQUAL(f.status("a").lease_expires_ms, t0 + 900);
  auto failed = f.fail("b", "w");
  BOOST_CHECK_EQUAL(failed.lease_expires_ms, 0);
  BOOST_CHECK_EQUAL(failed.lease_owner, "");
  *f.now += 100; // the backoff
  auto again = f.lease("w", 1, 1000);
  BOOST_REQUIRE_EQUAL(joined(ids(again)), "b");
  BOOST_CHECK_EQUAL(again[0].lease_expires_ms, t0 + 1500);
  BOOST_CHECK_EQUAL(f.status("b").lease_expires_ms, t0 + 1500);
  auto errs = f.complete_all({"a", "b"}, "w");
  BOOST_REQUIRE_EQUAL(errs.size(), 2u);
  for (auto& e : errs)
    BOOST_CHECK(!e);
  for (auto id : {"a", "b"}) {
    auto st = f.status(id);
    BOOST_CHECK_EQUAL(st.state, "COMPLETED");
    BOOST_CHECK_EQUAL(st.lease_expires_ms, 0);
    BOOST_CHECK_EQUAL(st.lease_owner, "");
    BOOST_CHECK_EQUAL(st.error, "");
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(expired_leases_return_and_count, B, backends) {
  queue_fixture<B> f;
  f.add({t("a")});
  BOOST_REQUIRE_EQUAL(f.lease("w1", 1, 500).size(), 1u);
  *f.now += 400;
  // Extending keeps it.
  f.template must<queued_task>(atom::extend_v, std::string{"a"},
                               std::string{"w1"}, int32_t{500});
  *f.now += 400;
  BOOST_CHECK(f.lease("w2").empty());
  *f.now += 200;
  // Expired: READY again at once, one attempt spent.
  auto st = f.status("a");
  BOOST_CHECK_EQUAL(st.state, "READY");
  BOOST_CHECK_EQUAL(st.attempts, 1);
  BOOST_CHECK_NE(st.error.find("lease of w1 expired"), std::string::npos);
  auto again = f.lease("w2");
  BOOST_REQUIRE_EQUAL(again.size(), 1u);
  BOOST_CHECK_EQUAL(again[0].attempts, 2);
  // The old owner can no longer complete it.
  auto err = f.template must_fail<queued_task>(
    atom::complete_v, std::string{"a"}, std::string{"w1"}, std::string{});
  BOOST_CHECK(code_of(err) == ec::invalid_argument);
  BOOST_CHECK_EQUAL(f.complete("a", "w2").state, "COMPLETED");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(cancel_blocks_dependents, B, backends) {
  queue_fixture<B> f;
  f.add({t("a"), t("b", 0, {"a"})});
  auto c = f.template must<queued_task>(atom::cancel_v, std::string{"a"});
  BOOST_CHECK_EQUAL(c.state, "CANCELLED");
  BOOST_CHECK(f.lease("w").empty());
  BOOST_CHECK_EQUAL(f.status("b").state, "BLOCKED");
  auto counts = f.template must<std::map<std::string, int64_t>>(atom::counts_v);
  BOOST_CHECK_EQUAL(counts["CANCELLED"], 1);
  BOOST_CHECK_EQUAL(counts["BLOCKED"], 1);
  BOOST_CHECK_EQUAL(counts["READY"], 0);
  auto blocked = f.template must<std::vector<queued_task>>(
    atom::list_v, std::string{"BLOCKED"});
  BOOST_CHECK_EQUAL(joined(ids(blocked)), "b");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_batch_of_completions_settles_each_in_order, B,
                              backends) {
  queue_fixture<B> f;
  f.add({t("a"), t("b"), t("c", 0, {"a"}), t("d")});
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 3))), "a,b,d");
  auto one = [](std::string id, std::string worker,
                std::vector<outbound_event> events = {}) {
    task_completion c;
    c.task_id = std::move(id);
    c.worker = std::move(worker);
    c.result = "{\"by\":\"" + c.task_id + "\"}";
    c.events = std::move(events);
    return c;
  };
  auto errs = f.template must<std::vector<caf::error>>(
    atom::complete_v,
    std::vector<task_completion>{one("a", "w", {ev("a1")}),
                                 one("b", "x", {ev("b1")}), one("zz", "w"),
                                 one("d", "w"), one("a", "w")});
  check_mixed_batch(errs);
  BOOST_CHECK_EQUAL(f.status("a").state, "COMPLETED");
  BOOST_CHECK_EQUAL(f.status("a").result, "{\"by\":\"a\"}");
  BOOST_CHECK_EQUAL(f.status("b").state, "IN_PROGRESS");
  BOOST_CHECK_EQUAL(f.status("d").state, "COMPLETED");
  // `c` waited for `a`, which completed inside the batch.
  BOOST_CHECK_EQUAL(f.status("c").state, "READY");
  // Only the completed entry recorded its events.
  auto box = f.template must<std::vector<outbound_event>>(atom::outbox_v);
  BOOST_CHECK_EQUAL(joined(keys_of(box)), "a1");
  using counts = std::map<std::string, int64_t>;
  auto n = f.template must<counts>(atom::counts_v);
  BOOST_CHECK_EQUAL(n["COMPLETED"], 2);
  BOOST_CHECK_EQUAL(n["IN_PROGRESS"], 1);
  BOOST_CHECK_EQUAL(n["READY"], 1);
  // Lists of one state, in enqueue order.
  auto list = [&](std::string state) {
    return joined(ids(f.template must<std::vector<queued_task>>(
      atom::list_v, std::move(state))));
  };
  BOOST_CHECK_EQUAL(list("COMPLETED"), "a,d");
  BOOST_CHECK_EQUAL(list("IN_PROGRESS"), "b");
  BOOST_CHECK_EQUAL(list("READY"), "c");
  BOOST_CHECK_EQUAL(list("FAILED"), "");
  BOOST_CHECK_EQUAL(list(""), "a,b,c,d");
  // An empty batch answers with no errors.
  BOOST_CHECK(f.template must<std::vector<caf::error>>(
                 atom::complete_v, std::vector<task_completion>{})
                .empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_batch_of_plain_completions_frees_dependents,
                              B, backends) {
  // Without events (Redis: the batch's hot path), with dependents that
  // wait for one or two tasks of the batch, a wrong owner, an unknown task
  // and a task twice.
  queue_fixture<B> f;
  f.add({t("a"), t("b"), t("c", 0, {"a"}), t("d", 5), t("e", 0, {"a", "d"}),
         t("f", 0, {"c"})});
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 3))), "d,a,b");
  auto one = [](std::string id, std::string worker) {
    task_completion c;
    c.result = id == "d" ? "" : "{\"by\":\"" + id + "\"}";
    c.task_id = std::move(id);
    c.worker = std::move(worker);
    return c;
  };
  auto errs = f.template must<std::vector<caf::error>>(
    atom::complete_v,
    std::vector<task_completion>{one("a", "w"), one("b", "x"), one("zz", "w"),
                                 one("d", "w"), one("a", "w")});
  check_mixed_batch(errs);
  auto a = f.status("a");
  BOOST_CHECK_EQUAL(a.state, "COMPLETED");
  BOOST_CHECK_EQUAL(a.result, "{\"by\":\"a\"}");
  BOOST_CHECK_EQUAL(a.lease_owner, "");
  BOOST_CHECK_EQUAL(a.attempts, 1);
  BOOST_CHECK_EQUAL(f.status("d").result, "");
  BOOST_CHECK_EQUAL(f.status("b").state, "IN_PROGRESS");
  BOOST_CHECK_EQUAL(f.status("b").lease_owner, "w");
  // `c` waited for `a`, `e` for `a` and `d`: both completed in the batch.
  BOOST_CHECK_EQUAL(f.status("c").state, "READY");
  BOOST_CHECK_EQUAL(f.status("e").state, "READY");
  BOOST_CHECK_EQUAL(f.status("f").state, "QUEUED");
  using counts = std::map<std::string, int64_t>;
  auto n = f.template must<counts>(atom::counts_v);
  BOOST_CHECK_EQUAL(n["COMPLETED"], 2);
  BOOST_CHECK_EQUAL(n["IN_PROGRESS"], 1);
  BOOST_CHECK_EQUAL(n["READY"], 2);
  BOOST_CHECK_EQUAL(n["QUEUED"], 1);
  // Freed dependents go by enqueue order.
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 5))), "c,e");
  errs = f.template must<std::vector<caf::error>>(
    atom::complete_v, std::vector<task_completion>{one("c", "w")});
  BOOST_REQUIRE_EQUAL(errs.size(), 1u);
  BOOST_CHECK(!errs[0]);
  BOOST_CHECK_EQUAL(f.status("f").state, "READY");
  BOOST_CHECK_EQUAL(f.status("e").state, "IN_PROGRESS");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_blank_id_is_no_task, B, backends) {
  // Redis keeps an entry of its own under the id '' in every column.
  queue_fixture<B> f;
  f.add({t("a")});
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 1))), "a");
  auto not_found = [](const caf::error& e) {
    return code_of(e) == ec::not_found;
  };
  f.self->request(f.q, 5s, atom::status_v, std::string{})
    .receive([](queued_task&) { BOOST_FAIL("a blank id has a status"); },
             [&](caf::error& e) { BOOST_CHECK_MESSAGE(not_found(e), render(e)); });
  f.self->request(f.q, 5s, atom::cancel_v, std::string{})
    .receive([](queued_task&) { BOOST_FAIL("a blank id was cancelled"); },
             [&](caf::error& e) { BOOST_CHECK_MESSAGE(not_found(e), render(e)); });
  f.self
    ->request(f.q, 5s, atom::complete_v, std::string{}, std::string{"w"},
              std::string{})
    .receive([](queued_task&) { BOOST_FAIL("a blank id was completed"); },
             [&](caf::error& e) { BOOST_CHECK_MESSAGE(not_found(e), render(e)); });
  task_completion blank;
  blank.worker = "w";
  task_completion a;
  a.task_id = "a";
  a.worker = "w";
  auto errs = f.template must<std::vector<caf::error>>(
    atom::complete_v, std::vector<task_completion>{blank, a});
  BOOST_REQUIRE_EQUAL(errs.size(), 2u);
  BOOST_CHECK_MESSAGE(not_found(errs[0]), render(errs[0]));
  BOOST_CHECK(!errs[1]);
  using counts = std::map<std::string, int64_t>;
  auto n = f.template must<counts>(atom::counts_v);
  BOOST_CHECK_EQUAL(n["COMPLETED"], 1);
  BOOST_CHECK_EQUAL(joined(ids(f.template must<std::vector<queued_task>>(
                      atom::list_v, std::string{}))),
                    "a");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(an_id_with_a_nul_byte_is_refused, B, backends) {
  // The Redis queue keeps a task's dependents as their ids joined by NUL.
  queue_fixture<B> f;
  auto refused = [&](std::vector<task_spec> xs) {
    bool is = false;
    f.self->request(f.q, 5s, atom::add_v, std::move(xs))
      .receive([](int32_t) {},
               [&](caf::error& e) {
                 is = code_of(e) == ec::invalid_argument
                      && render(e).find("NUL") != std::string::npos;
               });
    return is;
  };
  BOOST_CHECK(refused({t("ok"), t(std::string{"a\0b", 3})}));
  BOOST_CHECK(refused({t("c", 0, {std::string{"x\0y", 3}})}));
  // Nothing of a refused batch was queued.
  f.add({t("d", 0, {"ok"})});
  BOOST_CHECK_EQUAL(f.status("d").state, "QUEUED");
  BOOST_CHECK_EQUAL(joined(ids(f.template must<std::vector<queued_task>>(
                      atom::list_v, std::string{}))),
                    "d");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(release_returns_a_task_without_an_attempt, B,
                              backends) {
  queue_fixture<B> f;
  f.add({t("a")});
  auto got = f.lease("w");
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0].attempts, 1);
  auto err = f.template must_fail<queued_task>(atom::release_v, std::string{"a"},
                                               std::string{"other"});
  BOOST_CHECK(code_of(err) == ec::invalid_argument);
  auto q = f.template must<queued_task>(atom::release_v, std::string{"a"},
                                        std::string{"w"});
  BOOST_CHECK_EQUAL(q.state, "READY");
  BOOST_CHECK_EQUAL(q.attempts, 0);
  got = f.lease("w2");
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0].attempts, 1);
  BOOST_CHECK_EQUAL(got[0].lease_owner, "w2");
}

// With retention a task that left (and whose tombstone went) may be
// enqueued again: one that left while it waited for a task not enqueued
// yet is no dependent of it, and neither is the new task of its id. Here b
// waits for x, is cancelled and leaves; b comes again without
// dependencies, then x comes and is cancelled: b stays READY (taken for a
// dependent of x, it was BLOCKED).
BOOST_AUTO_TEST_CASE_TEMPLATE(a_task_that_left_waits_no_more, B, backends) {
  queue_fixture<B> f{[](task_queue_settings& s) {
    s.retain_max = 1;
    s.tombstones_max = 1;
  }};
  BOOST_REQUIRE_EQUAL(f.add({t("b", 0, {"x"}), t("c"), t("d")}), 3);
  f.template must<queued_task>(atom::cancel_v, std::string{"b"});
  BOOST_REQUIRE_EQUAL(ids(f.lease("w", 2)).size(), 2u);
  // b, c and d finished in that order: b and c leave, c's tombstone stays.
  BOOST_REQUIRE(f.complete_all({"c", "d"}, "w") == std::vector<caf::error>(2));
  BOOST_CHECK(code_of(f.template must_fail<queued_task>(
                atom::status_v, std::string{"b"}))
              == ec::not_found);
  BOOST_CHECK_EQUAL(f.add({t("c")}), 0);
  BOOST_REQUIRE_EQUAL(f.add({t("b")}), 1);
  BOOST_CHECK_EQUAL(f.status("b").state, "READY");
  BOOST_REQUIRE_EQUAL(f.add({t("x")}), 1);
  f.template must<queued_task>(atom::cancel_v, std::string{"x"});
  BOOST_CHECK_EQUAL(f.status("b").state, "READY");
}

BOOST_AUTO_TEST_SUITE_END()
