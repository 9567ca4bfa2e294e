#pragma once

// What the planner's suites share (planner: tasks, ids, order, validation
// and the actor; planner_documents: plans given as YAML, JSON or markdown
// documents and files): tasks described on one line, their ids, results
// unboxed or their errors rendered, the councils, and the login example.

#include <boost/test/unit_test.hpp>

#include <set>
#include <string>
#include <vector>

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

inline std::string example(const std::string& name) {
  return std::string{ORCH_SOURCE_DIR} + "/examples/" + name;
}

/// The login example, as derived: topological order by priority.
inline const std::vector<std::string> login_order{
  "PLAN-LOGIN-1/LOGIN-1", "PLAN-LOGIN-1/LOGIN-2", "PLAN-LOGIN-1/LOGIN-3",
  "PLAN-LOGIN-1/LOGIN-4", "PLAN-LOGIN-1/LOGIN-6", "PLAN-LOGIN-1/LOGIN-8",
  "PLAN-LOGIN-1/LOGIN-5", "PLAN-LOGIN-1/LOGIN-7", "PLAN-LOGIN-1/LOGIN-9"};

} // namespace orch::planner_test
