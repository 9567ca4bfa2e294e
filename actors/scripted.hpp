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
                         proposal own, const std::vector<critique>& feedback);

/// The style of a `scripted` agent, from its `style` parameter: `full` (the
/// default: the texts above) or `brief` (the one-line texts below, which cost
/// next to nothing, so that a benchmark measures the engine around them).
std::string scripted_style(const agent_spec& spec);

/// Style `brief`: "<agent>: solution for <task>".
std::string brief_generate(const agent_spec& spec, const task_spec& task);

/// Style `brief`: a critique without issues, "<agent>: looks right".
critique brief_critique(const agent_spec& spec, const proposal& target,
                        int32_t round);

/// Style `brief`: `own` with " (revised)" appended; the previous content goes
/// to `revisions`.
proposal brief_revise(proposal own);

} // namespace orch
