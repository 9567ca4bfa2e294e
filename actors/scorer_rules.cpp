// The SCORER's rules: the built-in defaults, their validation and loading
// from YAML (split from scorer.cpp, which applies them).

#include "actors/scorer.hpp"
#include "actors/scorer_detail.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace orch {

namespace scorer_detail {

namespace {

/// Lower-cases the letters of a regex that are not escapes (`\S` must stay
/// `\S`), so that it matches lower-cased content like the original pattern
/// matches the original content case-insensitively.
std::string lower_regex(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size());
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      out += pattern[i];
      out += pattern[++i];
      continue;
    }
    out += lower_char(pattern[i]);
  }
  return out;
}


} // namespace

std::regex compile_regex(const std::string& pattern) {
  return std::regex{lower_regex(pattern),
                    std::regex::ECMAScript | std::regex::optimize};
}

bool is_builtin_lang(std::string_view lang) {
  return lang == "json" || lang == "yaml" || lang == "yml";
}

} // namespace scorer_detail

namespace {

using scorer_detail::compile_regex;
using scorer_detail::is_builtin_lang;
using scorer_detail::to_lower;

// -- YAML loading -------------------------------------------------------------

/// A problem at one key of a rules document.
struct config_problem {
  std::string key;
  std::string what;
};

[[noreturn]] void fail(std::string key, std::string what) {
  throw config_problem{std::move(key), std::move(what)};
}

std::string describe(const YAML::Node& node) {
  if (node.IsScalar())
    return "\"" + node.Scalar() + "\"";
  if (node.IsSequence())
    return "a list";
  if (node.IsMap())
    return "a mapping";
  return "nothing";
}

/// The scalar at `key` as a T; `expected` names T in the error.
template<class T>
T read_scalar(const YAML::Node& node, const std::string& key,
              const char* expected) {
  if (node.IsScalar()) {
    try {
      return node.as<T>();
    } catch (const YAML::Exception&) {
      // Reported below.
    }
  }
  fail(key, std::string{"expected "} + expected + ", got " + describe(node));
}

double read_double(const YAML::Node& node, const std::string& key) {
  return read_scalar<double>(node, key, "a number");
}

int32_t read_int32(const YAML::Node& node, const std::string& key) {
  return read_scalar<int32_t>(node, key, "an integer");
}

bool read_bool(const YAML::Node& node, const std::string& key) {
  return read_scalar<bool>(node, key, "true or false");
}

std::string read_string(const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar())
    fail(key, "expected a string, got " + describe(node));
  return node.Scalar();
}

std::string read_key(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar())
    fail(where, "keys must be strings");
  return node.Scalar();
}

std::vector<std::string> read_argv(const YAML::Node& node,
                                   const std::string& key) {
  if (!node.IsSequence())
    fail(key, "expected a command as a list of strings, e.g. [bash, -n], got "
                + describe(node));
  std::vector<std::string> out;
  for (size_t i = 0; i < node.size(); ++i)
    out.push_back(read_string(node[i], key + "[" + std::to_string(i) + "]"));
  if (out.empty())
    fail(key, "the command must not be empty");
  return out;
}

std::vector<deny_rule> read_deny(const YAML::Node& node) {
  if (!node.IsSequence())
    fail("deny",
         "expected a list of {name, pattern, regex}, got " + describe(node));
  std::vector<deny_rule> out;
  for (size_t i = 0; i < node.size(); ++i) {
    auto key = "deny[" + std::to_string(i) + "]";
    auto item = node[i];
    deny_rule rule;
    if (item.IsScalar()) {
      rule.pattern = item.Scalar();
      rule.name = rule.pattern;
      out.push_back(std::move(rule));
      continue;
    }
    if (!item.IsMap())
      fail(key, "expected {name, pattern, regex}, got " + describe(item));
    bool has_pattern = false;
    for (auto it = item.begin(); it != item.end(); ++it) {
      auto field = read_key(it->first, key);
      auto sub = key + "." + field;
      if (field == "name")
        rule.name = read_string(it->second, sub);
      else if (field == "pattern") {
        rule.pattern = read_string(it->second, sub);
        has_pattern = true;
      } else if (field == "regex")
        rule.regex = read_bool(it->second, sub);
      else
        fail(sub, "unknown key; expected name, pattern or regex");
    }
    if (!has_pattern)
      fail(key + ".pattern", "missing; give the text or regex to deny");
    if (rule.name.empty())
      rule.name = rule.pattern;
    out.push_back(std::move(rule));
  }
  return out;
}

