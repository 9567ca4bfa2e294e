// The PLANNER's document parsers: YAML and JSON plans read into a neutral
// document tree and then into a plan_doc; markdown checklists read directly.

#include "actors/plan_documents.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "messages/ascii.hpp"

namespace orch::plan_documents {

// -- small helpers ------------------------------------------------------------

problem invalid(std::string text) {
  return {ec::invalid_argument, std::move(text)};
}

std::string trim(std::string_view x) {
  auto blank = [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
  };
  while (!x.empty() && blank(x.front()))
    x.remove_prefix(1);
  while (!x.empty() && blank(x.back()))
    x.remove_suffix(1);
  return std::string{x};
}

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string out;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += sep;
    out += xs[i];
  }
  return out;
}

namespace {

std::vector<std::string> split(const std::string& x, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in{x};
  while (std::getline(in, cur, sep)) {
    auto t = trim(cur);
    if (!t.empty())
      out.push_back(std::move(t));
  }
  return out;
}

std::optional<int64_t> parse_int(const std::string& x) {
  auto s = std::string_view{x};
  if (!s.empty() && s.front() == '+')
    s.remove_prefix(1);
  int64_t out = 0;
  auto [ptr, err] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || err != std::errc{} || ptr != s.data() + s.size())
    return std::nullopt;
  return out;
}

// -- a neutral document tree (YAML and JSON read into the same shape) ---------

struct dnode {
  enum kind_t { null_k, bool_k, int_k, real_k, string_k, list_k, map_k };
  kind_t kind = null_k;
  /// The text of a scalar.
  std::string text;
  int64_t integer = 0;
  std::vector<dnode> items;
  std::vector<std::pair<std::string, dnode>> fields;

  bool scalar() const {
    return kind != list_k && kind != map_k;
  }

  const dnode* find(const std::string& key) const {
    for (auto& [k, v] : fields)
      if (k == key)
        return &v;
    return nullptr;
  }
};

/// Resolves a plain (unquoted) YAML scalar the way YAML 1.2 core does.
void resolve_plain(dnode& x) {
  static const std::regex real_rx{
    R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)"};
  const auto& t = x.text;
  if (t.empty() || t == "~" || t == "null" || t == "Null" || t == "NULL") {
    x.kind = dnode::null_k;
  } else if (t == "true" || t == "True" || t == "TRUE" || t == "false"
             || t == "False" || t == "FALSE") {
    x.kind = dnode::bool_k;
  } else if (auto i = parse_int(t)) {
    x.kind = dnode::int_k;
    x.integer = *i;
  } else if (std::regex_match(t, real_rx)) {
    // Also integers too large for 64 bits.
    x.kind = dnode::real_k;
  } else {
    x.kind = dnode::string_k;
  }
}

/// Bounds on a plan document's tree: YAML aliases can make a short text
/// expand without end (an alias to its own ancestor) or exponentially.
struct tree_budget {
  static constexpr int max_depth = 64;
  static constexpr size_t max_nodes = 100000;
  size_t nodes = 0;

  /// Throws tree_too_large when `depth` or the node count is past a bound.
  void take(int depth) {
    if (depth > max_depth)
      throw tree_too_large{"nested deeper than "
                           + std::to_string(max_depth) + " levels"};
    if (++nodes > max_nodes)
      throw tree_too_large{"more than " + std::to_string(max_nodes)
                           + " values (aliases expanded)"};
  }

  struct tree_too_large {
    std::string what;
  };
};

dnode from_yaml(const YAML::Node& n, tree_budget& budget, int depth = 0) {
  budget.take(depth);
  dnode out;
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      out.text = n.Scalar();
      out.kind = dnode::string_k;
      if (n.Tag() == "?")
        resolve_plain(out);
      break;
    case YAML::NodeType::Sequence:
      out.kind = dnode::list_k;
      for (const auto& x : n)
        out.items.push_back(from_yaml(x, budget, depth + 1));
      break;
    case YAML::NodeType::Map:
      out.kind = dnode::map_k;
      for (const auto& kv : n) {
        auto key = kv.first.IsScalar() ? kv.first.Scalar() : std::string{};
        out.fields.emplace_back(std::move(key),
                                from_yaml(kv.second, budget, depth + 1));
      }
      break;
    default: break;
  }
  return out;
}

