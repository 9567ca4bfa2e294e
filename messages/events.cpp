#include "messages/events.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <climits>
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

/// Deepest nesting accepted in a consumed message.
constexpr int max_depth = 64;

std::string dump(const json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

caf::error bad(const std::string& path, const std::string& what) {
  return caf::make_error(ec::decode_failed, path + ": " + what);
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    case json::value_t::binary:
      return "binary";
    default:
      return "number";
  }
}

bool too_deep(const json& v, int depth = 0) {
  if (depth > max_depth)
    return true;
  if (v.is_array() || v.is_object())
    for (auto& x : v)
      if (too_deep(x, depth + 1))
        return true;
  return false;
}

/// Records, unless an error came first, that `where` is not of the type
/// `expected`.
void mismatch(caf::error& err, const std::string& where, const char* expected,
              const json& got) {
  if (!err)
    err = bad(where, std::string{"expected "} + expected + ", got "
                       + type_name(got));
}

/// Reads an optional (or required) field of `obj` with type checks.
struct reader {
  const json& obj;
  std::string path;

  const json* find(const char* key, bool required, caf::error& err) const {
    auto i = obj.find(key);
    if (i == obj.end() || i->is_null()) {
      if (required && !err)
        err = bad(path + "." + key, "required field is missing");
      return nullptr;
    }
    return &*i;
  }

  /// The field when it is there and `is` holds for it; otherwise null (a
  /// wrong type recorded in `err`).
  template<class Is>
  const json* typed(const char* key, bool required, caf::error& err, Is is,
                    const char* expected) const {
    auto v = find(key, required, err);
    if (v && !is(*v)) {
      mismatch(err, path + "." + key, expected, *v);
      return nullptr;
    }
    return v;
  }

  void str(const char* key, std::string& out, caf::error& err,
           bool required = false) const {
    auto v = typed(key, required, err,
                   [](const json& x) { return x.is_string(); }, "string");
    if (!v)
      return;
    out = v->get<std::string>();
    if (required && out.find_first_not_of(" \t\r\n") == std::string::npos
        && !err)
      err = caf::make_error(ec::invalid_argument,
                            path + "." + key + ": must not be blank");
  }

  void i32(const char* key, int32_t& out, caf::error& err) const {
    auto v = typed(key, false, err,
                   [](const json& x) { return x.is_number_integer(); },
                   "integer");
    if (!v)
      return;
    auto x = v->get<int64_t>();
    if (x < INT32_MIN || x > INT32_MAX) {
      if (!err)
        err = bad(path + "." + key, "integer out of range");
      return;
    }
    out = static_cast<int32_t>(x);
  }

  void strings(const char* key, std::vector<std::string>& out,
               caf::error& err) const {
    auto v = typed(key, false, err,
                   [](const json& x) { return x.is_array(); }, "array");
    if (!v)
      return;
    size_t i = 0;
    for (auto& x : *v) {
      if (!x.is_string()) {
        mismatch(err, path + "." + key + "[" + std::to_string(i) + "]",
                 "string", x);
        return;
      }
      out.push_back(x.get<std::string>());
      ++i;
    }
  }

  void string_map(const char* key, std::map<std::string, std::string>& out,
                  caf::error& err) const {
    auto v = typed(key, false, err,
                   [](const json& x) { return x.is_object(); }, "object");
    if (!v)
      return;
    for (auto& [k, x] : v->items())
      out[k] = x.is_string() ? x.get<std::string>() : dump(x);
  }

  /// A timestamp: epoch seconds (number) or ISO 8601 text.
  void timestamp(const char* key, double& out, caf::error& err,
                 bool required) const {
    if (auto v = find(key, required, err)) {
      if (v->is_number())
        out = v->get<double>();
      else if (v->is_string())
        out = epoch_seconds();
      else
        mismatch(err, path + "." + key, "number or string", *v);
    }
  }
};

/// Opens a consumed message: JSON or msgpack, envelope or bare payload.
caf::expected<json> open(const inbound_event& msg, event_meta& meta) {
  auto ct = msg.headers.find("Content-Type");
  meta.msgpack = ct != msg.headers.end()
                 && ct->second.find("msgpack") != std::string::npos;
  json doc;
  if (meta.msgpack) {
    doc = json::from_msgpack(msg.data, true, false);
    if (doc.is_discarded())
      return bad("message", "not valid msgpack");
  } else {
    if (msg.data.empty())
      return bad("message", "empty message");
    doc = json::parse(msg.data, nullptr, false);
    if (doc.is_discarded())
      return bad("message", "not valid JSON");
  }
  if (too_deep(doc))
    return bad("message", "nested deeper than 64 levels");
  if (!doc.is_object())
    return bad("message", std::string{"expected an object, got "}
                            + type_name(doc));
  auto header = [&](const char* k) {
    auto i = msg.headers.find(k);
    return i == msg.headers.end() ? std::string{} : i->second;
  };
  meta.trace.traceparent = header("traceparent");
  auto msg_id = header("Nats-Msg-Id");
  auto et = doc.find("event_type");
  auto pl = doc.find("payload");
  if (et != doc.end() && pl != doc.end()) {
    reader r{doc, "envelope"};
    caf::error err;
    r.str("event_type", meta.event_type, err);
    r.str("idempotency_key", meta.idempotency_key, err);
    r.str("correlation_id", meta.trace.correlation_id, err);
    if (err)
      return err;
    json payload = *pl;
    if (payload.is_string()) {
      payload = json::parse(payload.get<std::string>(), nullptr, false);
      if (payload.is_discarded())
        return bad("payload", "a string that is not JSON");
    }
    if (!payload.is_object())
      return bad("payload",
                 std::string{"expected an object, got "} + type_name(payload));
    meta.trace.causation_id = !meta.idempotency_key.empty()
                                ? meta.idempotency_key
                                : msg_id;
    if (meta.trace.correlation_id.empty())
      meta.trace.correlation_id = header("correlation_id");
    return payload;
  }
  meta.bare = true;
  meta.idempotency_key = msg_id;
  meta.trace.causation_id = msg_id;
  meta.trace.correlation_id = header("correlation_id");
  return doc;
}

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
  ev.payload = dump(payload);
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

