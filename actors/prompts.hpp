#pragma once

// Prompts of the `vllm` agents and the `llm` architect. The system prompt
// carries the role's context, the rubric and the requirements (which the
// service we replace never passed to its model) and a diversity instruction
// by agent index.

#include <string>
#include <vector>

#include "actors/actors.hpp"

namespace orch {

/// The system prompt of agent `spec` for `task`.
std::string system_prompt(const agent_spec& spec, const task_spec& task);

/// The user prompt that asks for a first proposal.
std::string generate_prompt(const task_spec& task);

/// The user prompt that asks for a critique of `target`, one gap per line.
std::string critique_prompt(const task_spec& task, const proposal& target);

/// The user prompt that asks to revise `own` with `feedback`.
std::string revise_prompt(const task_spec& task, const proposal& own,
                          const std::vector<critique>& feedback);

/// Lines of `text` that read like list items ("- x", "* x", "1. x"), without
/// their markers: the issues of a critique.
std::vector<std::string> list_items(const std::string& text);

/// A spread of temperatures around `base` by agent index, within [0, 2].
double diverse_temperature(double base, int32_t index);

/// The system prompt of the `llm` architect; it names the answer format
/// "WINNER: <id>" / "RATIONALE: <text>".
std::string architect_system_prompt();

/// The user prompt of the `llm` architect with the top candidates.
std::string architect_prompt(const std::vector<deliberation_result>& top,
                             const constraints& cons);

} // namespace orch
