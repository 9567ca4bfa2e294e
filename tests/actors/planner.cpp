#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <unistd.h>

#include "actors/planner.hpp"

using namespace orch;

namespace {

const std::set<std::string> councils{"ARCHITECT", "DEV", "QA", "DEVOPS"};

/// Every field of a task on one line, for comparisons with a readable diff.
std::string describe(const task_spec& t) {
  std::string out = t.task_id + " story=" + t.story_id + " plan=" + t.plan_id
                    + " case=" + t.case_id + " role=" + t.role
                    + " prio=" + std::to_string(t.priority) + " deps=[";
  for (const auto& d : t.dependencies)
    out += d + ",";
  const auto& c = t.constraints;
  out += "] desc=" + t.description + " rubric=" + c.rubric + " reqs=[";
  for (const auto& r : c.requirements)
    out += r + ";";
  out += "] meta={";
  for (const auto& [k, v] : c.metadata)
    out += k + ":" + v + ",";
  out += "} iter=" + std::to_string(c.max_iterations)
         + " timeout=" + std::to_string(c.timeout_seconds)
         + " k=" + std::to_string(c.k) + " rounds=" + std::to_string(c.rounds);
  return out;
}

std::vector<std::string> describe(const std::vector<task_spec>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs)
    out.push_back(describe(x));
  return out;
}

std::vector<std::string> ids(const std::vector<task_spec>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs)
    out.push_back(x.task_id);
  return out;
}

template<class T>
T unbox(caf::expected<T> x) {
  if (!x)
    BOOST_FAIL("unexpected error: " << render(x.error()));
  return std::move(*x);
}

/// The rendered error of a derivation that must fail.
template<class T>
std::string failure(const caf::expected<T>& x) {
  if (x)
    return "no error";
  return render(x.error());
}

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

plan_input document(std::string text, std::string format = "auto") {
  plan_input p;
  p.story_id = "STORY-1";
  p.plan_id = "PLAN-1";
  p.text = std::move(text);
  p.format = std::move(format);
  return p;
}

std::string example(const std::string& name) {
  return std::string{ORCH_SOURCE_DIR} + "/examples/" + name;
}

/// The login example, as derived: topological order by priority.
const std::vector<std::string> login_order{
  "PLAN-LOGIN-1/LOGIN-1", "PLAN-LOGIN-1/LOGIN-2", "PLAN-LOGIN-1/LOGIN-3",
  "PLAN-LOGIN-1/LOGIN-4", "PLAN-LOGIN-1/LOGIN-6", "PLAN-LOGIN-1/LOGIN-8",
  "PLAN-LOGIN-1/LOGIN-5", "PLAN-LOGIN-1/LOGIN-7", "PLAN-LOGIN-1/LOGIN-9"};

/// A file in the temporary directory, removed at the end of the scope.
struct temp_file {
  std::string path;

  temp_file(const std::string& name, const std::string& content)
      : path((std::filesystem::temp_directory_path()
              / ("planner-test-" + std::to_string(::getpid()) + "-" + name))
               .string()) {
    std::ofstream out{path};
    out << content;
  }

  ~temp_file() {
    std::remove(path.c_str());
  }
};

const char* yaml_plan = R"(
story_id: STORY-9
plan_id: PLAN-9
tasks:
  - task_id: T-1
    role: architect
    description: Design the schema
    priority: 2
    constraints:
      rubric: Normalized schema
      requirements: [indexes, "foreign keys"]
      metadata: {owner: team-a, ticket: 1234}
      max_iterations: 4
      timeout_seconds: 30
      k: 2
      rounds: 3
  - task_id: T-2
    role: dev
    description: Write the migration
    dependencies: [T-1]
    priority: 1
  - task_id: T-3
    role: QA
    description: Test the migration
    dependencies:
      - T-2
      - T-1
)";

const char* json_plan = R"({
  "story_id": "STORY-9",
  "plan_id": "PLAN-9",
  "tasks": [
    {"task_id": "T-1", "role": "architect", "description": "Design the schema",
     "priority": 2,
     "constraints": {"rubric": "Normalized schema",
                     "requirements": ["indexes", "foreign keys"],
                     "metadata": {"owner": "team-a", "ticket": "1234"},
                     "max_iterations": 4, "timeout_seconds": 30, "k": 2,
                     "rounds": 3}},
    {"task_id": "T-2", "role": "dev", "description": "Write the migration",
     "dependencies": ["T-1"], "priority": 1},
    {"task_id": "T-3", "role": "QA", "description": "Test the migration",
     "dependencies": ["T-2", "T-1"]}
  ]
})";

