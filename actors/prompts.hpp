#pragma once

// Prompts of the `vllm` agents and the `llm` architect. The system prompt
// carries the role's context, the rubric and the requirements (which the
// service we replace never passed to its model) and a diversity instruction
// by agent index.

#include <string>
#include <string_view>
#include <vector>

#include "actors/actors.hpp"

namespace orch {

/// A fixed text of the prompts, with its JSON-escaped form made once.
struct fixed_text {
  explicit fixed_text(std::string_view text);
  std::string plain;
  std::string json;
};

/// Where a prompt is written: appended as it is, or escaped into the text of
/// a JSON string (a model request's body is written in one pass; its fixed
/// texts are escaped once, not per request).
class prompt_writer {
public:
  prompt_writer(std::string& out, bool json) : out_(out), json_(json) {
  }

  /// A part that varies (the task's, the proposals').
  void text(std::string_view x);

  void fixed(const fixed_text& x) {
    out_ += json_ ? x.json : x.plain;
  }

private:
  std::string& out_;
  bool json_;
};

/// About the size of each prompt below, at most, for reserving its string
/// or a model request's body once.
size_t system_prompt_room(const agent_spec& spec, const task_spec& task);
size_t generate_prompt_room(const task_spec& task);
size_t critique_prompt_room(const task_spec& task, const proposal& target);
size_t revise_prompt_room(const task_spec& task, const proposal& own,
                          const std::vector<critique>& feedback);

/// The system prompt of agent `spec` for `task`.
void write_system_prompt(prompt_writer& out, const agent_spec& spec,
                         const task_spec& task);
std::string system_prompt(const agent_spec& spec, const task_spec& task);

/// The user prompt that asks for a first proposal.
void write_generate_prompt(prompt_writer& out, const task_spec& task);
std::string generate_prompt(const task_spec& task);

/// The user prompt that asks for a critique of `target`, one gap per line.
void write_critique_prompt(prompt_writer& out, const task_spec& task,
                           const proposal& target);
std::string critique_prompt(const task_spec& task, const proposal& target);

/// The user prompt that asks to revise `own` with `feedback`.
void write_revise_prompt(prompt_writer& out, const task_spec& task,
                         const proposal& own,
                         const std::vector<critique>& feedback);
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