dnode from_json(const nlohmann::json& j, tree_budget& budget, int depth = 0) {
  budget.take(depth);
  dnode out;
  switch (j.type()) {
    case nlohmann::json::value_t::boolean:
      out.kind = dnode::bool_k;
      out.text = j.dump();
      break;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      out.text = j.dump();
      if (auto i = parse_int(out.text)) {
        out.kind = dnode::int_k;
        out.integer = *i;
      } else {
        out.kind = dnode::real_k;
      }
      break;
    case nlohmann::json::value_t::number_float:
      out.kind = dnode::real_k;
      out.text = j.dump();
      break;
    case nlohmann::json::value_t::string:
      out.kind = dnode::string_k;
      out.text = j.get<std::string>();
      break;
    case nlohmann::json::value_t::array:
      out.kind = dnode::list_k;
      for (const auto& x : j)
        out.items.push_back(from_json(x, budget, depth + 1));
      break;
    case nlohmann::json::value_t::object:
      out.kind = dnode::map_k;
      for (const auto& [k, v] : j.items())
        out.fields.emplace_back(k, from_json(v, budget, depth + 1));
      break;
    default: break;
  }
  return out;
}

// -- reading fields -----------------------------------------------------------

problem read_string(const dnode& x, const std::string& path, std::string& out) {
  if (!x.scalar())
    return invalid(path + ": expected a string");
  out = x.kind == dnode::null_k ? std::string{} : x.text;
  return {};
}

problem read_int(const dnode& x, const std::string& path, int32_t& out) {
  if (x.kind != dnode::int_k)
    return invalid(path + ": expected an integer");
  if (x.integer < std::numeric_limits<int32_t>::min()
      || x.integer > std::numeric_limits<int32_t>::max())
    return invalid(path + ": integer out of range");
  out = static_cast<int32_t>(x.integer);
  return {};
}

problem read_strings(const dnode& x, const std::string& path,
                     std::vector<std::string>& out) {
  out.clear();
  if (x.kind == dnode::null_k)
    return {};
  if (x.kind != dnode::list_k)
    return invalid(path + ": expected a list of strings");
  for (const auto& item : x.items) {
    if (!item.scalar() || item.kind == dnode::null_k)
      return invalid(path + ": expected a list of strings");
    out.push_back(item.text);
  }
  return {};
}

problem read_string_map(const dnode& x, const std::string& path,
                        std::map<std::string, std::string>& out) {
  if (x.kind == dnode::null_k)
    return {};
  if (x.kind != dnode::map_k)
    return invalid(path + ": expected a map of strings");
  for (const auto& [k, v] : x.fields) {
    if (!v.scalar())
      return invalid(path + "." + k + ": expected a string");
    out[k] = v.kind == dnode::null_k ? std::string{} : v.text;
  }
  return {};
}

problem read_constraints(const dnode& x, const std::string& path,
                         constraints& out) {
  if (x.kind == dnode::null_k)
    return {};
  if (x.kind != dnode::map_k)
    return invalid(path + ": expected a map");
  const std::pair<const char*, int32_t*> ints[] = {
    {"max_iterations", &out.max_iterations},
    {"timeout_seconds", &out.timeout_seconds},
    {"k", &out.k},
    {"rounds", &out.rounds},
  };
  for (const auto& [k, v] : x.fields) {
    auto field = path + "." + k;
    problem p;
    if (k == "rubric")
      p = read_string(v, field, out.rubric);
    else if (k == "requirements")
      p = read_strings(v, field, out.requirements);
    else if (k == "metadata")
      p = read_string_map(v, field, out.metadata);
    for (const auto& [name, ptr] : ints)
      if (k == name)
        p = read_int(v, field, *ptr);
    if (p)
      return p;
  }
  return {};
}

problem read_task(const dnode& x, const std::string& path, task_spec& out) {
  if (x.kind != dnode::map_k)
    return invalid(path + ": expected a map");
  for (const auto& [k, v] : x.fields) {
    auto field = path + "." + k;
    problem p;
    if (k == "task_id")
      p = read_string(v, field, out.task_id);
    else if (k == "role")
      p = read_string(v, field, out.role);
    else if (k == "description")
      p = read_string(v, field, out.description);
    else if (k == "case_id")
      p = read_string(v, field, out.case_id);
    else if (k == "dependencies")
      p = read_strings(v, field, out.dependencies);
    else if (k == "priority")
      p = read_int(v, field, out.priority);
    else if (k == "constraints")
      p = read_constraints(v, field, out.constraints);
    if (p)
      return p;
  }
  return {};
}

