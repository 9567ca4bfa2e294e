// The PLANNER: explicit task lists, ids scoped by plan, one task per role, the
// order it derives, what it refuses, and the actor (documents:
// planner_documents.cpp).

#include "tests/actors/planner_fixture.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

using namespace orch;
using namespace orch::planner_test;

namespace {

task_spec task(std::string id, std::string role, std::string text,
               std::vector<std::string> deps = {}, int32_t priority = 0) {
  task_spec t;
  t.task_id = std::move(id);
  t.role = std::move(role);
  t.description = std::move(text);
  t.dependencies = std::move(deps);
  t.priority = priority;
  return t;
}

plan_input explicit_plan(std::vector<task_spec> tasks) {
  plan_input p;
  p.story_id = "STORY-1";
  p.plan_id = "PLAN-1";
  p.tasks = std::move(tasks);
  return p;
}

} // namespace

BOOST_AUTO_TEST_SUITE(planner)

// -- ids ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(task_ids_are_scoped_by_plan) {
  BOOST_CHECK_EQUAL(scoped_task_id("PLAN-1", "TASK-1"), "PLAN-1/TASK-1");
  BOOST_CHECK_EQUAL(scoped_task_id("PLAN-1", "PLAN-1/TASK-1"), "PLAN-1/TASK-1");
  BOOST_CHECK_EQUAL(scoped_task_id("PLAN-1", "PLAN-2/TASK-1"),
                    "PLAN-1/PLAN-2/TASK-1");
}

// -- sources ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(explicit_task_list) {
  auto t1 = task("TASK-1", " dev", "Write the parser", {}, 1);
  t1.constraints.rubric = "Handles every format";
  t1.constraints.requirements = {"unit tests"};
  t1.constraints.metadata = {{"lang", "c++"}};
  t1.constraints.k = 2;
  t1.case_id = "CASE-7";
  t1.story_id = "OTHER";
  t1.plan_id = "OTHER";
  auto plan = explicit_plan(
    {t1, task("TASK-2", "qa", "Test the parser", {"TASK-1"}, 5),
     task("PLAN-1/TASK-3", "DEVOPS", "Ship it", {"PLAN-1/TASK-2", "TASK-1"})});
  plan.text = "ignored: the explicit list wins";
  auto xs = unbox(derive_tasks(plan, councils));
  BOOST_REQUIRE_EQUAL(xs.size(), 3u);
  BOOST_CHECK(ids(xs)
              == (std::vector<std::string>{"PLAN-1/TASK-1", "PLAN-1/TASK-2",
                                           "PLAN-1/TASK-3"}));
  BOOST_CHECK_EQUAL(xs[0].role, "DEV");
  BOOST_CHECK_EQUAL(xs[1].role, "QA");
  BOOST_CHECK_EQUAL(xs[0].story_id, "STORY-1");
  BOOST_CHECK_EQUAL(xs[0].plan_id, "PLAN-1");
  BOOST_CHECK_EQUAL(xs[0].case_id, "CASE-7");
  BOOST_CHECK_EQUAL(xs[0].priority, 1);
  BOOST_CHECK_EQUAL(xs[1].priority, 5);
  BOOST_CHECK_EQUAL(xs[0].constraints.rubric, "Handles every format");
  BOOST_CHECK_EQUAL(xs[0].constraints.k, 2);
  BOOST_CHECK_EQUAL(xs[0].constraints.metadata.at("lang"), "c++");
  BOOST_CHECK(xs[1].dependencies == std::vector<std::string>{"PLAN-1/TASK-1"});
  BOOST_CHECK((xs[2].dependencies
               == std::vector<std::string>{"PLAN-1/TASK-2", "PLAN-1/TASK-1"}));
}

