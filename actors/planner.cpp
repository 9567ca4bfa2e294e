// PLANNER: plan → atomic tasks. Reads explicit task lists and plan documents
// (YAML, JSON, markdown checklists), validates the dependency graph and
// returns the tasks in a deterministic topological order.

#include "actors/planner.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/plan_documents.hpp"
#include "messages/ascii.hpp"

namespace orch {

namespace {

using plan_documents::detect_format;
using plan_documents::invalid;
using plan_documents::join;
using plan_documents::parse_document;
using plan_documents::plan_doc;
using plan_documents::problem;
using plan_documents::trim;

// -- small helpers ------------------------------------------------------------

caf::error to_error(const problem& p) {
  return caf::make_error(p.code, p.text);
}

/// The id as the user wrote it: without the "<plan_id>/" prefix.
std::string unscoped(const std::string& plan_id, const std::string& id) {
  auto prefix = plan_id + "/";
  if (id.size() > prefix.size() && id.compare(0, prefix.size(), prefix) == 0)
    return id.substr(prefix.size());
  return id;
}

// -- validation and ordering --------------------------------------------------

/// Finds one dependency cycle with a DFS; returns its members in edge order,
/// starting from the smallest id, or nothing.
std::vector<size_t> find_cycle(const std::vector<std::vector<size_t>>& deps,
                               const std::vector<std::string>& names) {
  enum color { white, grey, black };
  std::vector<color> colors(deps.size(), white);
  // Frames: the node and the index of the next dependency to follow.
  std::vector<std::pair<size_t, size_t>> stack;
  for (size_t root = 0; root < deps.size(); ++root) {
    if (colors[root] != white)
      continue;
    stack.emplace_back(root, 0);
    colors[root] = grey;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == deps[node].size()) {
        colors[node] = black;
        stack.pop_back();
        continue;
      }
      auto dep = deps[node][next++];
      if (colors[dep] == white) {
        colors[dep] = grey;
        stack.emplace_back(dep, 0);
      } else if (colors[dep] == grey) {
        std::vector<size_t> cycle;
        auto it = std::find_if(stack.begin(), stack.end(),
                               [dep](const auto& f) { return f.first == dep; });
        for (; it != stack.end(); ++it)
          cycle.push_back(it->first);
        auto smallest = std::min_element(cycle.begin(), cycle.end(),
                                         [&](size_t a, size_t b) {
                                           return names[a] < names[b];
                                         });
        std::rotate(cycle.begin(), smallest, cycle.end());
        return cycle;
      }
    }
  }
  return {};
}

std::string council_list(const std::set<std::string>& roles) {
  if (roles.empty())
    return "none";
  return join(std::vector<std::string>{roles.begin(), roles.end()}, ", ");
}

/// Validates scoped, normalized tasks and puts them in topological order.
problem validate_and_order(const std::string& plan_id,
                           const std::set<std::string>& councils,
                           std::vector<task_spec>& tasks) {
  std::vector<std::string> names; // ids as the user wrote them
  for (auto& t : tasks)
    names.push_back(unscoped(plan_id, t.task_id));
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (is_blank(names[i]))
      return invalid("tasks[" + std::to_string(i)
                     + "]: task_id must not be blank");
    if (is_blank(tasks[i].description))
      return invalid("task " + names[i] + ": description is empty");
  }
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < tasks.size(); ++i)
    if (!index.emplace(tasks[i].task_id, i).second)
      return invalid("duplicate task id " + names[i]);
  std::vector<std::vector<size_t>> deps(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    for (const auto& dep : tasks[i].dependencies) {
      auto it = index.find(dep);
      if (it == index.end())
        return invalid("task " + names[i] + " depends on unknown task "
                       + unscoped(plan_id, dep));
      deps[i].push_back(it->second);
    }
  }
  if (auto cycle = find_cycle(deps, names); !cycle.empty()) {
    std::string text = "dependency cycle: ";
    for (auto i : cycle)
      text += names[i] + " -> ";
    text += names[cycle.front()];
    return invalid(std::move(text));
  }
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].role.empty())
      return invalid("task " + names[i] + ": role is empty");
    if (councils.count(tasks[i].role) == 0)
      return invalid("task " + names[i] + ": no council for role "
                     + tasks[i].role + " (councils: " + council_list(councils)
                     + ")");
  }
  // Kahn's algorithm; ready tasks by priority (higher first), then source.
  std::vector<size_t> pending(tasks.size());
  std::vector<std::vector<size_t>> dependents(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    pending[i] = deps[i].size();
    for (auto d : deps[i])
      dependents[d].push_back(i);
  }
  std::set<std::pair<int64_t, size_t>> ready;
  for (size_t i = 0; i < tasks.size(); ++i)
    if (pending[i] == 0)
      ready.emplace(-static_cast<int64_t>(tasks[i].priority), i);
  std::vector<task_spec> ordered;
  ordered.reserve(tasks.size());
  while (!ready.empty()) {
    auto i = ready.begin()->second;
    ready.erase(ready.begin());
    for (auto d : dependents[i])
      if (--pending[d] == 0)
        ready.emplace(-static_cast<int64_t>(tasks[d].priority), d);
    ordered.push_back(std::move(tasks[i]));
  }
  tasks = std::move(ordered);
  return {};
}

} // namespace

// -- public functions ---------------------------------------------------------

std::string scoped_task_id(const std::string& plan_id,
                           const std::string& task_id) {
  auto prefix = plan_id + "/";
  if (task_id.compare(0, prefix.size(), prefix) == 0)
    return task_id;
  return prefix + task_id;
}