problem read_task_list(const dnode& x, plan_doc& out) {
  if (x.kind == dnode::null_k)
    return {};
  if (x.kind != dnode::list_k)
    return invalid("tasks: expected a list of tasks");
  for (size_t i = 0; i < x.items.size(); ++i) {
    task_spec t;
    if (auto p = read_task(x.items[i], "tasks[" + std::to_string(i) + "]", t))
      return p;
    out.tasks.push_back(std::move(t));
  }
  return {};
}

/// Reads story_id, plan_id, approved_by and roles of a top-level map.
problem read_header(const dnode& x, plan_doc& out) {
  for (const auto& [k, v] : x.fields) {
    problem p;
    if (k == "story_id")
      p = read_string(v, k, out.story_id);
    else if (k == "plan_id")
      p = read_string(v, k, out.plan_id);
    else if (k == "approved_by")
      p = read_string(v, k, out.approved_by);
    else if (k == "roles")
      p = read_strings(v, k, out.roles);
    if (p)
      return p;
  }
  return {};
}

problem read_tree(const dnode& root, plan_doc& out) {
  if (root.kind == dnode::list_k)
    return read_task_list(root, out);
  if (root.kind != dnode::map_k)
    return invalid("plan document: expected a map with a tasks list or a "
                   "list of tasks");
  if (auto p = read_header(root, out))
    return p;
  if (auto tasks = root.find("tasks"))
    return read_task_list(*tasks, out);
  return {};
}

problem parse_yaml(const std::string& text, dnode& out) {
  try {
    tree_budget budget;
    out = from_yaml(YAML::Load(text), budget);
  } catch (const tree_budget::tree_too_large& e) {
    return {ec::decode_failed, "YAML plan too large: " + e.what};
  } catch (const YAML::Exception& e) {
    return {ec::decode_failed,
            "malformed YAML plan: line " + std::to_string(e.mark.line + 1)
              + ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg};
  }
  return {};
}

problem parse_json(const std::string& text, dnode& out) {
  try {
    tree_budget budget;
    out = from_json(nlohmann::json::parse(text), budget);
  } catch (const tree_budget::tree_too_large& e) {
    return {ec::decode_failed, "JSON plan too large: " + e.what};
  } catch (const nlohmann::json::exception& e) {
    // Drop the "[json.exception.parse_error.101] " tag.
    std::string what = e.what();
    if (auto pos = what.find("] ");
        !what.empty() && what.front() == '[' && pos != std::string::npos)
      what.erase(0, pos + 2);
    return {ec::decode_failed, "malformed JSON plan: " + what};
  }
  return {};
}

// -- markdown -----------------------------------------------------------------

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
  dnode root;
  if (auto p = parse_yaml(yaml, root))
    return md_error(1, "front matter: " + p.text);
  if (root.kind == dnode::null_k)
    return {};
  if (root.kind != dnode::map_k)
    return md_error(1, "front matter: expected a map");
  if (auto p = read_header(root, out))
    return md_error(1, "front matter: " + p.text);
  return {};
}

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

// -- documents ----------------------------------------------------------------

/// The canonical format name, or nothing for an unknown one.
std::optional<std::string> canonical_format(const std::string& format,
                                            const std::string& text) {
  auto f = to_lower(trim(format));
  if (f.empty() || f == "auto")
    return detect_format(text);
  if (f == "yaml" || f == "yml")
    return "yaml";
  if (f == "json")
    return "json";
  if (f == "markdown" || f == "md")
    return "markdown";
  return std::nullopt;
}

} // namespace

std::string detect_format(const std::string& text) {
  auto t = trim(text);
  if (!t.empty() && t.front() == '{')
    return "json";
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (is_role_heading(expand_line(line)))
      return "markdown";
  return "yaml";
}

problem parse_document(const std::string& text, const std::string& format,
                       plan_doc& out) {
  auto f = canonical_format(format, text);
  if (!f)
    return invalid("unknown plan format '" + format
                   + "' (expected auto, yaml, json or markdown)");
  if (*f == "markdown")
    return parse_markdown(text, out);
  dnode root;
  if (auto p = *f == "json" ? parse_json(text, root) : parse_yaml(text, root))
    return p;
  return read_tree(root, out);
}

} // namespace orch::plan_documents