const char* markdown_plan = R"(# Schema change

Some prose that the planner ignores.

## Architect Tasks

- [x] T-1: Design the schema
  - Priority: 2
  - Rubric: Normalized schema
  - Requirements: indexes; foreign keys
  - a note under the task, ignored

## DEV Tasks

- [ ] T-2: Write the migration
  - Depends on: T-1
  - Priority: 1

## QA Tasks

- [ ] T-3: Test the migration
  - Depends on: T-2, T-1
)";

/// What the three documents above derive (the markdown has no metadata and
/// no limits).
void check_schema_tasks(const std::vector<task_spec>& xs, bool full) {
  BOOST_REQUIRE_EQUAL(xs.size(), 3u);
  BOOST_CHECK_EQUAL(xs[0].task_id, "PLAN-9/T-1");
  BOOST_CHECK_EQUAL(xs[1].task_id, "PLAN-9/T-2");
  BOOST_CHECK_EQUAL(xs[2].task_id, "PLAN-9/T-3");
  BOOST_CHECK_EQUAL(xs[0].role, "ARCHITECT");
  BOOST_CHECK_EQUAL(xs[1].role, "DEV");
  BOOST_CHECK_EQUAL(xs[2].role, "QA");
  BOOST_CHECK_EQUAL(xs[0].description, "Design the schema");
  BOOST_CHECK_EQUAL(xs[2].description, "Test the migration");
  BOOST_CHECK_EQUAL(xs[0].priority, 2);
  BOOST_CHECK_EQUAL(xs[1].priority, 1);
  BOOST_CHECK_EQUAL(xs[2].priority, 0);
  BOOST_CHECK(xs[0].dependencies.empty());
  BOOST_CHECK(xs[1].dependencies == std::vector<std::string>{"PLAN-9/T-1"});
  BOOST_CHECK((xs[2].dependencies
               == std::vector<std::string>{"PLAN-9/T-2", "PLAN-9/T-1"}));
  for (const auto& x : xs) {
    BOOST_CHECK_EQUAL(x.plan_id, "PLAN-9");
    BOOST_CHECK_EQUAL(x.story_id, "STORY-9");
  }
  const auto& c = xs[0].constraints;
  BOOST_CHECK_EQUAL(c.rubric, "Normalized schema");
  BOOST_CHECK(
    (c.requirements == std::vector<std::string>{"indexes", "foreign keys"}));
  if (full) {
    BOOST_CHECK_EQUAL(c.metadata.size(), 2u);
    BOOST_CHECK_EQUAL(c.metadata.at("owner"), "team-a");
    BOOST_CHECK_EQUAL(c.metadata.at("ticket"), "1234");
    BOOST_CHECK_EQUAL(c.max_iterations, 4);
    BOOST_CHECK_EQUAL(c.timeout_seconds, 30);
    BOOST_CHECK_EQUAL(c.k, 2);
    BOOST_CHECK_EQUAL(c.rounds, 3);
  }
  // Unset constraints keep their defaults.
  BOOST_CHECK_EQUAL(xs[1].constraints.k, 3);
  BOOST_CHECK_EQUAL(xs[1].constraints.rounds, -1);
  BOOST_CHECK_EQUAL(xs[1].constraints.max_iterations, 10);
}

