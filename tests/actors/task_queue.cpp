// The TASK QUEUE contract, each case on both backends (memory, Redis).

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

outbound_event ev(std::string key, std::string when = "") {
  outbound_event e;
  e.subject = "orchestration.test";
  e.idempotency_key = std::move(key);
  e.payload = "{\"k\":1}";
  e.correlation_id = "corr";
  e.traceparent = "00-tp";
  e.when = std::move(when);
  return e;
}

std::vector<std::string> keys_of(const std::vector<outbound_event>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.idempotency_key);
  std::sort(out.begin(), out.end());
  return out;
}

BOOST_AUTO_TEST_CASE_TEMPLATE(completion_records_its_events_in_the_outbox, B,
                              backends) {
  queue_fixture<B> f;
  f.add({t("a"), t("b")});
  f.lease("w", 2);
  f.template must<queued_task>(atom::complete_v, std::string{"a"},
                               std::string{"w"}, std::string{"{}"},
                               std::vector<outbound_event>{ev("a1"), ev("a2")});
  // A completion by someone else records nothing.
  f.template must_fail<queued_task>(atom::complete_v, std::string{"b"},
                                    std::string{"x"}, std::string{"{}"},
                                    std::vector<outbound_event>{ev("b1")});
  auto box = f.template must<std::vector<outbound_event>>(atom::outbox_v);
  BOOST_CHECK_EQUAL(joined(keys_of(box)), "a1,a2");
  for (auto& e : box) {
    BOOST_CHECK(e.outbox);
    BOOST_CHECK_EQUAL(e.payload, "{\"k\":1}");
    BOOST_CHECK_EQUAL(e.traceparent, "00-tp");
    BOOST_CHECK_EQUAL(e.subject, "orchestration.test");
  }
  auto dropped = f.template must<int32_t>(
    atom::outbox_v, std::vector<std::string>{"a1", "zz"});
  BOOST_CHECK_EQUAL(dropped, 1);
  box = f.template must<std::vector<outbound_event>>(atom::outbox_v);
  BOOST_CHECK_EQUAL(joined(keys_of(box)), "a2");
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

BOOST_AUTO_TEST_CASE_TEMPLATE(the_outbox_of_one_plan, B, backends) {
  queue_fixture<B> f;
  f.add({planned("p/a"), planned("p/b"), planned("q/c")});
  f.lease("w", 3);
  auto done = [&](const char* id, std::vector<outbound_event> evs) {
    f.template must<queued_task>(atom::complete_v, std::string{id},
                                 std::string{"w"}, std::string{"{}"},
                                 std::move(evs));
  };
  done("p/a", {ev("a1"), ev("a2")});
  done("q/c", {ev("c1")});
  done("p/b", {ev("b1")});
  auto of = [&](const char* plan) {
    return joined(keys_of(f.template must<std::vector<outbound_event>>(
      atom::outbox_v, std::string{plan})));
  };
  BOOST_CHECK_EQUAL(of("p"), "a1,a2,b1");
  BOOST_CHECK_EQUAL(of("q"), "c1");
  BOOST_CHECK_EQUAL(of("none"), "");
  // Dropped events leave their plan's list too.
  f.template must<int32_t>(atom::outbox_v,
                           std::vector<std::string>{"a2", "c1"});
  BOOST_CHECK_EQUAL(of("p"), "a1,b1");
  BOOST_CHECK_EQUAL(of("q"), "");
  BOOST_CHECK_EQUAL(joined(keys_of(f.template must<std::vector<outbound_event>>(
                      atom::outbox_v))),
                    "a1,b1");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(final_events_only_when_the_failure_is_final, B,
                              backends) {
  queue_fixture<B> f;
  f.add({t("a")});
  for (int attempt = 1; attempt <= 3; ++attempt) {
    BOOST_REQUIRE_EQUAL(f.lease("w").size(), 1u);
    auto n = std::to_string(attempt);
    auto q = f.template must<queued_task>(
      atom::fail_v, std::string{"a"}, std::string{"w"}, std::string{"boom"},
      std::vector<outbound_event>{ev("df" + n), ev("tf" + n, "final")});
    *f.now += 1000;
    BOOST_CHECK_EQUAL(q.state, attempt < 3 ? "QUEUED" : "FAILED");
  }
  auto box = f.template must<std::vector<outbound_event>>(atom::outbox_v);
  BOOST_CHECK_EQUAL(joined(keys_of(box)), "df1,df2,df3,tf3");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(plan_marker_only_when_the_plan_has_no_open_task,
                              B, backends) {
  // The plan's completion marker rides with every settle: it is recorded by
  // the settle that leaves the plan without an open task, and only then, so
  // a process that dies before publishing plan.completed loses nothing.
  queue_fixture<B> f;
  f.add({planned("p1/a"), planned("p1/b"), planned("p2/c")});
  BOOST_REQUIRE_EQUAL(f.lease("w", 3).size(), 3u);
  auto settle = [&](const std::string& id, const std::string& plan,
                    bool ok) {
    task_spec any;
    any.plan_id = plan;
    any.story_id = "s-" + plan;
    std::vector<outbound_event> evs{ev("e-" + id), plan_done_marker(any)};
    if (ok)
      return f.template must<queued_task>(atom::complete_v, id,
                                          std::string{"w"}, std::string{"{}"},
                                          evs);
    return f.template must<queued_task>(atom::fail_v, id, std::string{"w"},
                                        std::string{"boom"}, evs);
  };
  settle("p1/a", "p1", true);
  auto box = f.template must<std::vector<outbound_event>>(atom::outbox_v);
  BOOST_CHECK_EQUAL(joined(keys_of(box)), "e-p1/a"); // p1/b still runs
  // A failure that will be retried leaves the plan open.
  BOOST_CHECK_EQUAL(settle("p1/b", "p1", false).state, "QUEUED");
  box = f.template must<std::vector<outbound_event>>(atom::outbox_v);
  BOOST_CHECK_EQUAL(joined(keys_of(box)), "e-p1/a,e-p1/b");
  settle("p2/c", "p2", true);
  box = f.template must<std::vector<outbound_event>>(atom::outbox_v);
  BOOST_CHECK_EQUAL(joined(keys_of(box)),
                    "e-p1/a,e-p1/b,e-p2/c,plan.completed:p2");
  for (auto& e : box)
    if (e.subject == subject::plan_completed) {
      auto back = plan_task_of(e);
      BOOST_CHECK_EQUAL(back.plan_id, "p2");
      BOOST_CHECK_EQUAL(back.story_id, "s-p2");
    }
  // p1/b again, completed this time: now p1 is done as well.
  *f.now += 60000;
  BOOST_REQUIRE_EQUAL(f.lease("w").size(), 1u);
  settle("p1/b", "p1", true);
  box = f.template must<std::vector<outbound_event>>(atom::outbox_v);
  BOOST_CHECK_EQUAL(joined(keys_of(box)),
                    "e-p1/a,e-p1/b,e-p2/c,plan.completed:p1,"
                    "plan.completed:p2");
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

BOOST_AUTO_TEST_CASE_TEMPLATE(counts_by_plan, B, backends) {
  queue_fixture<B> f;
  auto a = t("p1/a");
  a.plan_id = "p1";
  auto b = t("p1/b", 0, {"p1/a"});
  b.plan_id = "p1";
  auto c = t("p2/c");
  c.plan_id = "p2";
  f.add({a, b, c});
  using counts = std::map<std::string, int64_t>;
  auto n = f.template must<counts>(atom::counts_v, std::string{"p1"});
  BOOST_CHECK_EQUAL(n["READY"], 1);
  BOOST_CHECK_EQUAL(n["QUEUED"], 1);
  BOOST_CHECK_EQUAL(n["COMPLETED"], 0);
  f.lease("w", 1);
  f.complete("p1/a", "w");
  n = f.template must<counts>(atom::counts_v, std::string{"p1"});
  BOOST_CHECK_EQUAL(n["COMPLETED"], 1);
  BOOST_CHECK_EQUAL(n["READY"], 1);
  n = f.template must<counts>(atom::counts_v, std::string{"p2"});
  BOOST_CHECK_EQUAL(n["READY"], 1);
  BOOST_CHECK_EQUAL(n.count("COMPLETED") ? n["COMPLETED"] : 0, 0);
  n = f.template must<counts>(atom::counts_v, std::string{"none"});
  int64_t total = 0;
  for (auto& [k, v] : n)
    total += v;
  BOOST_CHECK_EQUAL(total, 0);
  // Batches whose plans alternate (the queues count runs of one plan): an
  // enqueue, a lease and a completion of several tasks each.
  std::vector<task_spec> mixed;
  for (auto [id, plan] : {std::pair{"m1", "p3"}, {"m2", "p4"}, {"m3", "p3"},
                          {"m4", "p4"}, {"m5", "p4"}, {"m6", "p3"}}) {
    auto x = t(id);
    x.plan_id = plan;
    mixed.push_back(x);
  }
  mixed.push_back(t("m7", 0, {"m1"}));
  mixed.back().plan_id = "p4";
  f.add(mixed);
  auto of = [&](const char* plan) {
    return f.template must<counts>(atom::counts_v, std::string{plan});
  };
  BOOST_CHECK_EQUAL(of("p3")["READY"], 3);
  BOOST_CHECK_EQUAL(of("p4")["READY"], 3);
  BOOST_CHECK_EQUAL(of("p4")["QUEUED"], 1);
  auto got = f.lease("w", 10);
  BOOST_CHECK_EQUAL(got.size(), 8u); // p1/b, p2/c and the six
  BOOST_CHECK_EQUAL(of("p3")["IN_PROGRESS"], 3);
  BOOST_CHECK_EQUAL(of("p4")["IN_PROGRESS"], 3);
  BOOST_CHECK_EQUAL(of("p1")["IN_PROGRESS"], 1);
  BOOST_CHECK_EQUAL(of("p3")["READY"], 0);
  auto errs = f.complete_all(ids(got), "w");
  for (auto& e : errs)
    BOOST_CHECK(!e);
  BOOST_CHECK_EQUAL(of("p3")["COMPLETED"], 3);
  BOOST_CHECK_EQUAL(of("p4")["COMPLETED"], 3);
  BOOST_CHECK_EQUAL(of("p4")["READY"], 1); // m7, its dependency done
  BOOST_CHECK_EQUAL(of("p4")["QUEUED"], 0);
  BOOST_CHECK_EQUAL(of("p2")["COMPLETED"], 1);
  auto all = f.template must<counts>(atom::counts_v);
  BOOST_CHECK_EQUAL(all["COMPLETED"], 9);
  BOOST_CHECK_EQUAL(all["READY"], 1);
  BOOST_CHECK_EQUAL(all["IN_PROGRESS"], 0);
  BOOST_CHECK_EQUAL(all["QUEUED"], 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_plan_is_finished_when_none_of_its_tasks_is_open,
                              B, backends) {
  queue_fixture<B> f;
  auto finished = [&](const char* plan) {
    return f.template must<bool>(atom::finished_v, std::string{plan});
  };
  BOOST_CHECK(!finished("p1")); // no such plan
  auto a = t("p1/a");
  auto b = t("p1/b", 0, {"p1/a"});
  auto c = t("p1/c", 0, {"p1/a"}); // blocked when a fails for good
  auto d = t("p2/d");
  a.plan_id = b.plan_id = c.plan_id = "p1";
  d.plan_id = "p2";
  f.add({a, b, c, d});
  BOOST_CHECK(!finished("p1"));
  BOOST_REQUIRE_EQUAL(f.lease("w", 10).size(), 2u); // a and d
  BOOST_CHECK(!finished("p1"));
  // Retried (back to QUEUED, then READY): still open.
  BOOST_CHECK_EQUAL(f.fail("p1/a", "w").state, "QUEUED");
  BOOST_CHECK(!finished("p1"));
  BOOST_CHECK_EQUAL(f.complete("p2/d", "w").state, "COMPLETED");
  BOOST_CHECK(finished("p2"));
  BOOST_CHECK(!finished("p1"));
  // Cancelled: b is closed, c still waits for a.
  BOOST_CHECK_EQUAL(
    f.template must<queued_task>(atom::cancel_v, std::string{"p1/b"}).state,
    "CANCELLED");
  BOOST_CHECK(!finished("p1"));
  // a fails for good (each retry due once the clock passes its backoff)
  // and c, its dependent, is BLOCKED: nothing of p1 is open.
  for (int i = 0; i < 2; ++i) {
    *f.now += 1000;
    auto got = f.lease("w", 10);
    BOOST_REQUIRE_EQUAL(got.size(), 1u);
    f.fail("p1/a", "w");
    if (i == 0)
      BOOST_CHECK(!finished("p1"));
  }
  BOOST_CHECK_EQUAL(f.status("p1/a").state, "FAILED");
  BOOST_CHECK_EQUAL(f.status("p1/c").state, "BLOCKED");
  BOOST_CHECK(finished("p1"));
  using counts = std::map<std::string, int64_t>;
  auto n = f.template must<counts>(atom::counts_v, std::string{"p1"});
  BOOST_CHECK_EQUAL(n["FAILED"], 1);
  BOOST_CHECK_EQUAL(n["CANCELLED"], 1);
  BOOST_CHECK_EQUAL(n["BLOCKED"], 1);
  BOOST_CHECK_EQUAL(open_tasks(n), 0);
  // A new task opens the plan again.
  auto e = t("p2/e");
  e.plan_id = "p2";
  f.add({e});
  BOOST_CHECK(!finished("p2"));
  BOOST_REQUIRE_EQUAL(f.lease("w", 10).size(), 1u);
  f.complete_all({"p2/e"}, "w");
  BOOST_CHECK(finished("p2"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(plans_changed_in_one_batch_are_counted_each,
                              B, backends) {
  // Batches that open and close tasks of several plans at once (Redis
  // counts them with one read and one write for all the plans a batch
  // changed): each plan is finished when its own tasks are.
  queue_fixture<B> f;
  auto finished = [&](const char* plan) {
    return f.template must<bool>(atom::finished_v, std::string{plan});
  };
  auto done = [&](const std::vector<std::string>& ids) {
    for (auto& err : f.complete_all(ids, "w"))
      BOOST_CHECK(!err);
  };
  f.add({planned("p1/a"), planned("p1/b"), planned("p2/c"), planned("p2/d"),
         planned("p3/e")});
  BOOST_REQUIRE_EQUAL(f.lease("w", 10).size(), 5u);
  done({"p1/a", "p2/c"});
  BOOST_CHECK(!finished("p1"));
  BOOST_CHECK(!finished("p2"));
  done({"p1/b", "p2/d"});
  BOOST_CHECK(finished("p1"));
  BOOST_CHECK(finished("p2"));
  BOOST_CHECK(!finished("p3"));
  // A new task of p1 and one of p2 in one batch open both again.
  f.add({planned("p1/x"), planned("p2/y")});
  BOOST_CHECK(!finished("p1"));
  BOOST_CHECK(!finished("p2"));
  BOOST_REQUIRE_EQUAL(f.lease("w", 10).size(), 2u);
  done({"p1/x", "p2/y", "p3/e"});
  BOOST_CHECK(finished("p1"));
  BOOST_CHECK(finished("p2"));
  BOOST_CHECK(finished("p3"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(lists_of_one_state_and_of_one_plan, B,
                              backends) {
  queue_fixture<B> f;
  f.add({planned("p1/a"), planned("p1/b"), planned("p2/c"), planned("p1/d")});
  auto e = planned("p1/e"); // QUEUED until p1/a completes
  e.dependencies = {"p1/a"};
  f.add({e});
  BOOST_CHECK_EQUAL(joined(ids(f.lease("w", 1))), "p1/a");
  auto list = [&](std::string state, std::string plan = "-") {
    if (plan == "-")
      return joined(ids(f.template must<std::vector<queued_task>>(
        atom::list_v, std::move(state))));
    return joined(ids(f.template must<std::vector<queued_task>>(
      atom::list_v, std::move(state), std::move(plan))));
  };
  BOOST_CHECK_EQUAL(list("READY"), "p1/b,p2/c,p1/d");
  BOOST_CHECK_EQUAL(list("IN_PROGRESS"), "p1/a");
  BOOST_CHECK_EQUAL(list("QUEUED"), "p1/e");
  BOOST_CHECK_EQUAL(list("", "p1"), "p1/a,p1/b,p1/d,p1/e");
  BOOST_CHECK_EQUAL(list("READY", "p1"), "p1/b,p1/d");
  BOOST_CHECK_EQUAL(list("IN_PROGRESS", "p1"), "p1/a");
  BOOST_CHECK_EQUAL(list("", "p2"), "p2/c");
  BOOST_CHECK_EQUAL(list("", "none"), "");
  f.complete("p1/a", "w");
  BOOST_CHECK_EQUAL(list("COMPLETED", "p1"), "p1/a");
  BOOST_CHECK_EQUAL(list("READY", "p1"), "p1/b,p1/d,p1/e");
  BOOST_CHECK_EQUAL(list("IN_PROGRESS"), "");
}

BOOST_AUTO_TEST_CASE(memory_queue_forgets_finished_tasks_past_its_limits) {
  threaded_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto now = std::make_shared<std::atomic<int64_t>>(1'000'000);
  task_queue_settings s;
  s.sweep_interval_ms = 0;
  s.retain_ms = 10'000;
  s.retain_max = 2;
  s.clock = [now] { return now->load(); };
  auto q = spawn_memory_queue(sys, s);
  auto complete = [&](std::string id, std::string result) {
    self->request(q, 5s, atom::complete_v, std::move(id), std::string{"w"},
                  std::move(result))
      .receive([](queued_task&) {}, [](caf::error&) {});
  };
  std::vector<task_spec> xs;
  for (auto id : {"p/a", "p/b", "p/c", "p/d"})
    xs.push_back(planned(id));
  self->request(q, 5s, atom::add_v, xs)
    .receive([](int32_t) {}, [](caf::error&) {});
  std::vector<queued_task> got;
  self->request(q, 5s, atom::lease_v, std::string{"w"}, 1000, 4)
    .receive([&](std::vector<queued_task>& x) { got = x; }, [](caf::error&) {});
  BOOST_REQUIRE_EQUAL(got.size(), 4u);
  for (auto id : {"p/a", "p/b", "p/c"})
    complete(id, std::string(1000, 'r'));
  // More than retain_max finished: the oldest left memory...
  size_t listed = 0;
  self->request(q, 5s, atom::list_v, std::string{"COMPLETED"})
    .receive([&](std::vector<queued_task>& x) { listed = x.size(); },
             [](caf::error&) {});
  BOOST_CHECK_EQUAL(listed, 2u);
  std::string of_plan;
  self->request(q, 5s, atom::list_v, std::string{}, std::string{"p"})
    .receive(
      [&](std::vector<queued_task>& x) {
        for (auto& t : x)
          of_plan += t.task.task_id + " ";
      },
      [](caf::error&) {});
  BOOST_CHECK_EQUAL(of_plan, "p/b p/c p/d ");
  // ... but its plan still counts it, and it cannot be enqueued again.
  std::map<std::string, int64_t> n;
  self->request(q, 5s, atom::counts_v, std::string{"p"})
    .receive([&](std::map<std::string, int64_t>& x) { n = x; },
             [](caf::error&) {});
  BOOST_CHECK_EQUAL(n["COMPLETED"], 3);
  BOOST_CHECK_EQUAL(n["IN_PROGRESS"], 1);
  int32_t added = -1;
  self->request(q, 5s, atom::add_v, std::vector<task_spec>{xs[0]})
    .receive([&](int32_t k) { added = k; }, [](caf::error&) {});
  BOOST_CHECK_EQUAL(added, 0);
  // After retain_ms every finished task is gone from memory.
  *now += 20'000;
  complete("p/d", "");
  self->send(q, atom::tick_v);
  self->request(q, 5s, atom::list_v, std::string{})
    .receive([&](std::vector<queued_task>& x) { listed = x.size(); },
             [](caf::error&) {});
  BOOST_CHECK_LE(listed, 1u);
  size_t listed_of_plan = 99;
  self->request(q, 5s, atom::list_v, std::string{}, std::string{"p"})
    .receive([&](std::vector<queued_task>& x) { listed_of_plan = x.size(); },
             [](caf::error&) {});
  BOOST_CHECK_EQUAL(listed_of_plan, listed);
  self->send_exit(q, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(memory_queue_forgets_a_dependent_before_its_dependency) {
  // A dependency keeps its dependents by address: one that leaves memory
  // (finished, past retain_max) before its dependency completes must leave
  // its list too. Its memory is then reused by the next task, which a
  // stale address would wrongly count a dependency of.
  queue_fixture<memory_backend> f{[](auto& s) { s.retain_max = 1; }};
  BOOST_REQUIRE_EQUAL(f.add({t("a"), t("b", 0, {"a"}), t("c", 0, {"a"})}), 3);
  BOOST_REQUIRE_EQUAL(joined(ids(f.lease("w", 10, 60000))), "a");
  f.must<queued_task>(atom::cancel_v, std::string{"b"});
  f.must<queued_task>(atom::cancel_v, std::string{"c"});
  f.self->send(f.q, atom::tick_v); // purge: b leaves memory, c stays
  BOOST_CHECK_EQUAL(f.status("c").state, "CANCELLED");
  BOOST_CHECK(code_of(f.must_fail<queued_task>(atom::status_v,
                                               std::string{"b"}))
              == ec::not_found);
  // n waits for a task that never comes.
  BOOST_REQUIRE_EQUAL(f.add({t("n", 0, {"never"})}), 1);
  BOOST_CHECK_EQUAL(f.status("n").state, "QUEUED");
  f.complete("a", "w");
  BOOST_CHECK_EQUAL(f.status("a").state, "COMPLETED");
  BOOST_CHECK_EQUAL(f.status("n").state, "QUEUED");
}

BOOST_AUTO_TEST_CASE(memory_queue_keeps_the_latest_tombstones) {
  queue_fixture<memory_backend> f{[](auto& s) {
    s.retain_max = 1;
    s.tombstones_max = 2;
  }};
  BOOST_REQUIRE_EQUAL(f.add({t("p/a"), t("p/b"), t("p/c"), t("p/d")}), 4);
  for (auto& x : f.lease("w", 10))
    f.must<queued_task>(atom::complete_v, x.task.task_id, std::string{"w"},
                        std::string{"ok"});
  // a, b and c left memory; b and c are the two tombstones kept.
  BOOST_CHECK_EQUAL(f.add({t("p/b")}), 0);
  BOOST_CHECK_EQUAL(f.add({t("p/c")}), 0);
  BOOST_CHECK_EQUAL(f.add({t("p/a")}), 1);
  // A dependency on a tombstone of a COMPLETED task is met.
  auto e = t("p/e");
  e.dependencies = {"p/c"};
  BOOST_CHECK_EQUAL(f.add({e}), 1);
  auto leased = ids(f.lease("w", 10));
  std::sort(leased.begin(), leased.end());
  BOOST_CHECK((leased == std::vector<std::string>{"p/a", "p/e"}));
}

BOOST_AUTO_TEST_SUITE_END()
