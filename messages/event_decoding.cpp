// The NATS contract's consumed side (messages/events.hpp): a message opened
// (JSON or msgpack, envelope or bare payload) and read strictly into our
// types, each error naming its field. The produced side is events.cpp.

#include "messages/events.hpp"

#include <climits>

#include <nlohmann/json.hpp>

#include "messages/json_codec.hpp"

namespace orch {

namespace {

using json = nlohmann::ordered_json;

/// Deepest nesting accepted in a consumed message.
constexpr int max_depth = 64;

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
      out[k] = x.is_string() ? x.get<std::string>() : compact_json(x);
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

} // namespace

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

} // namespace orch
