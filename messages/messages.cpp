#include "messages/messages.hpp"


#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ostream>

#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

#include "messages/ascii.hpp"

namespace orch {

const char* to_string(ec x) {
  switch (x) {
    case ec::none: return "none";
    case ec::invalid_argument: return "invalid_argument";
    case ec::not_found: return "not_found";
    case ec::already_exists: return "already_exists";
    case ec::timeout: return "timeout";
    case ec::quorum_not_reached: return "quorum_not_reached";
    case ec::agent_failed: return "agent_failed";
    case ec::decode_failed: return "decode_failed";
    case ec::invalid_config: return "invalid_config";
    case ec::process_failed: return "process_failed";
    case ec::internal: return "internal";
    case ec::cancelled: return "cancelled";
    case ec::refused: return "refused";
    case ec::unavailable: return "unavailable";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, ec x) {
  return os << to_string(x);
}

namespace {

std::string render_context(const caf::message& ctx) {
  std::string out;
  for (size_t i = 0; i < ctx.size(); ++i) {
    if (!ctx.match_element<std::string>(i))
      return caf::to_string(ctx);
    if (!out.empty())
      out += ", ";
    out += ctx.get_as<std::string>(i);
  }
  return out;
}

} // namespace

std::string detail_of(const caf::error& err) {
  return render_context(err.context());
}

std::string render(const caf::error& err) {
  if (!err)
    return "none";
  std::string out;
  if (err.category() == caf::atom("orch")) {
    out = "orch.";
    out += to_string(static_cast<ec>(err.code()));
  } else if (err.category() == caf::atom("system")) {
    out = "system.";
    out += caf::to_string(static_cast<caf::sec>(err.code()));
  } else if (err.category() == caf::atom("exit")) {
    out = "exit.";
    out += caf::to_string(static_cast<caf::exit_reason>(err.code()));
  } else {
    out = caf::to_string(err.category());
    out += '.';
    out += std::to_string(err.code());
  }
  auto ctx = render_context(err.context());
  if (!ctx.empty()) {
    out += ": ";
    out += ctx;
  }
  return out;
}

ec code_of(const caf::error& err) {
  if (!err)
    return ec::none;
  if (err.category() == caf::atom("orch"))
    return static_cast<ec>(err.code());
  if (err.category() == caf::atom("system")
      && static_cast<caf::sec>(err.code()) == caf::sec::request_timeout)
    return ec::timeout;
  return ec::internal;
}

void add_usage(llm_usage& x, const llm_usage& y) {
  x.calls += y.calls;
  x.prompt_tokens += y.prompt_tokens;
  x.completion_tokens += y.completion_tokens;
  x.retries += y.retries;
  x.latency_ms += y.latency_ms;
}

int checks_passed(const check_suite& x) {
  int n = 0;
  n += x.policy.passed ? 1 : 0;
  n += x.lint.passed ? 1 : 0;
  n += x.dryrun.passed ? 1 : 0;
  for (auto& c : x.additional)
    n += c.passed ? 1 : 0;
  return n;
}

int checks_total(const check_suite& x) {
  return 3 + static_cast<int>(x.additional.size());
}

std::string normalize_role(const std::string& role) {
  size_t b = 0;
  size_t e = role.size();
  while (b < e && std::isspace(static_cast<unsigned char>(role[b])))
    ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(role[e - 1])))
    --e;
  std::string out;
  out.reserve(e - b);
  for (auto i = b; i < e; ++i)
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(role[i])));
  return out;
}

std::string council_id_for(const std::string& role) {
  return "council-" + to_lower(normalize_role(role));
}

std::string agent_id_for(const std::string& role, int number) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%03d", number);
  return "agent-" + to_lower(normalize_role(role)) + "-" + buf;
}

bool is_blank(std::string_view x) {
  for (auto c : x)
    if (!std::isspace(static_cast<unsigned char>(c)))
      return false;
  return true;
}

std::optional<std::string> unqueueable(const task_spec& t) {
  if (is_blank(t.task_id))
    return "a task without task_id cannot be queued";
  auto nul = [](const std::string& id) {
    return id.find('\0') != std::string::npos;
  };
  if (nul(t.task_id))
    return "task id '" + std::string{t.task_id.c_str()}
           + "...' holds a NUL byte";
  for (auto& d : t.dependencies)
    if (nul(d))
      return "dependency '" + std::string{d.c_str()} + "...' of task "
             + t.task_id + " holds a NUL byte";
  return std::nullopt;
}

double percentile_of(std::vector<int64_t> xs, double p) {
  if (xs.empty())
    return 0;
  auto rank = std::min(static_cast<size_t>(p / 100.0 * (xs.size() - 1) + 0.5),
                       xs.size() - 1);
  std::nth_element(xs.begin(), xs.begin() + static_cast<ptrdiff_t>(rank),
                   xs.end());
  return static_cast<double>(xs[rank]);
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

std::string redact_url(const std::string& url) {
  auto scheme = url.find("://");
  auto start = scheme == std::string::npos ? 0 : scheme + 3;
  auto at = url.find('@', start);
  if (at == std::string::npos)
    return url;
  auto colon = url.find(':', start);
  if (colon != std::string::npos && colon < at)
    return url.substr(0, colon + 1) + "***" + url.substr(at);
  return url.substr(0, start) + "***" + url.substr(at);
}


} // namespace orch