plan_input without_ids(std::string text) {
  plan_input p;
  p.text = std::move(text);
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

BOOST_AUTO_TEST_CASE(yaml_document) {
  auto xs = unbox(derive_tasks(without_ids(yaml_plan), councils));
  check_schema_tasks(xs, true);
  auto ys = unbox(derive_tasks(without_ids(yaml_plan), councils));
  BOOST_CHECK(describe(xs) == describe(ys));
  // Explicit format, and the plan's ids win over the document's.
  auto plan = document(yaml_plan, "yaml");
  auto zs = unbox(derive_tasks(plan, councils));
  BOOST_REQUIRE_EQUAL(zs.size(), 3u);
  BOOST_CHECK_EQUAL(zs[0].task_id, "PLAN-1/T-1");
  BOOST_CHECK_EQUAL(zs[0].story_id, "STORY-1");
}

BOOST_AUTO_TEST_CASE(json_document) {
  auto xs = unbox(derive_tasks(without_ids(json_plan), councils));
  check_schema_tasks(xs, true);
  auto ys = unbox(derive_tasks(without_ids(yaml_plan), councils));
  BOOST_CHECK(describe(xs) == describe(ys));
  auto plan = without_ids(json_plan);
  plan.format = "json";
  BOOST_CHECK(describe(unbox(derive_tasks(plan, councils))) == describe(xs));
}

BOOST_AUTO_TEST_CASE(markdown_document) {
  auto plan = without_ids(markdown_plan);
  plan.story_id = "STORY-9";
  plan.plan_id = "PLAN-9";
  auto xs = unbox(derive_tasks(plan, councils));
  check_schema_tasks(xs, false);
  plan.format = "markdown";
  BOOST_CHECK(describe(unbox(derive_tasks(plan, councils))) == describe(xs));
}

BOOST_AUTO_TEST_CASE(yaml_top_level_list_is_the_task_list) {
  auto plan = document("- task_id: A\n"
                       "  role: dev\n"
                       "  description: First\n"
                       "- task_id: B\n"
                       "  role: dev\n"
                       "  description: Second\n"
                       "  dependencies: [A]\n");
  auto xs = unbox(derive_tasks(plan, councils));
  BOOST_CHECK(ids(xs) == (std::vector<std::string>{"PLAN-1/A", "PLAN-1/B"}));
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

// -- example files ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(example_files_derive_the_same_tasks) {
  auto yaml = unbox(load_plan_file(example("login-feature.yaml")));
  auto json = unbox(load_plan_file(example("login-feature.json")));
  auto md = unbox(load_plan_file(example("login-feature.md")));
  BOOST_CHECK_EQUAL(yaml.format, "yaml");
  BOOST_CHECK_EQUAL(json.format, "json");
  BOOST_CHECK_EQUAL(md.format, "markdown");
  for (const auto* p : {&yaml, &json, &md}) {
    BOOST_CHECK_EQUAL(p->story_id, "STORY-42");
    BOOST_CHECK_EQUAL(p->plan_id, "PLAN-LOGIN-1");
    BOOST_CHECK_EQUAL(p->approved_by, "po@example.com");
    BOOST_CHECK(
      (p->roles
       == std::vector<std::string>{"ARCHITECT", "DEV", "QA", "DEVOPS"}));
  }
  auto from_yaml = unbox(derive_tasks(yaml, councils));
  auto from_json = unbox(derive_tasks(json, councils));
  auto from_md = unbox(derive_tasks(md, councils));
  BOOST_CHECK(ids(from_yaml) == login_order);
  BOOST_CHECK(describe(from_yaml) == describe(from_json));
  BOOST_CHECK(describe(from_yaml) == describe(from_md));
  // Detection by content agrees with the extensions.
  for (auto* p : {&yaml, &json, &md}) {
    auto plan = *p;
    plan.format = "auto";
    BOOST_CHECK(describe(unbox(derive_tasks(plan, councils)))
                == describe(from_yaml));
  }
  // A closer look at one task of each kind.
  const auto& design = from_md[0];
  BOOST_CHECK_EQUAL(design.role, "ARCHITECT");
  BOOST_CHECK_EQUAL(design.priority, 10);
  BOOST_CHECK_EQUAL(design.constraints.rubric,
                    "The ADR states the decision, the alternatives and the "
                    "consequences");
  BOOST_CHECK(
    (design.constraints.requirements
     == std::vector<std::string>{"argon2id password hashing",
                                 "account lockout after 5 failed attempts"}));
  const auto& rollout = from_md.back();
  BOOST_CHECK_EQUAL(rollout.role, "DEVOPS");
  BOOST_CHECK(
    (rollout.dependencies
     == std::vector<std::string>{"PLAN-LOGIN-1/LOGIN-6", "PLAN-LOGIN-1/LOGIN-7",
                                 "PLAN-LOGIN-1/LOGIN-8"}));
  std::set<std::string> roles;
  for (const auto& x : from_md)
    roles.insert(x.role);
  BOOST_CHECK(roles == councils);
}

BOOST_AUTO_TEST_CASE(plan_files_without_extension_or_ids) {
  // Detected by content; plan_id from the file stem.
  temp_file md{"sprint-7", "## DEV Tasks\n- [ ] A: do it\n"};
  auto plan = unbox(load_plan_file(md.path));
  BOOST_CHECK_EQUAL(plan.format, "markdown");
  BOOST_CHECK_EQUAL(plan.plan_id,
                    std::filesystem::path{md.path}.stem().string());
  BOOST_CHECK(plan.story_id.empty());
  auto xs = unbox(derive_tasks(plan, councils));
  BOOST_REQUIRE_EQUAL(xs.size(), 1u);
  BOOST_CHECK_EQUAL(xs[0].task_id, plan.plan_id + "/A");
  temp_file json{"plan.txt", "{\"plan_id\": \"P\", \"tasks\": []}"};
  BOOST_CHECK_EQUAL(unbox(load_plan_file(json.path)).format, "json");
  temp_file yaml{"plan.cfg", "plan_id: P\ntasks: []\n"};
  BOOST_CHECK_EQUAL(unbox(load_plan_file(yaml.path)).format, "yaml");
  auto missing = load_plan_file("/nonexistent/plan.yaml");
  BOOST_CHECK_EQUAL(failure(missing), "orch.not_found: cannot read plan file "
                                      "/nonexistent/plan.yaml");
  temp_file bad{"bad.json", "{\"tasks\": [1]}"};
  BOOST_CHECK_EQUAL(failure(load_plan_file(bad.path)),
                    "orch.invalid_argument: " + bad.path
                      + ": tasks[0]: expected a map");
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

BOOST_AUTO_TEST_CASE(malformed_yaml) {
  auto plan = document("tasks:\n  - task_id: [A\n    role: DEV\n", "yaml");
  auto res = derive_tasks(plan, councils);
  BOOST_REQUIRE(!res);
  BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
  BOOST_CHECK_EQUAL(render(res.error()),
                    "orch.decode_failed: malformed YAML plan: line 3, column "
                    "9: end of sequence flow not found");
}

BOOST_AUTO_TEST_CASE(yaml_aliases_cannot_expand_without_end) {
  // Found by the plan_documents fuzz target: an alias to its own ancestor
  // recursed until the stack overflowed; nested aliases expand
  // exponentially. Both stop at the document bounds, with a clear error.
  auto loop = derive_tasks(document("a: &x [*x]\n", "yaml"), councils);
  BOOST_REQUIRE(!loop);
  BOOST_CHECK(code_of(loop.error()) == ec::decode_failed);
  BOOST_CHECK_EQUAL(render(loop.error()),
                    "orch.decode_failed: YAML plan too large: nested deeper "
                    "than 64 levels");
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k)
      laughs += (k ? ", *a" : "*a") + std::to_string(i - 1);
    laughs += "]\n";
  }
  auto wide = derive_tasks(document(laughs, "yaml"), councils);
  BOOST_REQUIRE(!wide);
  BOOST_CHECK_EQUAL(render(wide.error()),
                    "orch.decode_failed: YAML plan too large: more than "
                    "100000 values (aliases expanded)");
  auto deep = derive_tasks(document(std::string(100, '[')
                                      + std::string(100, ']'), "json"),
                           councils);
  BOOST_REQUIRE(!deep);
  BOOST_CHECK_EQUAL(render(deep.error()),
                    "orch.decode_failed: JSON plan too large: nested deeper "
                    "than 64 levels");
}

