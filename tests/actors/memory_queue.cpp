// What only the memory TASK QUEUE does: it forgets finished tasks past its
// limits (task_queue_settings::retain_ms, retain_max) and keeps tombstones
// of the latest, so that an enqueue again stays idempotent.

#include <algorithm>
#include <atomic>
#include <memory>

#include "queue_fixture.hpp"

using namespace orch;
using namespace orch::test;
using namespace orch::test::queue;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(memory_queue)

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
