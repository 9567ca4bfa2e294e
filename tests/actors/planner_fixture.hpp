#pragma once

// What the planner's suites share (planner: tasks, ids, order, validation
// and the actor; planner_documents: plans given as YAML, JSON or markdown
// documents and files): tasks described on one line, plans and documents
// made, example paths, temporary files and the documents the cases use.

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

namespace orch::planner_test {

inline const std::set<std::string> councils{"ARCHITECT", "DEV", "QA", "DEVOPS"};

/// Every field of a task on one line, for comparisons with a readable diff.
inline std::string describe(const task_spec& t) {
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

inline std::vector<std::string> describe(const std::vector<task_spec>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs)
    out.push_back(describe(x));
  return out;
}

inline std::vector<std::string> ids(const std::vector<task_spec>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs)
    out.push_back(x.task_id);
  return out;
}

template<class T>
inline T unbox(caf::expected<T> x) {
  if (!x)
    BOOST_FAIL("unexpected error: " << render(x.error()));
  return std::move(*x);
}

/// The rendered error of a derivation that must fail.
template<class T>
inline std::string failure(const caf::expected<T>& x) {
  if (x)
    return "no error";
  return render(x.error());
}

inline task_spec task(std::string id, std::string role, std::string text,
               std::vector<std::string> deps = {}, int32_t priority = 0) {
  task_spec t;
  t.task_id = std::move(id);
  t.role = std::move(role);
  t.description = std::move(text);
  t.dependencies = std::move(deps);
  t.priority = priority;
  return t;
}

inline plan_input explicit_plan(std::vector<task_spec> tasks) {
  plan_input p;
  p.story_id = "STORY-1";
  p.plan_id = "PLAN-1";
  p.tasks = std::move(tasks);
  return p;
}

inline plan_input document(std::string text, std::string format = "auto") {
  plan_input p;
  p.story_id = "STORY-1";
  p.plan_id = "PLAN-1";
  p.text = std::move(text);
  p.format = std::move(format);
  return p;
}

inline std::string example(const std::string& name) {
  return std::string{ORCH_SOURCE_DIR} + "/examples/" + name;
}

/// The login example, as derived: topological order by priority.
inline const std::vector<std::string> login_order{
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

inline const char* const yaml_plan = R"(
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

inline const char* const json_plan = R"({
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

inline const char* const markdown_plan = R"(# Schema change

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
inline void check_schema_tasks(const std::vector<task_spec>& xs, bool full) {
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

inline plan_input without_ids(std::string text) {
  plan_input p;
  p.text = std::move(text);
  return p;
}

} // namespace orch::planner_test
