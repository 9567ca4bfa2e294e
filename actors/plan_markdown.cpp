// The PLANNER's markdown plans: a checklist under "## <ROLE> Tasks"
// headings, with sub-items for dependencies, priority, requirements and
// rubric, and an optional YAML front matter (read by plan_documents.cpp).

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <regex>
#include <sstream>
#include <utility>

#include "actors/plan_documents.hpp"
#include "messages/ascii.hpp"

namespace orch::plan_documents {

namespace {

/// The heading level of `line` (0 when it is none) and its text.
int heading(const std::string& line, std::string& text) {
  size_t i = 0;
  while (i < line.size() && i < 3 && line[i] == ' ')
    ++i;
  size_t level = 0;
  while (i + level < line.size() && line[i + level] == '#')
    ++level;
  if (level == 0 || level > 6)
    return 0;
  auto rest = std::string_view{line}.substr(i + level);
  if (!rest.empty() && rest.front() != ' ' && rest.front() != '\t')
    return 0;
  text = trim(rest);
  // An optional closing sequence of '#'.
  while (!text.empty() && text.back() == '#')
    text.pop_back();
  text = trim(text);
  return static_cast<int>(level);
}

/// The role of a "<ROLE> Tasks" heading text, if it is one.
std::optional<std::string> role_of_heading(const std::string& text) {
  std::istringstream in{text};
  std::vector<std::string> words;
  for (std::string w; in >> w;)
    words.push_back(std::move(w));
  if (words.size() < 2 || to_lower(words.back()) != "tasks")
    return std::nullopt;
  words.pop_back();
  return normalize_role(join(words, " "));
}

bool is_role_heading(const std::string& line) {
  std::string text;
  return heading(line, text) == 2 && role_of_heading(text).has_value();
}

/// Replaces leading tabs by four spaces each, drops a trailing '\r'.
std::string expand_line(std::string line) {
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  std::string out;
  size_t i = 0;
  for (; i < line.size() && (line[i] == ' ' || line[i] == '\t'); ++i)
    out.append(line[i] == '\t' ? 4 : 1, ' ');
  out.append(line, i, std::string::npos);
  return out;
}

problem md_error(size_t line, const std::string& what) {
  return invalid("markdown plan line " + std::to_string(line) + ": " + what);
}

/// Reads a YAML front matter (story_id, plan_id, approved_by, roles).
problem read_front_matter(const std::vector<std::string>& lines, size_t& next,
                          plan_doc& out) {
  next = 0;
  if (lines.empty() || trim(lines[0]) != "---")
    return {};
  std::string yaml;
  size_t i = 1;
  for (; i < lines.size(); ++i) {
    auto t = trim(lines[i]);
    if (t == "---" || t == "...")
      break;
    yaml += lines[i];
    yaml += '\n';
  }
  if (i == lines.size())
    return md_error(1, "front matter is not closed by '---'");
  next = i + 1;
  if (auto p = read_yaml_header(yaml, out))
    return md_error(1, "front matter: " + p.text);
  return {};
}

} // namespace

problem parse_markdown(const std::string& text, plan_doc& out) {
  static const std::regex check_rx{
    R"(^( *)[-*+][ \t]+\[([ xX])\](?:[ \t]+(.*))?$)"};
  static const std::regex bullet_rx{R"(^( *)[-*+][ \t]+(.*)$)"};
  static const std::regex item_rx{R"(^([^\s:]+)[ \t]*:[ \t]*(.*)$)"};
  static const std::regex key_rx{
    R"(^(depends on|dependencies|priority|requirements|rubric)[ \t]*:)"
    R"([ \t]*(.*)$)",
    std::regex::icase};
  std::vector<std::string> lines;
  {
    std::istringstream in{text};
    for (std::string line; std::getline(in, line);)
      lines.push_back(expand_line(std::move(line)));
  }
  size_t first = 0;
  if (auto p = read_front_matter(lines, first, out))
    return p;
  std::string role; // role of the current section, if any
  task_spec* current = nullptr; // the task its sub-items belong to
  bool fenced = false;
  std::smatch m;
  for (size_t i = first; i < lines.size(); ++i) {
    const auto& line = lines[i];
    auto no = i + 1;
    auto t = trim(line);
    if (t.rfind("```", 0) == 0 || t.rfind("~~~", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (fenced)
      continue;
    std::string htext;
    if (auto level = heading(line, htext); level > 0) {
      if (level <= 2) {
        auto r = level == 2 ? role_of_heading(htext) : std::nullopt;
        role = r ? *r : std::string{};
      }
      current = nullptr;
      continue;
    }
    if (std::regex_match(line, m, check_rx) && m[1].length() < 2) {
      if (role.empty())
        return md_error(no, "task item outside a '## <ROLE> Tasks' section");
      auto body = m[3].matched ? trim(m[3].str()) : std::string{};
      std::smatch im;
      if (!std::regex_match(body, im, item_rx))
        return md_error(no, "expected '- [ ] <TASK-ID>: <description>'");
      auto id = im[1].str();
      id.erase(std::remove_if(id.begin(), id.end(),
                              [](char c) { return c == '*' || c == '`'; }),
               id.end());
      if (id.empty())
        return md_error(no, "expected '- [ ] <TASK-ID>: <description>'");
      task_spec task;
      task.task_id = id;
      task.role = role;
      task.description = trim(im[2].str());
      out.tasks.push_back(std::move(task));
      current = &out.tasks.back();
      continue;
    }
    if (!std::regex_match(line, m, bullet_rx) || m[1].length() < 2)
      continue; // plain text
    auto body = m[2].str();
    std::smatch km;
    if (!std::regex_match(body, km, key_rx))
      continue; // a note under the task
    auto key = to_lower(km[1].str());
    auto value = trim(km[2].str());
    if (current == nullptr)
      return md_error(no, "'" + km[1].str() + "' does not belong to a task");
    if (key == "depends on" || key == "dependencies") {
      if (to_lower(value) == "none" || value == "-")
        continue;
      for (auto& dep : split(value, ','))
        current->dependencies.push_back(std::move(dep));
    } else if (key == "priority") {
      auto p = parse_int(value);
      if (!p || *p < std::numeric_limits<int32_t>::min()
          || *p > std::numeric_limits<int32_t>::max())
        return md_error(no, "Priority: expected an integer");
      current->priority = static_cast<int32_t>(*p);
    } else if (key == "requirements") {
      for (auto& req : split(value, ';'))
        current->constraints.requirements.push_back(std::move(req));
    } else { // rubric
      current->constraints.rubric = value;
    }
  }
  return {};
}

bool is_task_section_line(const std::string& line) {
  return is_role_heading(expand_line(line));
}

} // namespace orch::plan_documents
