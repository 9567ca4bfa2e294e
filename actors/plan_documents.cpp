// The PLANNER's document parsers: YAML and JSON plans read into a neutral
// document tree and then into a plan_doc; markdown checklists are read by
// plan_markdown.cpp.

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

namespace {

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

problem read_yaml_header(const std::string& yaml, plan_doc& out) {
  dnode root;
  if (auto p = parse_yaml(yaml, root))
    return p;
  if (root.kind == dnode::null_k)
    return {};
  if (root.kind != dnode::map_k)
    return invalid("expected a map");
  return read_header(root, out);
}

std::string detect_format(const std::string& text) {
  auto t = trim(text);
  if (!t.empty() && t.front() == '{')
    return "json";
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (is_task_section_line(line))
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