BOOST_AUTO_TEST_CASE(one_task_per_role_without_tasks_or_document) {
  plan_input plan;
  plan.story_id = "STORY-1";
  plan.plan_id = "PLAN-1";
  plan.roles = {"qa", "DEV", "dev "};
  auto xs = unbox(derive_tasks(plan, councils));
  BOOST_REQUIRE_EQUAL(xs.size(), 2u);
  BOOST_CHECK_EQUAL(xs[0].task_id, "PLAN-1/TASK-QA");
  BOOST_CHECK_EQUAL(xs[0].role, "QA");
  BOOST_CHECK_EQUAL(xs[1].task_id, "PLAN-1/TASK-DEV");
  BOOST_CHECK_EQUAL(xs[1].role, "DEV");
  for (const auto& x : xs) {
    BOOST_CHECK_EQUAL(x.description, "Implement plan PLAN-1 for story STORY-1");
    BOOST_CHECK(x.dependencies.empty());
    BOOST_CHECK_EQUAL(x.priority, 0);
    BOOST_CHECK_EQUAL(x.story_id, "STORY-1");
    BOOST_CHECK_EQUAL(x.plan_id, "PLAN-1");
  }
  // No roles either: every role with a council, sorted.
  plan.roles.clear();
  auto ys = unbox(derive_tasks(plan, councils));
  BOOST_CHECK(
    ids(ys)
    == (std::vector<std::string>{"PLAN-1/TASK-ARCHITECT", "PLAN-1/TASK-DEV",
                                 "PLAN-1/TASK-DEVOPS", "PLAN-1/TASK-QA"}));
}

BOOST_AUTO_TEST_CASE(order_is_topological_by_priority_then_source) {
  // A and D tie on priority: source order. Then C and B are ready with D:
  // C has the highest priority, then B; E (9) overtakes D once ready.
  auto plan = explicit_plan(
    {task("A", "DEV", "a", {}, 0), task("B", "DEV", "b", {"A"}, 1),
     task("C", "DEV", "c", {"A"}, 5), task("D", "DEV", "d", {}, 0),
     task("E", "DEV", "e", {"B", "C"}, 9)});
  auto xs = unbox(derive_tasks(plan, councils));
  BOOST_CHECK(ids(xs)
              == (std::vector<std::string>{"PLAN-1/A", "PLAN-1/C", "PLAN-1/B",
                                           "PLAN-1/E", "PLAN-1/D"}));
}

BOOST_AUTO_TEST_CASE(a_plan_delivered_twice_yields_the_same_ids) {
  auto plan = explicit_plan(
    {task("TASK-1", "DEV", "x"), task("TASK-2", "QA", "y", {"TASK-1"})});
  auto first = unbox(derive_tasks(plan, councils));
  auto second = unbox(derive_tasks(plan, councils));
  BOOST_CHECK(describe(first) == describe(second));
  // Delivering the derived tasks again (ids already scoped) changes nothing.
  auto again = unbox(derive_tasks(explicit_plan(first), councils));
  BOOST_CHECK(describe(again) == describe(first));
  // The same task ids in another plan do not collide.
  auto other = plan;
  other.plan_id = "PLAN-2";
  auto xs = unbox(derive_tasks(other, councils));
  BOOST_CHECK_EQUAL(xs[0].task_id, "PLAN-2/TASK-1");
  BOOST_CHECK_EQUAL(xs[1].dependencies.at(0), "PLAN-2/TASK-1");
}

// -- errors -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(blank_plan_id) {
  auto plan = explicit_plan({task("A", "DEV", "a")});
  plan.plan_id = "  ";
  BOOST_CHECK_EQUAL(failure(derive_tasks(plan, councils)),
                    "orch.invalid_argument: plan_id must not be blank");
}

BOOST_AUTO_TEST_CASE(empty_description) {
  auto plan = explicit_plan(
    {task("LOGIN-1", "DEV", "a"), task("LOGIN-3", "DEV", " \n")});
  BOOST_CHECK_EQUAL(failure(derive_tasks(plan, councils)),
                    "orch.invalid_argument: task LOGIN-3: description is "
                    "empty");
}

BOOST_AUTO_TEST_CASE(duplicate_id) {
  auto plan
    = explicit_plan({task("TASK-001", "DEV", "a"), task("TASK-002", "DEV", "b"),
                     task("PLAN-1/TASK-002", "QA", "c")});
  BOOST_CHECK_EQUAL(failure(derive_tasks(plan, councils)),
                    "orch.invalid_argument: duplicate task id TASK-002");
}