BOOST_AUTO_TEST_CASE(size_and_count_limits) {
  plan_input many;
  many.plan_id = "p";
  for (size_t i = 0; i <= max_plan_tasks; ++i) {
    task_spec t;
    t.task_id = "T" + std::to_string(i);
    t.role = "DEV";
    t.description = "x";
    many.tasks.push_back(t);
  }
  auto res = derive_tasks(many, councils);
  BOOST_REQUIRE(!res);
  BOOST_CHECK_EQUAL(render(res.error()),
                    "orch.invalid_argument: plan has 5001 tasks, more than "
                    "5000");
  many.tasks.pop_back();
  BOOST_CHECK(derive_tasks(many, councils));
  auto big = document(std::string(max_plan_document_bytes + 1, ' '), "yaml");
  res = derive_tasks(big, councils);
  BOOST_REQUIRE(!res);
  BOOST_CHECK_EQUAL(render(res.error()),
                    "orch.invalid_argument: plan document of 4194305 bytes "
                    "is larger than 4194304");
}

BOOST_AUTO_TEST_CASE(malformed_json) {
  auto res = derive_tasks(document("{\"tasks\": [}"), councils);
  BOOST_REQUIRE(!res);
  BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
  auto text = render(res.error());
  BOOST_CHECK_MESSAGE(text.rfind("orch.decode_failed: malformed JSON plan: "
                                 "parse error at line 1, column 12: ",
                                 0)
                        == 0,
                      text);
}

