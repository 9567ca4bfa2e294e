// The TASK QUEUE contract for plans and the outbox, each case on both
// backends (memory, Redis): events recorded with the transitions that cause
// them, plan counts, finished plans, lists by state and by plan. The tasks'
// own transitions are in task_queue.cpp.

#include <algorithm>
#include <map>

#include "queue_fixture.hpp"

using namespace orch;
using namespace orch::test;
using namespace orch::test::queue;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(task_queue_plans)

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

BOOST_AUTO_TEST_SUITE_END()
