// The NATS contract's produced side (messages/events.hpp): the payloads of
// the events we publish, the trace they carry, and the envelope. The
// consumed side is event_decoding.cpp.

#include "messages/events.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "messages/ascii.hpp"
#include "messages/hash.hpp"
#include "messages/json_codec.hpp"

namespace orch {

namespace {

using json = nlohmann::ordered_json;

json decisions_of(const deliberation_outcome& out) {
  auto arr = json::array();
  for (auto& r : out.results) {
    auto winner = r.proposal.author_id == out.winner_id;
    std::string why = winner && !out.rationale.empty()
                        ? out.rationale
                        : "rank " + std::to_string(r.rank) + " with score "
                            + std::to_string(r.score);
    arr.push_back(json{{"id", r.proposal.id},
                       {"type", winner ? "winner" : "candidate"},
                       {"rationale", why},
                       {"author_id", r.proposal.author_id},
                       {"author_role", r.proposal.author_role},
                       {"content", r.proposal.content},
                       {"score", r.score}});
  }
  return arr;
}

outbound_event make(std::string subj, std::string key, const json& payload,
                    const trace_context& trace) {
  outbound_event ev;
  ev.subject = std::move(subj);
  ev.idempotency_key = std::move(key);
  ev.payload = compact_json(payload);
  ev.correlation_id = trace.correlation_id;
  ev.causation_id = trace.causation_id;
  ev.traceparent = trace.traceparent;
  return ev;
}

} // namespace

// -- tracing ------------------------------------------------------------------

trace_context trace_of(const task_spec& task) {
  trace_context out;
  auto& md = task.constraints.metadata;
  auto get = [&](const char* k, std::string& x) {
    if (auto i = md.find(k); i != md.end())
      x = i->second;
  };
  get("correlation_id", out.correlation_id);
  get("causation_id", out.causation_id);
  get("traceparent", out.traceparent);
  return out;
}

void stamp_trace(task_spec& task, const trace_context& trace) {
  auto& md = task.constraints.metadata;
  if (!trace.correlation_id.empty())
    md["correlation_id"] = trace.correlation_id;
  if (!trace.causation_id.empty())
    md["causation_id"] = trace.causation_id;
  if (!trace.traceparent.empty())
    md["traceparent"] = trace.traceparent;
}

// -- produced -----------------------------------------------------------------

outbound_event plan_approved_event(const plan_input& plan,
                                   const std::vector<task_spec>& tasks,
                                   const trace_context& trace) {
  auto ids = json::array();
  auto roles = json::array();
  std::vector<std::string> seen;
  for (auto& t : tasks) {
    ids.push_back(t.task_id);
    if (std::find(seen.begin(), seen.end(), t.role) == seen.end()) {
      seen.push_back(t.role);
      roles.push_back(t.role);
    }
  }
  json p{{"story_id", plan.story_id}, {"plan_id", plan.plan_id},
         {"approved_by", plan.approved_by}, {"roles", roles},
         {"task_ids", ids}, {"timestamp", epoch_seconds()}};
  return make(subject::plan_approved, "plan.approved:" + plan.plan_id, p,
              trace);
}

int64_t open_tasks(const std::map<std::string, int64_t>& counts) {
  int64_t n = 0;
  for (auto s : {"QUEUED", "READY", "IN_PROGRESS"})
    if (auto i = counts.find(s); i != counts.end())
      n += i->second;
  return n;
}

outbound_event plan_completed_event(const task_spec& t,
                                    const std::map<std::string, int64_t>& n) {
  json counts = json::object();
  int64_t total = 0;
  for (auto& [k, v] : n) {
    counts[k] = v;
    total += v;
  }
  auto get = [&](const char* k) {
    auto i = n.find(k);
    return i == n.end() ? int64_t{0} : i->second;
  };
  json p{{"story_id", t.story_id},
         {"plan_id", t.plan_id},
         {"status", get("COMPLETED") == total ? "completed" : "failed"},
         {"total", total},
         {"counts", counts},
         {"timestamp", epoch_seconds()}};
  return make(subject::plan_completed, "plan.completed:" + t.plan_id, p,
              trace_of(t));
}

outbound_event plan_done_marker(const task_spec& any_task) {
  auto ev = plan_completed_event(any_task, {});
  ev.when = "plan_done";
  return ev;
}

task_spec plan_task_of(const outbound_event& ev) {
  task_spec t;
  auto p = json::parse(ev.payload, nullptr, false);
  auto str = [&](const char* k, std::string& out) {
    if (p.is_object() && p.contains(k) && p[k].is_string())
      out = p[k].get<std::string>();
  };
  str("story_id", t.story_id);
  str("plan_id", t.plan_id);
  stamp_trace(t, {ev.correlation_id, ev.causation_id, ev.traceparent});
  return t;
}

outbound_event phase_changed_event(const story_transition& x,
                                   const trace_context& trace) {
  json p{{"story_id", x.story_id}, {"from_phase", x.from_phase},
         {"to_phase", x.to_phase}, {"timestamp", epoch_seconds()}};
  char ts[64];
  std::snprintf(ts, sizeof(ts), "%.6f", x.timestamp);
  return make(subject::phase_changed,
              "phase.changed:" + x.story_id + ":" + x.from_phase + ":"
                + x.to_phase + ":" + ts,
              p, trace);
}

namespace {

/// An event about task `t`: story_id, plan_id, task_id and role, then
/// `fields`, then the timestamp; traced like the task.
outbound_event task_event(const char* subj, std::string key, const task_spec& t,
                          const json& fields) {
  json p{{"story_id", t.story_id},
         {"plan_id", t.plan_id},
         {"task_id", t.task_id},
         {"role", t.role}};
  for (auto& [k, v] : fields.items())
    p[k] = v;
  p["timestamp"] = epoch_seconds();
  return make(subj, std::move(key), p, trace_of(t));
}

} // namespace

outbound_event task_dispatched_event(const task_spec& t,
                                     const std::vector<std::string>& agent_ids,
                                     int32_t attempt) {
  return task_event(subject::task_dispatched,
                    "task.dispatched:" + t.task_id + ":"
                      + std::to_string(attempt),
                    t,
                    {{"council_id", council_id_for(t.role)},
                     {"agent_ids", agent_ids},
                     {"attempt", attempt}});
}

outbound_event progress_event(const task_spec& t,
                              const deliberation_update& up) {
  json p{{"task_id", up.task_id},
         {"execution_id", up.execution_id},
         {"status", up.status},
         {"progress_percent", up.progress_percent},
         {"current_step", up.current_step},
         {"current_agent", up.current_agent},
         {"round", up.round}};
  return make(subject::progress,
              "deliberation.progress:" + up.execution_id + ":" + up.status + ":"
                + up.current_step + ":" + up.current_agent,
              p, trace_of(t));
}

outbound_event deliberation_completed_event(const task_spec& t,
                                            const deliberation_outcome& out) {
  auto ev = task_event(subject::completed,
                       "deliberation.completed:" + t.task_id, t,
                       {{"execution_id", out.execution_id},
                        {"winner_id", out.winner_id},
                        {"decisions", decisions_of(out)},
                        {"duration_ms", out.duration_ms}});
  // The results are already JSON objects: splice them in as text instead
  // of parsing and printing them again.
  std::string results = ",\"results\":[";
  for (size_t i = 0; i < out.results.size(); ++i) {
    if (i > 0)
      results += ',';
    results += to_json(out.results[i]);
  }
  results += "]}";
  ev.payload.pop_back(); // the closing brace
  ev.payload += results;
  return ev;
}

outbound_event task_completed_event(const task_spec& t,
                                    const deliberation_outcome& out) {
  int passed = 0;
  for (auto& r : out.results)
    if (r.proposal.author_id == out.winner_id)
      passed = checks_passed(r.checks);
  return task_event(subject::task_completed, "task.completed:" + t.task_id, t,
                    {{"agent_id", out.winner_id},
                     {"duration_ms", out.duration_ms},
                     {"checks_passed", passed}});
}

outbound_event deliberation_failed_event(const task_spec& t,
                                         const std::string& error,
                                         const std::string& error_type,
                                         int32_t attempt) {
  return task_event(subject::failed,
                    "deliberation.failed:" + t.task_id + ":"
                      + std::to_string(attempt),
                    t,
                    {{"error", error},
                     {"error_type", error_type},
                     {"failed_agents", json::array()},
                     {"attempt", attempt}});
}

outbound_event task_failed_event(const task_spec& t, const std::string& error,
                                 const std::string& error_type,
                                 int64_t duration_ms) {
  auto ev = task_event(subject::task_failed, "task.failed:" + t.task_id, t,
                       {{"agent_id", ""},
                        {"duration_ms", duration_ms},
                        {"error", error},
                        {"error_type", error_type}});
  ev.when = "final";
  return ev;
}

outbound_event dead_letter_event(const inbound_event& msg,
                                 const std::string& reason) {
  json headers = json::object();
  for (auto& [k, v] : msg.headers)
    headers[k] = v;
  json p{{"reason", reason},
         {"original_subject", msg.subject},
         {"headers", headers},
         {"data_base64", base64(msg.data)},
         {"size", msg.data.size()},
         {"delivered", msg.delivered},
         {"timestamp", epoch_seconds()}};
  trace_context tc;
  if (auto i = msg.headers.find("traceparent"); i != msg.headers.end())
    tc.traceparent = i->second;
  return make(subject::dead_letter,
              "dead_letter:" + msg.subject + ":" + stable_hash(msg.data), p,
              tc);
}

outbound_event agent_command_event(const agent_command& c) {
  auto input = json::parse(c.input, nullptr, false);
  if (input.is_discarded())
    input = c.input;
  json p{{"task_id", c.task_id},
         {"agent_id", c.agent_id},
         {"role", c.role},
         {"op", c.op},
         {"correlation_id", c.correlation_id},
         {"timeout_ms", c.timeout_ms},
         {"input", input},
         {"timestamp", epoch_seconds()}};
  trace_context tc;
  tc.correlation_id = c.correlation_id;
  std::string role = c.role;
  for (auto& ch : role)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return make("agent.cmd." + role + "." + c.op,
              "agent.cmd:" + c.correlation_id, p, tc);
}

// -- the envelope -------------------------------------------------------------

std::string encode_envelope(const outbound_event& ev, bool msgpack) {
  if (!msgpack && !ev.payload.empty() && ev.payload.front() == '{') {
    // Our payloads are JSON objects already: splice the text in.
    json env{{"event_type", ev.subject},
             {"payload", nullptr},
             {"idempotency_key", ev.idempotency_key},
             {"correlation_id", ev.correlation_id},
             {"timestamp", iso8601_now()},
             {"producer", "orchestrator-service"},
             {"metadata", json::object()},
             {"causation_id", ev.causation_id}};
    auto text = compact_json(env);
    static constexpr std::string_view hole = "\"payload\":null";
    auto at = text.find(hole);
    return text.substr(0, at) + "\"payload\":" + ev.payload
           + text.substr(at + hole.size());
  }
  auto payload = json::parse(ev.payload, nullptr, false);
  if (payload.is_discarded())
    payload = ev.payload;
  json env{{"event_type", ev.subject},
           {"payload", std::move(payload)},
           {"idempotency_key", ev.idempotency_key},
           {"correlation_id", ev.correlation_id},
           {"timestamp", iso8601_now()},
           {"producer", "orchestrator-service"},
           {"metadata", json::object()},
           {"causation_id", ev.causation_id}};
  if (msgpack) {
    auto bytes = json::to_msgpack(env);
    return std::string{bytes.begin(), bytes.end()};
  }
  return compact_json(env);
}

std::map<std::string, std::string> event_headers(const outbound_event& ev,
                                                 bool msgpack) {
  std::map<std::string, std::string> h{{"Nats-Msg-Id", ev.idempotency_key}};
  if (!ev.traceparent.empty())
    h["traceparent"] = ev.traceparent;
  if (!ev.correlation_id.empty())
    h["correlation_id"] = ev.correlation_id;
  h["Content-Type"] = msgpack ? "application/msgpack" : "application/json";
  return h;
}

std::string iso8601_now() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

double epoch_seconds() {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(system_clock::now().time_since_epoch());
  return static_cast<double>(us.count()) / 1e6;
}

std::string base64(const std::string& in) {
  static constexpr char tbl[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8)
             | uint8_t(in[i + 2]);
    out += tbl[(n >> 18) & 63];
    out += tbl[(n >> 12) & 63];
    out += tbl[(n >> 6) & 63];
    out += tbl[n & 63];
  }
  if (i < in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size())
      n |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += tbl[(n >> 18) & 63];
    out += tbl[(n >> 12) & 63];
    out += i + 1 < in.size() ? tbl[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string stable_hash(const std::string& bytes) {
  std::string out;
  append_hex(out, fnv1a(bytes), 16);
  return out;
}

} // namespace orch
