#pragma once

// Pieces of the benchmarks that load the service through NATS (e2e, soak):
// plans as published to planning.plan.approved, fields read from an event
// without parsing it, percentiles, and what /proc says about a process.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "messages/events.hpp"

namespace orch::bench {

using clock_type = std::chrono::steady_clock;

inline double ms_since(clock_type::time_point t0, clock_type::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

/// The p-quantile (0..1) of `xs` (0 when empty).
inline double pct(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[i];
}

/// A plan of `tasks` independent DEV tasks in its envelope, with the
/// idempotency key "bench:<plan_id>".
inline std::string plan_bytes(const std::string& plan_id, int tasks) {
  using json = nlohmann::json;
  auto arr = json::array();
  for (int i = 1; i <= tasks; ++i)
    arr.push_back({{"task_id", "T" + std::to_string(i)},
                   {"role", "DEV"},
                   {"description", "Implement step " + std::to_string(i)
                                     + " of " + plan_id
                                     + " with input validation"},
                   {"priority", 1},
                   {"constraints",
                    {{"requirements", {"input validation"}},
                     {"rubric", "tested"}}}});
  outbound_event ev;
  ev.subject = subject::plan_approved_in;
  ev.idempotency_key = "bench:" + plan_id;
  ev.correlation_id = plan_id;
  ev.payload = json{{"story_id", "story-" + plan_id},
                    {"plan_id", plan_id},
                    {"approved_by", "bench"},
                    {"timestamp", epoch_seconds()},
                    {"tasks", arr}}
                 .dump();
  return encode_envelope(ev, false);
}

/// The text after the first `key` in `doc`, up to `end`: reading one field
/// of an event without parsing all of it.
inline std::string field(const std::string& doc, const char* key, char end) {
  auto at = doc.find(key);
  if (at == std::string::npos)
    return {};
  at += std::strlen(key);
  return doc.substr(at, doc.find(end, at) - at);
}

/// Open file descriptors of a process (-1 when unknown).
inline int fd_count(pid_t pid) {
  auto path = "/proc/" + std::to_string(pid) + "/fd";
  auto* d = ::opendir(path.c_str());
  if (!d)
    return -1;
  int n = 0;
  while (auto* e = ::readdir(d))
    n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

/// CPU seconds (user + system) a process has used so far (-1 when unknown).
inline double cpu_seconds(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat;
  std::getline(in, stat);
  // Fields after the command name, which is in parentheses: state is the
  // 3rd field of the line, utime the 14th and stime the 15th.
  auto close = stat.rfind(')');
  if (close == std::string::npos)
    return -1;
  std::istringstream rest{stat.substr(close + 2)};
  std::string skip;
  for (int i = 3; i < 14; ++i)
    rest >> skip;
  double utime = 0;
  double stime = 0;
  rest >> utime >> stime;
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

} // namespace orch::bench