std::map<std::string, lint_command> read_linters(const YAML::Node& node) {
  if (node.IsNull())
    return {};
  if (!node.IsMap())
    fail("linters",
         "expected a mapping language -> command, got " + describe(node));
  std::map<std::string, lint_command> out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    auto lang = to_lower(read_key(it->first, "linters"));
    auto key = "linters." + lang;
    if (is_builtin_lang(lang))
      fail(key, "JSON and YAML are checked built-in; remove this entry");
    YAML::Node value = it->second;
    lint_command cmd;
    if (value.IsMap()) {
      for (auto jt = value.begin(); jt != value.end(); ++jt) {
        auto field = read_key(jt->first, key);
        if (field == "argv")
          cmd.argv = read_argv(jt->second, key + ".argv");
        else
          fail(key + "." + field, "unknown key; expected argv");
      }
      if (cmd.argv.empty())
        fail(key + ".argv", "missing; give the command, e.g. [bash, -n]");
    } else {
      cmd.argv = read_argv(value, key);
    }
    out[lang] = std::move(cmd);
  }
  return out;
}

std::map<std::string, dryrun_command> read_dryrun(const YAML::Node& node) {
  if (node.IsNull())
    return {};
  if (!node.IsMap())
    fail("dryrun", "expected a mapping role -> {argv, timeout_ms}, got "
                     + describe(node));
  std::map<std::string, dryrun_command> out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    auto role = normalize_role(read_key(it->first, "dryrun"));
    auto key = "dryrun." + role;
    YAML::Node value = it->second;
    dryrun_command cmd;
    if (value.IsMap()) {
      for (auto jt = value.begin(); jt != value.end(); ++jt) {
        auto field = read_key(jt->first, key);
        if (field == "argv")
          cmd.argv = read_argv(jt->second, key + ".argv");
        else if (field == "timeout_ms")
          cmd.timeout_ms = read_int32(jt->second, key + ".timeout_ms");
        else
          fail(key + "." + field, "unknown key; expected argv or timeout_ms");
      }
      if (cmd.argv.empty())
        fail(key + ".argv", "missing; give the command, e.g. [make, check]");
    } else {
      cmd.argv = read_argv(value, key);
    }
    out[role] = std::move(cmd);
  }
  return out;
}

void read_weights(const YAML::Node& node, scorer_rules& rules) {
  if (!node.IsMap())
    fail("weights", "expected a mapping with policy, lint, dryrun, coverage, "
                    "got "
                      + describe(node));
  for (auto it = node.begin(); it != node.end(); ++it) {
    auto field = read_key(it->first, "weights");
    auto key = "weights." + field;
    if (field == "policy")
      rules.weight_policy = read_double(it->second, key);
    else if (field == "lint")
      rules.weight_lint = read_double(it->second, key);
    else if (field == "dryrun")
      rules.weight_dryrun = read_double(it->second, key);
    else if (field == "coverage")
      rules.weight_coverage = read_double(it->second, key);
    else
      fail(key, "unknown key; expected policy, lint, dryrun or coverage");
  }
}

scorer_rules read_rules(const YAML::Node& root) {
  auto rules = default_scorer_rules();
  if (root.IsNull())
    return rules;
  if (!root.IsMap())
    fail("(top level)", "expected a mapping, got " + describe(root));
  for (auto it = root.begin(); it != root.end(); ++it) {
    auto key = read_key(it->first, "(top level)");
    YAML::Node value = it->second;
    if (key == "deny")
      rules.deny = read_deny(value);
    else if (key == "linters")
      rules.linters = read_linters(value);
    else if (key == "dryrun")
      rules.dryrun = read_dryrun(value);
    else if (key == "weights")
      read_weights(value, rules);
    else if (key == "policy_cap")
      rules.policy_cap = read_double(value, key);
    else if (key == "lint_timeout_ms")
      rules.lint_timeout_ms = read_int32(value, key);
    else if (key == "max_output")
      rules.max_output = read_int32(value, key);
    else if (key == "profile")
      rules.profile = read_string(value, key);
    else
      fail(key, "unknown key; expected one of profile, deny, linters, "
                "dryrun, weights, policy_cap, lint_timeout_ms, max_output");
  }
  return rules;
}

caf::error config_error(const std::string& origin, const std::string& key,
                        const std::string& what) {
  return caf::make_error(ec::invalid_config,
                         "scorer rules " + origin + ": " + key + ": " + what);
}

std::string format_number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

} // namespace

// -- rules --------------------------------------------------------------------

scorer_rules default_scorer_rules() {
  scorer_rules r;
  r.deny = {
    // Secrets.
    {"aws_access_key", R"(\bAKIA[0-9A-Z]{16}\b)", true},
    {"private_key", "PRIVATE KEY-----", false},
    {"password_assignment", "password=", false},
    {"api_key_assignment", "api_key=", false},
    {"secret_key", "secret_key", false},
    // Destructive commands.
    {"rm_rf_root",
     R"(\brm[ \t]{1,16}-[a-z]{0,8}(r[a-z]{0,8}f|f[a-z]{0,8}r)[a-z]{0,8})"
     R"([ \t]{1,16}(--no-preserve-root[ \t]{1,16})?/(\*|[\s;&|'"]|$))",
     true},
    {"mkfs", "mkfs", false},
    {"dd_zero_device", "dd if=/dev/zero of=/dev/", false},
    {"fork_bomb", ":(){ :|:& };:", false},
    {"drop_database", "DROP DATABASE", false},
    {"chmod_777_root", "chmod -R 777 /", false},
    {"curl_pipe_shell",
     R"(\bcurl\s[^|\n]{0,256}\|[ \t]{0,16}(sudo[ \t]{1,16})?(ba|z)?sh\b)",
     true},
    {"wget_pipe_shell",
     R"(\bwget\s[^|\n]{0,256}\|[ \t]{0,16}(sudo[ \t]{1,16})?(ba|z)?sh\b)",
     true},
  };
  lint_command bash{{"bash", "-n"}};
  r.linters["bash"] = bash;
  r.linters["sh"] = bash;
  r.linters["shell"] = bash;
  lint_command python{
    {"python3", "-c",
     "import sys; compile(sys.stdin.read(), '<proposal>', 'exec')"}};
  r.linters["python"] = python;
  r.linters["py"] = python;
  return r;
}

