#include "actors/prompts.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace orch {

namespace {

const char* role_context(const std::string& role) {
  if (role == "DEV")
    return "You are a senior software engineer. You write production code "
           "with clear interfaces, explicit error handling and unit tests.";
  if (role == "QA")
    return "You are a QA engineer. You derive test cases from acceptance "
           "criteria, cover boundaries and invalid input, and automate "
           "regression suites.";
  if (role == "ARCHITECT")
    return "You are a software architect. You define components, data flow, "
           "failure modes and the trade-offs behind each decision.";
  if (role == "DEVOPS")
    return "You are a DevOps engineer. You containerise, deploy, observe and "
           "roll back services safely, and you manage secrets properly.";
  if (role == "DATA")
    return "You are a data engineer. You model schemas, write migrations, "
           "validate data quality and plan retention.";
  return "You are an expert engineer in your team's role.";
}

const char* perspectives[] = {
  "Favour the simplest design that fully meets the requirements.",
  "Favour robustness: explicit error handling and failure modes.",
  "Favour performance and scalability, and say where it matters.",
  "Favour security: validate input, least privilege, no secrets in code.",
  "Favour testability and observability: tests, metrics, logs.",
};

/// What append_requirements adds, at most: prompts reserve their size once
/// instead of growing by doubling (a copy each time) as pieces are added.
size_t requirements_size(const constraints& c) {
  auto n = c.rubric.size() + 96;
  for (auto& r : c.requirements)
    n += r.size() + 3;
  return n;
}

/// Room for a prompt's fixed text around its variable parts.
constexpr size_t prompt_slack = 320;

/// What a prompt about `task` holds at most besides its own parts: the
/// fixed text, the task's id and description, its requirements.
size_t task_prompt_size(const task_spec& task) {
  return prompt_slack + task.task_id.size() + task.description.size()
         + requirements_size(task.constraints);
}

void append_requirements(std::string& out, const constraints& c) {
  if (!c.rubric.empty()) {
    out += "\n\nRubric (how proposals are judged):\n";
    out += c.rubric;
  }
  if (!c.requirements.empty()) {
    out += "\n\nRequirements (every one must be covered explicitly):";
    for (auto& r : c.requirements) {
      out += "\n- ";
      out += r;
    }
  }
}

} // namespace

double diverse_temperature(double base, int32_t index) {
  static constexpr double offsets[] = {0.0, 0.15, -0.15, 0.3, -0.3};
  auto t = base + offsets[static_cast<size_t>(std::max(0, index)) % 5];
  return std::clamp(t, 0.0, 2.0);
}

std::string system_prompt(const agent_spec& spec, const task_spec& task) {
  std::string out;
  out.reserve(prompt_slack + spec.agent_id.size()
              + requirements_size(task.constraints));
  out += role_context(task.role.empty() ? spec.role : task.role);
  out += " You are ";
  out += spec.agent_id;
  out += ", one of several agents in a council; peers review each other.";
  out += "\nPerspective: ";
  out += perspectives[static_cast<size_t>(std::max(0, spec.index)) % 5];
  append_requirements(out, task.constraints);
  return out;
}

std::string generate_prompt(const task_spec& task) {
  std::string out;
  out.reserve(task_prompt_size(task) + task.role.size());
  out += "Task ";
  out += task.task_id;
  out += " (role ";
  out += task.role;
  out += "):\n";
  out += task.description;
  append_requirements(out, task.constraints);
  out += "\n\nWrite a complete proposal in markdown: the approach, numbered "
         "steps, how each requirement is met, risks, and code blocks with a "
         "language tag where code helps.";
  return out;
}

std::string critique_prompt(const task_spec& task, const proposal& target) {
  std::string out;
  out.reserve(task_prompt_size(task) + target.author_id.size()
              + target.content.size());
  out += "Review the proposal of ";
  out += target.author_id;
  out += " for task ";
  out += task.task_id;
  out += ":\n";
  out += task.description;
  append_requirements(out, task.constraints);
  out += "\n\nList every gap against the rubric and the requirements, one "
         "per line starting with \"- \". Be specific. If there is none, say "
         "so in one sentence.\n\nPROPOSAL:\n";
  out += target.content;
  return out;
}

std::string revise_prompt(const task_spec& task, const proposal& own,
                          const std::vector<critique>& feedback) {
  auto size = task_prompt_size(task) + own.content.size();
  for (auto& c : feedback)
    size += c.critic_id.size() + c.content.size() + 8;
  std::string out;
  out.reserve(size);
  out += "Revise your proposal for task ";
  out += task.task_id;
  out += ":\n";
  out += task.description;
  append_requirements(out, task.constraints);
  out += "\n\nYOUR PROPOSAL:\n";
  out += own.content;
  out += "\n\nFEEDBACK FROM YOUR PEERS:";
  if (feedback.empty())
    out += "\n(none this round)";
  for (auto& c : feedback) {
    out += "\nFrom ";
    out += c.critic_id;
    out += ":\n";
    out += c.content;
  }
  out += "\n\nReturn the complete revised proposal in markdown, addressing "
         "every point of the feedback.";
  return out;
}

std::string architect_system_prompt() {
  return "You are the chief architect. Choose the best candidate proposal "
         "for the task by its content, its score and its checks. Answer in "
         "the form WINNER: <id> on the first line and RATIONALE: <one "
         "paragraph> on the second.";
}

std::string architect_prompt(const std::vector<deliberation_result>& top,
                             const constraints& cons) {
  std::string out = "Candidates:";
  for (auto& r : top) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), " (rank %d, score %.3f, checks %d/%d)",
                  r.rank, r.score, checks_passed(r.checks),
                  checks_total(r.checks));
    out += "\n\nCANDIDATE ";
    out += r.proposal.author_id;
    out += buf;
    out += ":\n";
    out += r.proposal.content;
  }
  append_requirements(out, cons);
  return out;
}

/// Lines of `text` that read like list items ("- x", "* x", "1. x").
std::vector<std::string> list_items(const std::string& text) {
  // Over views of the text: only the items are copied (a copy per line,
  // and two more per item, cost a critique's reply ~5,000 instructions).
  std::vector<std::string> out;
  std::string_view in = text;
  size_t pos = 0;
  while (pos < in.size()) {
    auto nl = in.find('\n', pos);
    auto line = in.substr(pos, nl == std::string_view::npos ? in.npos
                                                            : nl - pos);
    pos = nl == std::string_view::npos ? in.size() : nl + 1;
    auto b = line.find_first_not_of(" \t");
    if (b == std::string_view::npos)
      continue;
    line.remove_prefix(b);
    size_t skip = 0;
    if (line.size() >= 2 && (line[0] == '-' || line[0] == '*')
        && line[1] == ' ')
      skip = 2;
    else if (line.size() > 2
             && std::isdigit(static_cast<unsigned char>(line[0]))
             && line[1] == '.' && line[2] == ' ')
      skip = 3;
    if (skip > 0 && !is_blank(line.substr(skip)))
      out.emplace_back(line.substr(skip));
  }
  return out;
}

} // namespace orch
