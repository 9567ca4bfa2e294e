#pragma once

// PLANNER: turns an approved plan into validated atomic tasks, in a
// deterministic topological order. The derivation is a set of pure
// functions; the actor only wraps them.

#include <set>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/actors.hpp"

namespace orch {

/// The queue id of a task: "<plan_id>/<task_id>". Ids are scoped by plan, so a
/// plan delivered twice does not duplicate tasks; an id already carrying the
/// prefix is left alone.
std::string scoped_task_id(const std::string& plan_id,
                           const std::string& task_id);

/// Largest plan document (bytes) and most tasks in one plan: beyond them
/// derive_tasks refuses the plan (`ec::invalid_argument`, naming the bound).
constexpr size_t max_plan_document_bytes = 4 << 20;
constexpr size_t max_plan_tasks = 5000;

/// Derives the atomic tasks of a plan, validated. `roles_with_council` are the
/// roles (upper case) that have a council.
///
/// Sources, in this order: `plan.tasks`; else the document in `plan.text`
/// (`format` "yaml", "json", "markdown" or "auto"); else one task per role of
/// `plan.roles` (all of `roles_with_council` when empty). Every task gets the
/// plan's story_id and plan_id (the document's when the plan's are blank), a
/// normalized role, and scoped ids and dependencies. The result is in
/// topological order: among ready tasks, higher priority first, then source
/// order. Errors are `ec::invalid_argument` (`ec::decode_failed` for YAML and
/// JSON syntax errors) naming the first problem found.
caf::expected<std::vector<task_spec>>
derive_tasks(const plan_input& plan,
             const std::set<std::string>& roles_with_council);

/// Reads a plan file (.yaml/.yml, .json, .md/.markdown; by extension, else by
/// content) into a plan_input carrying the text and its format. story_id,
/// plan_id, approved_by and roles come from the document when present
/// (markdown: a YAML front matter); plan_id defaults to the file stem.
caf::expected<plan_input> load_plan_file(const std::string& path);

/// State of the PLANNER.
struct planner_state {
  /// Roles (upper case) that have a council.
  std::set<std::string> roles;

  static inline const char* name = "planner";
};

/// Behavior of the PLANNER.
planner_actor::behavior_type
planner(planner_actor::stateful_pointer<planner_state> self,
        std::set<std::string> roles_with_council);

/// Spawns a PLANNER for the given councils.
planner_actor spawn_planner(caf::actor_system& sys,
                            std::set<std::string> roles_with_council);

} // namespace orch