caf::expected<std::vector<task_spec>>
derive_tasks(const plan_input& plan,
             const std::set<std::string>& roles_with_council) {
  auto story_id = trim(plan.story_id);
  auto plan_id = trim(plan.plan_id);
  std::vector<task_spec> tasks;
  if (plan.text.size() > max_plan_document_bytes)
    return caf::make_error(ec::invalid_argument,
                           "plan document of " + std::to_string(plan.text.size())
                             + " bytes is larger than "
                             + std::to_string(max_plan_document_bytes));
  if (!plan.tasks.empty()) {
    tasks = plan.tasks;
  } else if (!is_blank(plan.text)) {
    plan_doc doc;
    if (auto p = parse_document(plan.text, plan.format, doc))
      return to_error(p);
    if (story_id.empty())
      story_id = trim(doc.story_id);
    if (plan_id.empty())
      plan_id = trim(doc.plan_id);
    if (doc.tasks.empty())
      return caf::make_error(ec::invalid_argument,
                             "plan document defines no tasks");
    tasks = std::move(doc.tasks);
  } else {
    std::vector<std::string> roles;
    auto add = [&](const std::string& r) {
      auto role = normalize_role(r);
      if (!role.empty()
          && std::find(roles.begin(), roles.end(), role) == roles.end())
        roles.push_back(std::move(role));
    };
    for (const auto& r : plan.roles)
      add(r);
    if (roles.empty())
      for (const auto& r : roles_with_council)
        add(r);
    if (roles.empty())
      return caf::make_error(ec::invalid_argument,
                             "plan has no tasks, no plan document and no "
                             "roles");
    for (auto& role : roles) {
      task_spec t;
      t.task_id = "TASK-" + role;
      t.role = role;
      t.description = "Implement plan " + plan_id + " for story " + story_id;
      tasks.push_back(std::move(t));
    }
  }
  if (plan_id.empty())
    return caf::make_error(ec::invalid_argument, "plan_id must not be blank");
  if (tasks.size() > max_plan_tasks)
    return caf::make_error(ec::invalid_argument,
                           "plan has " + std::to_string(tasks.size())
                             + " tasks, more than "
                             + std::to_string(max_plan_tasks));
  for (auto& t : tasks) {
    t.story_id = story_id;
    t.plan_id = plan_id;
    t.role = normalize_role(t.role);
    auto id = trim(t.task_id);
    t.task_id = id.empty() ? id : scoped_task_id(plan_id, id);
    std::vector<std::string> deps;
    for (const auto& d : t.dependencies) {
      if (is_blank(d))
        continue;
      auto dep = scoped_task_id(plan_id, trim(d));
      if (std::find(deps.begin(), deps.end(), dep) == deps.end())
        deps.push_back(std::move(dep));
    }
    t.dependencies = std::move(deps);
  }
  std::set<std::string> councils;
  for (const auto& r : roles_with_council)
    councils.insert(normalize_role(r));
  if (auto p = validate_and_order(plan_id, councils, tasks))
    return to_error(p);
  return tasks;
}

caf::expected<plan_input> load_plan_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return caf::make_error(ec::not_found, "cannot read plan file " + path);
  std::error_code size_err;
  auto size = std::filesystem::file_size(path, size_err);
  if (!size_err && size > max_plan_document_bytes)
    return caf::make_error(ec::invalid_argument,
                           "plan file " + path + " of " + std::to_string(size)
                             + " bytes is larger than "
                             + std::to_string(max_plan_document_bytes));
  std::ostringstream buf;
  buf << in.rdbuf();
  plan_input out;
  out.text = buf.str();
  std::filesystem::path fs_path{path};
  auto ext = to_lower(fs_path.extension().string());
  if (ext == ".yaml" || ext == ".yml")
    out.format = "yaml";
  else if (ext == ".json")
    out.format = "json";
  else if (ext == ".md" || ext == ".markdown")
    out.format = "markdown";
  else
    out.format = detect_format(out.text);
  plan_doc doc;
  if (auto p = parse_document(out.text, out.format, doc))
    return caf::make_error(p.code, path + ": " + p.text);
  out.story_id = trim(doc.story_id);
  out.plan_id = trim(doc.plan_id);
  if (out.plan_id.empty())
    out.plan_id = fs_path.stem().string();
  out.approved_by = doc.approved_by;
  out.roles = doc.roles;
  return out;
}

// -- actor --------------------------------------------------------------------

planner_actor::behavior_type
planner(planner_actor::stateful_pointer<planner_state> self,
        std::set<std::string> roles_with_council) {
  self->state.roles = std::move(roles_with_council);
  return {
    [self](atom::run,
           const plan_input& plan) -> caf::result<std::vector<task_spec>> {
      auto tasks = derive_tasks(plan, self->state.roles);
      if (!tasks) {
        spdlog::warn("planner rejected plan {} of story {}: {}", plan.plan_id,
                     plan.story_id, render(tasks.error()));
        return std::move(tasks.error());
      }
      spdlog::debug("planner derived {} tasks from plan {} of story {}",
                    tasks->size(), plan.plan_id, plan.story_id);
      return std::move(*tasks);
    },
  };
}

planner_actor spawn_planner(caf::actor_system& sys,
                            std::set<std::string> roles_with_council) {
  return sys.spawn(planner, std::move(roles_with_council));
}

} // namespace orch