#pragma once

// The PLANNER's document parsers: the text of a plan document (YAML, JSON or a
// markdown checklist) read into a plan_doc. Internal to the planner
// (planner.cpp, plan_documents.cpp, plan_markdown.cpp).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages/messages.hpp"

namespace orch::plan_documents {

// -- small helpers ------------------------------------------------------------

/// The first problem found: a code and a message (code `none` means fine).
struct problem {
  ec code = ec::none;
  std::string text;

  explicit operator bool() const {
    return code != ec::none;
  }
};

/// An `ec::invalid_argument` problem saying `text`.
problem invalid(std::string text);

/// `x` without leading and trailing white space.
std::string trim(std::string_view x);

/// `xs` joined with `sep` between them.
std::string join(const std::vector<std::string>& xs, const char* sep);

/// The parts of `x` between `sep`s, trimmed, without empty ones.
std::vector<std::string> split(const std::string& x, char sep);

/// `x` as a whole decimal integer (an optional '+' first), or nothing.
std::optional<int64_t> parse_int(const std::string& x);

// -- documents ----------------------------------------------------------------

/// What a plan document says.
struct plan_doc {
  std::string story_id;
  std::string plan_id;
  std::string approved_by;
  std::vector<std::string> roles;
  std::vector<task_spec> tasks;
};

/// Reads a YAML text with a plan's story_id, plan_id, approved_by and roles
/// (an empty one says nothing) into `out`: the front matter of a markdown
/// plan.
problem read_yaml_header(const std::string& yaml, plan_doc& out);

/// Reads a markdown plan (plan_markdown.cpp).
problem parse_markdown(const std::string& text, plan_doc& out);

/// True when `line` of a text is a "## <ROLE> Tasks" heading: the text is
/// a markdown plan.
bool is_task_section_line(const std::string& line);

/// "json", "markdown" or "yaml" for the content of a plan document.
std::string detect_format(const std::string& text);

/// Reads a plan document: `format` is "yaml" ("yml"), "json", "markdown"
/// ("md"), or "auto" (or empty) to detect it from `text`. Returns the first
/// problem found.
problem parse_document(const std::string& text, const std::string& format,
                       plan_doc& out);

} // namespace orch::plan_documents