BOOST_AUTO_TEST_CASE(unknown_dependency) {
  auto plan
    = explicit_plan({task("TASK-001", "DEV", "a"),
                     task("TASK-004", "DEV", "b", {"TASK-001", "TASK-099"})});
  BOOST_CHECK_EQUAL(failure(derive_tasks(plan, councils)),
                    "orch.invalid_argument: task TASK-004 depends on "
                    "unknown task TASK-099");
}

BOOST_AUTO_TEST_CASE(cycle_members_in_order_from_the_smallest_id) {
  // TASK-002 -> TASK-001 -> TASK-003 -> TASK-002, found from TASK-000.
  auto plan = explicit_plan({task("TASK-000", "DEV", "x", {"TASK-002"}),
                             task("TASK-002", "DEV", "a", {"TASK-001"}),
                             task("TASK-003", "DEV", "b", {"TASK-002"}),
                             task("TASK-001", "DEV", "c", {"TASK-003"})});
  BOOST_CHECK_EQUAL(failure(derive_tasks(plan, councils)),
                    "orch.invalid_argument: dependency cycle: TASK-001 -> "
                    "TASK-003 -> TASK-002 -> TASK-001");
}

BOOST_AUTO_TEST_CASE(self_dependency_is_a_cycle) {
  auto plan = explicit_plan(
    {task("TASK-001", "DEV", "a"), task("TASK-007", "DEV", "b", {"TASK-007"})});
  BOOST_CHECK_EQUAL(failure(derive_tasks(plan, councils)),
                    "orch.invalid_argument: dependency cycle: TASK-007 -> "
                    "TASK-007");
}

BOOST_AUTO_TEST_CASE(role_without_council) {
  auto plan = explicit_plan(
    {task("TASK-001", "DEV", "a"), task("TASK-005", "security", "b")});
  std::set<std::string> three{"ARCHITECT", "DEV", "QA"};
  BOOST_CHECK_EQUAL(failure(derive_tasks(plan, three)),
                    "orch.invalid_argument: task TASK-005: no council for "
                    "role SECURITY (councils: ARCHITECT, DEV, QA)");
  // The same check covers one task per role.
  plan_input per_role;
  per_role.plan_id = "PLAN-1";
  per_role.roles = {"DATA"};
  BOOST_CHECK_EQUAL(failure(derive_tasks(per_role, three)),
                    "orch.invalid_argument: task TASK-DATA: no council for "
                    "role DATA (councils: ARCHITECT, DEV, QA)");
}

BOOST_AUTO_TEST_CASE(first_problem_wins_in_a_fixed_order) {
  // Both an unknown dependency and an unknown role: dependencies first.
  auto plan = explicit_plan({task("A", "SECURITY", "a", {"B"})});
  BOOST_CHECK_EQUAL(failure(derive_tasks(plan, councils)),
                    "orch.invalid_argument: task A depends on unknown task B");
}

// -- actor --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(actor_answers_run) {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::orch>();
  cfg.set("scheduler.max-threads", 2);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto p = spawn_planner(sys, councils);
  auto plan = unbox(load_plan_file(example("login-feature.yaml")));
  std::vector<task_spec> got;
  self->request(p, caf::infinite, atom::run_v, plan)
    .receive([&](std::vector<task_spec>& xs) { got = std::move(xs); },
             [&](caf::error& err) { BOOST_FAIL(render(err)); });
  BOOST_CHECK(ids(got) == login_order);
  BOOST_CHECK(describe(got) == describe(unbox(derive_tasks(plan, councils))));
  // An invalid plan comes back as the error.
  auto bad = explicit_plan({task("A", "DEV", "a", {"A"})});
  std::string err_text;
  self->request(p, caf::infinite, atom::run_v, bad)
    .receive([&](std::vector<task_spec>&) { err_text = "no error"; },
             [&](caf::error& err) { err_text = render(err); });
  BOOST_CHECK_EQUAL(err_text,
                    "orch.invalid_argument: dependency cycle: A -> A");
  self->send_exit(p, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
