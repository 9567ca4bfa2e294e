// Plan documents as the PLANNER reads them (ProcessPlanningEvent, `plan`
// text of planning.plan.approved, `orchestrator run FILE`). The first byte
// picks the format (yaml, json, markdown, auto); the rest is the document.
// Properties: never throws or crashes; a derived plan has tasks with ids
// and roles, every dependency names an earlier task (topological order),
// and no id repeats.

#include <set>

#include "actors/planner.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace orch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  static const char* formats[] = {"yaml", "json", "markdown", "auto"};
  plan_input plan;
  plan.story_id = "story-fuzz";
  plan.plan_id = "plan-fuzz";
  plan.format = formats[data[0] & 3];
  plan.text.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const std::set<std::string> roles{"DEV", "QA", "ARCHITECT",
                                           "DEVOPS", "DATA"};
  auto tasks = derive_tasks(plan, roles);
  if (!tasks)
    return 0;
  std::set<std::string> seen;
  for (auto& t : *tasks) {
    fuzz::require(!t.task_id.empty(), "a task has an id");
    fuzz::require(roles.count(t.role) == 1, "a task has a council's role",
                  t.role);
    for (auto& d : t.dependencies)
      fuzz::require(seen.count(d) == 1, "dependencies come first", d);
    fuzz::require(seen.insert(t.task_id).second, "ids are unique", t.task_id);
  }
  return 0;
}
