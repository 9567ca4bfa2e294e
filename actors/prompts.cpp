#include "actors/prompts.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "messages/json_codec.hpp"

namespace orch {

namespace {

const fixed_text& role_context(const std::string& role) {
  static const fixed_text dev{
    "You are a senior software engineer. You write production code with "
    "clear interfaces, explicit error handling and unit tests."};
  static const fixed_text qa{
    "You are a QA engineer. You derive test cases from acceptance criteria, "
    "cover boundaries and invalid input, and automate regression suites."};
  static const fixed_text architect{
    "You are a software architect. You define components, data flow, "
    "failure modes and the trade-offs behind each decision."};
  static const fixed_text devops{
    "You are a DevOps engineer. You containerise, deploy, observe and roll "
    "back services safely, and you manage secrets properly."};
  static const fixed_text data{
    "You are a data engineer. You model schemas, write migrations, validate "
    "data quality and plan retention."};
  static const fixed_text other{
    "You are an expert engineer in your team's role."};
  if (role == "DEV")
    return dev;
  if (role == "QA")
    return qa;
  if (role == "ARCHITECT")
    return architect;
  if (role == "DEVOPS")
    return devops;
  if (role == "DATA")
    return data;
  return other;
}

const fixed_text& perspective(int32_t index) {
  static const fixed_text xs[] = {
    fixed_text{"Favour the simplest design that fully meets the "
               "requirements."},
    fixed_text{"Favour robustness: explicit error handling and failure "
               "modes."},
    fixed_text{"Favour performance and scalability, and say where it "
               "matters."},
    fixed_text{"Favour security: validate input, least privilege, no secrets "
               "in code."},
    fixed_text{"Favour testability and observability: tests, metrics, logs."},
  };
  return xs[static_cast<size_t>(std::max(0, index)) % 5];
}

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

/// Room a prompt about `task` takes besides `parts` (the sizes of the
/// proposals and critiques it quotes).
size_t task_prompt_room(const task_spec& task, size_t parts) {
  return prompt_slack + task.task_id.size() + task.role.size()
         + task.description.size() + requirements_size(task.constraints)
         + parts;
}

void append_requirements(prompt_writer& out, const constraints& c) {
  static const fixed_text rubric{"\n\nRubric (how proposals are judged):\n"};
  static const fixed_text requirements{
    "\n\nRequirements (every one must be covered explicitly):"};
  static const fixed_text item{"\n- "};
  if (!c.rubric.empty()) {
    out.fixed(rubric);
    out.text(c.rubric);
  }
  if (!c.requirements.empty()) {
    out.fixed(requirements);
    for (auto& r : c.requirements) {
      out.fixed(item);
      out.text(r);
    }
  }
}

/// A prompt written as plain text.
template<class F>
std::string plain_prompt(size_t room, F write) {
  std::string out;
  out.reserve(room);
  prompt_writer w{out, false};
  write(w);
  return out;
}

} // namespace

fixed_text::fixed_text(std::string_view text) : plain(text) {
  append_json_chars(json, text);
}

void prompt_writer::text(std::string_view x) {
  if (json_)
    append_json_chars(out_, x);
  else
    out_ += x;
}

size_t system_prompt_room(const agent_spec& spec, const task_spec& task) {
  return prompt_slack + spec.agent_id.size()
         + requirements_size(task.constraints);
}

size_t generate_prompt_room(const task_spec& task) {
  return task_prompt_room(task, 0);
}

size_t critique_prompt_room(const task_spec& task, const proposal& target) {
  return task_prompt_room(task,
                          target.author_id.size() + target.content.size());
}

size_t revise_prompt_room(const task_spec& task, const proposal& own,
                          const std::vector<critique>& feedback) {
  size_t parts = own.content.size();
  for (auto& c : feedback)
    parts += c.critic_id.size() + c.content.size() + 8;
  return task_prompt_room(task, parts);
}

double diverse_temperature(double base, int32_t index) {
  static constexpr double offsets[] = {0.0, 0.15, -0.15, 0.3, -0.3};
  auto t = base + offsets[static_cast<size_t>(std::max(0, index)) % 5];
  return std::clamp(t, 0.0, 2.0);
}

void write_system_prompt(prompt_writer& out, const agent_spec& spec,
                         const task_spec& task) {
  static const fixed_text you_are{" You are "};
  static const fixed_text council{
    ", one of several agents in a council; peers review each other."
    "\nPerspective: "};
  out.fixed(role_context(task.role.empty() ? spec.role : task.role));
  out.fixed(you_are);
  out.text(spec.agent_id);
  out.fixed(council);
  out.fixed(perspective(spec.index));
  append_requirements(out, task.constraints);
}

std::string system_prompt(const agent_spec& spec, const task_spec& task) {
  return plain_prompt(system_prompt_room(spec, task), [&](prompt_writer& w) {
    write_system_prompt(w, spec, task);
  });
}

void write_generate_prompt(prompt_writer& out, const task_spec& task) {
  static const fixed_text task_{"Task "};
  static const fixed_text role{" (role "};
  static const fixed_text colon{"):\n"};
  static const fixed_text ask{
    "\n\nWrite a complete proposal in markdown: the approach, numbered "
    "steps, how each requirement is met, risks, and code blocks with a "
    "language tag where code helps."};
  out.fixed(task_);
  out.text(task.task_id);
  out.fixed(role);
  out.text(task.role);
  out.fixed(colon);
  out.text(task.description);
  append_requirements(out, task.constraints);
  out.fixed(ask);
}

std::string generate_prompt(const task_spec& task) {
  return plain_prompt(generate_prompt_room(task), [&](prompt_writer& w) {
    write_generate_prompt(w, task);
  });
}

void write_critique_prompt(prompt_writer& out, const task_spec& task,
                           const proposal& target) {
  static const fixed_text review{"Review the proposal of "};
  static const fixed_text for_task{" for task "};
  static const fixed_text colon{":\n"};
  static const fixed_text ask{
    "\n\nList every gap against the rubric and the requirements, one per "
    "line starting with \"- \". Be specific. If there is none, say so in one "
    "sentence.\n\nPROPOSAL:\n"};
  out.fixed(review);
  out.text(target.author_id);
  out.fixed(for_task);
  out.text(task.task_id);
  out.fixed(colon);
  out.text(task.description);
  append_requirements(out, task.constraints);
  out.fixed(ask);
  out.text(target.content);
}

std::string critique_prompt(const task_spec& task, const proposal& target) {
  return plain_prompt(critique_prompt_room(task, target),
                      [&](prompt_writer& w) {
                        write_critique_prompt(w, task, target);
                      });
}

void write_revise_prompt(prompt_writer& out, const task_spec& task,
                         const proposal& own,
                         const std::vector<critique>& feedback) {
  static const fixed_text revise{"Revise your proposal for task "};
  static const fixed_text colon{":\n"};
  static const fixed_text yours{"\n\nYOUR PROPOSAL:\n"};
  static const fixed_text peers{"\n\nFEEDBACK FROM YOUR PEERS:"};
  static const fixed_text none{"\n(none this round)"};
  static const fixed_text from{"\nFrom "};
  static const fixed_text ask{
    "\n\nReturn the complete revised proposal in markdown, addressing every "
    "point of the feedback."};
  out.fixed(revise);
  out.text(task.task_id);
  out.fixed(colon);
  out.text(task.description);
  append_requirements(out, task.constraints);
  out.fixed(yours);
  out.text(own.content);
  out.fixed(peers);
  if (feedback.empty())
    out.fixed(none);
  for (auto& c : feedback) {
    out.fixed(from);
    out.text(c.critic_id);
    out.fixed(colon);
    out.text(c.content);
  }
  out.fixed(ask);
}

std::string revise_prompt(const task_spec& task, const proposal& own,
                          const std::vector<critique>& feedback) {
  return plain_prompt(revise_prompt_room(task, own, feedback),
                      [&](prompt_writer& w) {
    write_revise_prompt(w, task, own, feedback);
  });
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
  prompt_writer w{out, false};
  append_requirements(w, cons);
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