BOOST_AUTO_TEST_CASE(malformed_markdown) {
  auto outside = document("# Plan\n"
                          "\n"
                          "- [ ] TASK-1: homeless item\n"
                          "## DEV Tasks\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(outside, councils)),
                    "orch.invalid_argument: markdown plan line 3: task item "
                    "outside a '## <ROLE> Tasks' section");
  // A section that is not a role closes the role section before it.
  auto closed = document("## DEV Tasks\n"
                         "- [ ] TASK-1: fine\n"
                         "## Notes\n"
                         "- [x] TASK-2: not in a role section\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(closed, councils)),
                    "orch.invalid_argument: markdown plan line 4: task item "
                    "outside a '## <ROLE> Tasks' section");
  auto no_id = document("## DEV Tasks\n- [ ] just some text\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(no_id, councils)),
                    "orch.invalid_argument: markdown plan line 2: expected "
                    "'- [ ] <TASK-ID>: <description>'");
  auto bad_priority = document("## DEV Tasks\n"
                               "- [ ] TASK-1: fine\n"
                               "  - Priority: high\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(bad_priority, councils)),
                    "orch.invalid_argument: markdown plan line 3: Priority: "
                    "expected an integer");
  auto orphan = document("## DEV Tasks\n  - Depends on: TASK-0\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(orphan, councils)),
                    "orch.invalid_argument: markdown plan line 2: 'Depends "
                    "on' does not belong to a task");
}

BOOST_AUTO_TEST_CASE(wrong_field_types) {
  auto priority = document("tasks:\n"
                           "  - {task_id: A, role: DEV, description: a}\n"
                           "  - {task_id: B, role: DEV, description: b}\n"
                           "  - {task_id: C, role: DEV, description: c,\n"
                           "     priority: high}\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(priority, councils)),
                    "orch.invalid_argument: tasks[2].priority: expected an "
                    "integer");
  // A quoted number is a string, in YAML as in JSON.
  auto quoted = document("tasks:\n"
                         "  - {task_id: A, role: DEV, description: a,\n"
                         "     priority: \"5\"}\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(quoted, councils)),
                    "orch.invalid_argument: tasks[0].priority: expected an "
                    "integer");
  auto json = document(R"({"tasks": [{"task_id": "A", "role": "DEV",
                          "description": "a", "priority": 1.5}]})");
  BOOST_CHECK_EQUAL(failure(derive_tasks(json, councils)),
                    "orch.invalid_argument: tasks[0].priority: expected an "
                    "integer");
  auto deps = document(R"({"tasks": [{"task_id": "A", "role": "DEV",
                          "description": "a", "dependencies": "B"}]})");
  BOOST_CHECK_EQUAL(failure(derive_tasks(deps, councils)),
                    "orch.invalid_argument: tasks[0].dependencies: expected "
                    "a list of strings");
  auto nested = document("tasks:\n"
                         "  - task_id: A\n"
                         "    role: DEV\n"
                         "    description: a\n"
                         "    dependencies: [[B]]\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(nested, councils)),
                    "orch.invalid_argument: tasks[0].dependencies: expected "
                    "a list of strings");
  auto limits = document("tasks:\n"
                         "  - task_id: A\n"
                         "    role: DEV\n"
                         "    description: a\n"
                         "    constraints: {k: three}\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(limits, councils)),
                    "orch.invalid_argument: tasks[0].constraints.k: "
                    "expected an integer");
  auto not_list = document("tasks: {A: 1}\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(not_list, councils)),
                    "orch.invalid_argument: tasks: expected a list of tasks");
  auto prose = document("Just build the login page.");
  BOOST_CHECK_EQUAL(failure(derive_tasks(prose, councils)),
                    "orch.invalid_argument: plan document: expected a map "
                    "with a tasks list or a list of tasks");
  auto empty = document("plan_id: P\ntasks: []\n");
  BOOST_CHECK_EQUAL(failure(derive_tasks(empty, councils)),
                    "orch.invalid_argument: plan document defines no tasks");
  auto format = document("tasks: []", "toml");
  BOOST_CHECK_EQUAL(failure(derive_tasks(format, councils)),
                    "orch.invalid_argument: unknown plan format 'toml' "
                    "(expected auto, yaml, json or markdown)");
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
