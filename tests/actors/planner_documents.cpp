// The PLANNER's plan documents: YAML, JSON and markdown given as text or as
// files (the examples too), and what it refuses in them.

#include "tests/actors/planner_fixture.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace orch;
using namespace orch::planner_test;

namespace {

plan_input document(std::string text, std::string format = "auto") {
  plan_input p;
  p.story_id = "STORY-1";
  p.plan_id = "PLAN-1";
  p.text = std::move(text);
  p.format = std::move(format);
  return p;
}

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

const char* const yaml_plan = R"(
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

const char* const json_plan = R"({
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

const char* const markdown_plan = R"(# Schema change

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

BOOST_AUTO_TEST_SUITE(planner_documents)

// -- documents ----------------------------------------------------------------

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

// -- errors in documents ------------------------------------------------------

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

BOOST_AUTO_TEST_SUITE_END()