// -- consumed -----------------------------------------------------------------

namespace {

/// Opens the message and lets `fill` read the payload into a `T`; the first
/// error `fill` records wins.
template<class T, class Fill>
caf::expected<T> decode(const inbound_event& msg, event_meta& meta,
                        Fill fill) {
  auto doc = open(msg, meta);
  if (!doc)
    return std::move(doc.error());
  reader r{*doc, "payload"};
  caf::error err;
  T out;
  fill(r, out, err);
  if (err)
    return err;
  return out;
}

/// Reads an AtomicTask.
void read_task(const reader& tr, task_spec& ts, caf::error& err) {
  tr.str("task_id", ts.task_id, err, true);
  tr.str("role", ts.role, err, true);
  tr.str("description", ts.description, err, true);
  tr.strings("dependencies", ts.dependencies, err);
  tr.i32("priority", ts.priority, err);
  auto c = tr.obj.find("constraints");
  if (c == tr.obj.end() || c->is_null() || err)
    return;
  if (!c->is_object()) {
    err = bad(tr.path + ".constraints",
              std::string{"expected object, got "} + type_name(*c));
    return;
  }
  reader cr{*c, tr.path + ".constraints"};
  auto& k = ts.constraints;
  cr.str("rubric", k.rubric, err);
  cr.strings("requirements", k.requirements, err);
  cr.string_map("metadata", k.metadata, err);
  cr.i32("max_iterations", k.max_iterations, err);
  cr.i32("timeout_seconds", k.timeout_seconds, err);
  cr.i32("k", k.k, err);
  cr.i32("rounds", k.rounds, err);
  if (!err && (k.timeout_seconds < 0 || k.k < 0))
    err = caf::make_error(ec::invalid_argument,
                          tr.path + ".constraints: timeout_seconds and k "
                                    "must not be negative");
}

} // namespace

caf::expected<plan_input> decode_plan_approved(const inbound_event& msg,
                                               event_meta& meta) {
  return decode<plan_input>(msg, meta, [](const reader& r, plan_input& out,
                                          caf::error& err) {
    double ts = 0;
    r.str("story_id", out.story_id, err, true);
    r.str("plan_id", out.plan_id, err, true);
    r.str("approved_by", out.approved_by, err, true);
    r.timestamp("timestamp", ts, err, true);
    r.strings("roles", out.roles, err);
    r.str("plan", out.text, err);
    auto t = r.typed("tasks", false, err,
                     [](const json& x) { return x.is_array(); }, "array");
    if (err || !t)
      return;
    size_t i = 0;
    for (auto& x : *t) {
      auto path = "payload.tasks[" + std::to_string(i++) + "]";
      if (!x.is_object()) {
        mismatch(err, path, "object", x);
        return;
      }
      task_spec ts;
      read_task(reader{x, path}, ts, err);
      if (err)
        return;
      out.tasks.push_back(std::move(ts));
    }
  });
}

caf::expected<story_transition>
decode_story_transitioned(const inbound_event& msg, event_meta& meta) {
  return decode<story_transition>(
    msg, meta,
    [](const reader& r, story_transition& out, caf::error& err) {
      r.str("story_id", out.story_id, err, true);
      r.str("from_phase", out.from_phase, err, true);
      r.str("to_phase", out.to_phase, err, true);
      r.timestamp("timestamp", out.timestamp, err, true);
    });
}

caf::expected<agent_response> decode_agent_response(const inbound_event& msg,
                                                    event_meta& meta) {
  auto ok = msg.subject != subject::agent_failed;
  auto out = decode<agent_response>(
    msg, meta, [ok](const reader& r, agent_response& out, caf::error& err) {
      double ts = 0;
      r.str("task_id", out.task_id, err, true);
      r.str("agent_id", out.agent_id, err, true);
      r.str("role", out.role, err, true);
      r.timestamp("timestamp", ts, err, true);
      r.str("correlation_id", out.correlation_id, err);
      out.ok = ok;
      if (!ok) {
        r.str("error", out.error, err);
        r.str("error_type", out.error_type, err);
        return;
      }
      auto p = r.obj.find("proposal");
      if (p != r.obj.end() && !p->is_null()) {
        if (p->is_string())
          out.content = p->get<std::string>();
        else if (p->is_object())
          reader{*p, "payload.proposal"}.str("content", out.content, err);
        else
          mismatch(err, "payload.proposal", "object", *p);
      }
      if (out.content.empty())
        r.str("output", out.content, err);
      if (!err && out.content.empty())
        err = caf::make_error(ec::invalid_argument,
                              "payload: neither proposal.content nor output "
                              "holds text");
    });
  if (out && out->correlation_id.empty())
    out->correlation_id = meta.trace.correlation_id;
  return out;
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
    auto text = dump(env);
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
  return dump(env);
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