caf::error validate_scorer_rules(const scorer_rules& rules,
                                 const std::string& origin) {
  if (rules.profile != "full" && rules.profile != "trivial")
    return config_error(origin, "profile",
                        "must be full or trivial, got \"" + rules.profile
                          + "\"");
  auto weight = [&](const char* name, double x) -> caf::error {
    if (!std::isfinite(x) || x < 0)
      return config_error(origin, std::string{"weights."} + name,
                          "must be a finite number >= 0, got "
                            + format_number(x));
    return {};
  };
  if (auto err = weight("policy", rules.weight_policy))
    return err;
  if (auto err = weight("lint", rules.weight_lint))
    return err;
  if (auto err = weight("dryrun", rules.weight_dryrun))
    return err;
  if (auto err = weight("coverage", rules.weight_coverage))
    return err;
  if (rules.weight_policy + rules.weight_lint + rules.weight_dryrun
        + rules.weight_coverage
      <= 0)
    return config_error(origin, "weights", "at least one weight must be > 0");
  if (!std::isfinite(rules.policy_cap) || rules.policy_cap < 0
      || rules.policy_cap > 1)
    return config_error(origin, "policy_cap",
                        "must be between 0 and 1, got "
                          + format_number(rules.policy_cap));
  if (rules.lint_timeout_ms <= 0)
    return config_error(origin, "lint_timeout_ms",
                        "must be > 0, got "
                          + std::to_string(rules.lint_timeout_ms));
  if (rules.max_output < 0)
    return config_error(origin, "max_output",
                        "must be >= 0, got "
                          + std::to_string(rules.max_output));
  for (size_t i = 0; i < rules.deny.size(); ++i) {
    auto& rule = rules.deny[i];
    auto key = "deny[" + std::to_string(i) + "]";
    if (rule.pattern.empty())
      return config_error(origin, key + ".pattern", "must not be empty");
    if (rule.regex) {
      try {
        static_cast<void>(compile_regex(rule.pattern));
      } catch (const std::regex_error& ex) {
        return config_error(origin, key + ".pattern",
                            std::string{"invalid regex: "} + ex.what()
                              + "; fix it or set regex: false to match "
                                "the text literally");
      }
    }
  }
  for (auto& [lang, cmd] : rules.linters) {
    if (is_builtin_lang(to_lower(lang)))
      return config_error(origin, "linters." + lang,
                          "JSON and YAML are checked built-in; remove this "
                          "entry");
    if (cmd.argv.empty() || cmd.argv.front().empty())
      return config_error(origin, "linters." + lang,
                          "the command must not be empty");
  }
  for (auto& [role, cmd] : rules.dryrun) {
    if (cmd.argv.empty() || cmd.argv.front().empty())
      return config_error(origin, "dryrun." + role + ".argv",
                          "the command must not be empty");
    if (cmd.timeout_ms <= 0)
      return config_error(origin, "dryrun." + role + ".timeout_ms",
                          "must be > 0, got " + std::to_string(cmd.timeout_ms));
  }
  return {};
}

caf::expected<scorer_rules> parse_scorer_rules(const std::string& yaml_text,
                                               const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& ex) {
    auto where = ex.mark.is_null()
                   ? std::string{"(document)"}
                   : "line " + std::to_string(ex.mark.line + 1) + ", column "
                       + std::to_string(ex.mark.column + 1);
    return config_error(origin, where, "invalid YAML: " + ex.msg);
  }
  scorer_rules rules;
  try {
    rules = read_rules(root);
  } catch (const config_problem& problem) {
    return config_error(origin, problem.key, problem.what);
  } catch (const YAML::Exception& ex) {
    return config_error(origin, "(document)", ex.msg);
  }
  if (auto err = validate_scorer_rules(rules, origin))
    return err;
  return rules;
}

caf::expected<scorer_rules> load_scorer_rules(const std::string& yaml_path) {
  std::ifstream in{yaml_path, std::ios::binary};
  if (!in)
    return caf::make_error(ec::invalid_config,
                           "scorer rules " + yaml_path
                             + ": cannot read the file; check the path");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_scorer_rules(text.str(), yaml_path);
}

} // namespace orch
