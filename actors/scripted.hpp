#pragma once

// The deterministic `scripted` agent backend (no LLM), exposed as plain
// functions so that tests can check its texts directly.

#include <string>
#include <vector>

#include "actors/actors.hpp"

namespace orch {

/// Drafts the proposal text of the agent `spec` for `task`.
std::string scripted_generate(const agent_spec& spec, const task_spec& task);

/// Reviews `target`: names every requirement and rubric keyword it lacks.
critique scripted_critique(const agent_spec& spec, const task_spec& task,
                           const proposal& target, int32_t round);

/// Revises `own` with `feedback`; the previous content goes to `revisions`.
proposal scripted_revise(const agent_spec& spec, const task_spec& task,
                         const proposal& own,
                         const std::vector<critique>& feedback);

} // namespace orch
