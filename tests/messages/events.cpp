// The NATS contract: decoding consumed messages (envelope or bare, JSON or
// msgpack) with errors that name the field, and the produced envelopes.

#include <cstdio>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "messages/ascii.hpp"
#include "messages/events.hpp"
#include "messages/hash.hpp"
#include "test_util.hpp"

using namespace orch;
using json = nlohmann::json;

namespace {

inbound_event msg(const std::string& subject, const json& doc,
                  bool msgpack = false) {
  inbound_event m;
  m.subject = subject;
  if (msgpack) {
    auto bytes = json::to_msgpack(doc);
    m.data.assign(bytes.begin(), bytes.end());
    m.headers["Content-Type"] = "application/msgpack";
  } else {
    m.data = doc.dump();
  }
  return m;
}

json plan() {
  return {{"story_id", "S1"},
          {"plan_id", "P1"},
          {"approved_by", "po"},
          {"timestamp", 1764000000.25},
          {"roles", {"DEV"}},
          {"tasks",
           {{{"task_id", "T1"},
             {"role", "DEV"},
             {"description", "Do it"},
             {"dependencies", json::array()},
             {"priority", 3},
             {"constraints",
              {{"rubric", "r"},
               {"requirements", {"a", "b"}},
               {"metadata", {{"k", "v"}}},
               {"max_iterations", 4},
               {"timeout_seconds", 9}}}}}}};
}

json envelope(const std::string& type, json payload) {
  return {{"event_type", type},
          {"payload", std::move(payload)},
          {"idempotency_key", "key-1"},
          {"correlation_id", "corr-1"},
          {"timestamp", "2026-11-20T12:00:00.000Z"},
          {"producer", "planning"}};
}

std::string error_of(const caf::expected<plan_input>& x) {
  return x ? std::string{"ok"} : render(x.error());
}

} // namespace

BOOST_AUTO_TEST_SUITE(events)

BOOST_AUTO_TEST_CASE(plan_in_an_envelope_with_every_field) {
  event_meta meta;
  auto m = msg(subject::plan_approved_in,
               envelope("planning.plan.approved", plan()));
  m.headers["traceparent"] = "00-t-s-01";
  auto p = decode_plan_approved(m, meta);
  BOOST_REQUIRE_MESSAGE(p, error_of(p));
  BOOST_CHECK(!meta.bare);
  BOOST_CHECK_EQUAL(meta.trace.correlation_id, "corr-1");
  BOOST_CHECK_EQUAL(meta.trace.causation_id, "key-1");
  BOOST_CHECK_EQUAL(meta.trace.traceparent, "00-t-s-01");
  BOOST_CHECK_EQUAL(p->story_id, "S1");
  BOOST_CHECK_EQUAL(p->plan_id, "P1");
  BOOST_REQUIRE_EQUAL(p->tasks.size(), 1u);
  auto& t = p->tasks[0];
  BOOST_CHECK_EQUAL(t.priority, 3);
  BOOST_CHECK_EQUAL(t.constraints.requirements.size(), 2u);
  BOOST_CHECK_EQUAL(t.constraints.metadata.at("k"), "v");
  BOOST_CHECK_EQUAL(t.constraints.timeout_seconds, 9);
}

BOOST_AUTO_TEST_CASE(bare_payload_and_msgpack_are_accepted) {
  event_meta meta;
  auto p = decode_plan_approved(msg(subject::plan_approved_in, plan()), meta);
  BOOST_REQUIRE_MESSAGE(p, error_of(p));
  BOOST_CHECK(meta.bare);
  event_meta meta2;
  auto q = decode_plan_approved(
    msg(subject::plan_approved_in, envelope("x", plan()), true), meta2);
  BOOST_REQUIRE_MESSAGE(q, error_of(q));
  BOOST_CHECK(meta2.msgpack);
  BOOST_CHECK_EQUAL(q->tasks[0].description, "Do it");
}

BOOST_AUTO_TEST_CASE(errors_name_the_field) {
  auto fails_with = [](json doc, const std::string& part) {
    event_meta meta;
    auto p = decode_plan_approved(msg(subject::plan_approved_in, doc), meta);
    BOOST_CHECK_MESSAGE(!p && error_of(p).find(part) != std::string::npos,
                        "expected an error naming '" << part << "', got "
                                                     << error_of(p));
  };
  auto d = plan();
  d.erase("approved_by");
  fails_with(d, "payload.approved_by: required field is missing");
  d = plan();
  d["plan_id"] = 7;
  fails_with(d, "payload.plan_id: expected string, got number");
  d = plan();
  d["tasks"][0]["priority"] = "high";
  fails_with(d, "payload.tasks[0].priority: expected integer");
  d = plan();
  d["tasks"][0]["constraints"]["requirements"] = {1};
  fails_with(d, "payload.tasks[0].constraints.requirements[0]");
  d = plan();
  d["story_id"] = "  ";
  fails_with(d, "payload.story_id: must not be blank");
  fails_with(json::array({1, 2}), "expected an object, got array");
  event_meta meta;
  inbound_event garbage;
  garbage.subject = subject::plan_approved_in;
  garbage.data = "{\"a\":";
  BOOST_CHECK(!decode_plan_approved(garbage, meta));
  garbage.headers["Content-Type"] = "application/msgpack";
  garbage.data = "\xc1";
  auto r = decode_plan_approved(garbage, meta);
  BOOST_CHECK(!r && error_of(r).find("msgpack") != std::string::npos);
  std::string deep(200, '[');
  garbage.headers.clear();
  garbage.data = deep + std::string(200, ']');
  r = decode_plan_approved(garbage, meta);
  BOOST_CHECK(!r);
}

BOOST_AUTO_TEST_CASE(agent_responses) {
  json ok{{"task_id", "T"},
          {"agent_id", "A"},
          {"role", "DEV"},
          {"timestamp", 1.0},
          {"correlation_id", "c"},
          {"proposal", {{"content", "text"}, {"author_id", "A"}}}};
  event_meta meta;
  auto r = decode_agent_response(msg(subject::agent_completed, ok), meta);
  BOOST_REQUIRE(r);
  BOOST_CHECK(r->ok);
  BOOST_CHECK_EQUAL(r->content, "text");
  BOOST_CHECK_EQUAL(r->correlation_id, "c");
  json out = ok;
  out.erase("proposal");
  out["output"] = "plain";
  r = decode_agent_response(msg(subject::agent_completed, out), meta);
  BOOST_REQUIRE(r);
  BOOST_CHECK_EQUAL(r->content, "plain");
  out.erase("output");
  BOOST_CHECK(!decode_agent_response(msg(subject::agent_completed, out), meta));
  json failed{{"task_id", "T"},   {"agent_id", "A"},   {"role", "DEV"},
              {"timestamp", 1.0}, {"error", "oom"},    {"error_type", "x"},
              {"correlation_id", "c"}};
  r = decode_agent_response(msg(subject::agent_failed, failed), meta);
  BOOST_REQUIRE(r);
  BOOST_CHECK(!r->ok);
  BOOST_CHECK_EQUAL(r->error, "oom");
}

BOOST_AUTO_TEST_CASE(produced_events_have_the_contract_fields) {
  task_spec t;
  t.task_id = "P/T1";
  t.plan_id = "P";
  t.story_id = "S";
  t.role = "DEV";
  trace_context tc{"corr", "cause", "00-tp"};
  stamp_trace(t, tc);
  deliberation_outcome out;
  out.execution_id = "e1";
  out.winner_id = "agent-dev-001";
  out.rationale = "best";
  out.duration_ms = 12;
  deliberation_result r;
  r.proposal.id = "p1";
  r.proposal.author_id = "agent-dev-001";
  r.proposal.author_role = "DEV";
  r.proposal.content = "c";
  r.score = 0.9;
  r.rank = 1;
  out.results.push_back(r);
  auto ev = deliberation_completed_event(t, out);
  BOOST_CHECK_EQUAL(ev.subject, "orchestration.deliberation.completed");
  BOOST_CHECK_EQUAL(ev.idempotency_key, "deliberation.completed:P/T1");
  BOOST_CHECK_EQUAL(ev.correlation_id, "corr");
  BOOST_CHECK_EQUAL(ev.traceparent, "00-tp");
  auto p = json::parse(ev.payload);
  for (auto k : {"story_id", "plan_id", "task_id", "role", "execution_id",
                 "winner_id", "decisions", "results", "duration_ms",
                 "timestamp"})
    BOOST_CHECK_MESSAGE(p.contains(k), k);
  BOOST_CHECK_EQUAL(p["decisions"][0].value("type", ""), "winner");
  BOOST_CHECK_EQUAL(p["decisions"][0].value("rationale", ""), "best");
  BOOST_CHECK(p["timestamp"].is_number_float());
  auto env = json::parse(encode_envelope(ev, false));
  BOOST_CHECK_EQUAL(env.value("event_type", ""), ev.subject);
  BOOST_CHECK_EQUAL(env.value("producer", ""), "orchestrator-service");
  BOOST_CHECK_EQUAL(env.value("causation_id", ""), "cause");
  BOOST_CHECK(env["payload"].is_object());
  BOOST_CHECK_EQUAL(env.value("timestamp", "").size(), 24u);
  auto packed = encode_envelope(ev, true);
  auto back = json::from_msgpack(packed);
  BOOST_CHECK_EQUAL(back["payload"].value("winner_id", ""), "agent-dev-001");
  auto failed = task_failed_event(t, "boom", "timeout", 5);
  BOOST_CHECK_EQUAL(failed.when, "final");
  auto cmd = agent_command_event(
    agent_command{"P/T1", "agent-dev-001", "DEV", "critique", "c1", "{}", 10});
  BOOST_CHECK_EQUAL(cmd.subject, "agent.cmd.dev.critique");
}

BOOST_AUTO_TEST_CASE(dead_letters_keep_the_original) {
  inbound_event m;
  m.subject = "planning.plan.approved";
  m.data = std::string("\x00\xff{bad", 6);
  m.headers["traceparent"] = "00-x";
  auto ev = dead_letter_event(m, "not valid JSON");
  auto p = json::parse(ev.payload);
  BOOST_CHECK_EQUAL(p.value("reason", ""), "not valid JSON");
  BOOST_CHECK_EQUAL(p.value("original_subject", ""), m.subject);
  BOOST_CHECK_EQUAL(p.value("data_base64", ""), "AP97YmFk");
  BOOST_CHECK_EQUAL(p["headers"].value("traceparent", ""), "00-x");
  BOOST_CHECK_EQUAL(base64("f"), "Zg==");
  BOOST_CHECK_EQUAL(base64("fo"), "Zm8=");
  BOOST_CHECK_EQUAL(base64("foo"), "Zm9v");
}

BOOST_AUTO_TEST_CASE(hex_ids_are_written_as_printf_writes_them) {
  // Execution ids and the dead letters' message ids (stable_hash) keep the
  // text printf gave them: the same value gives the same id across
  // versions, so a redelivered dead letter is still recognized.
  std::vector<uint64_t> xs{0, 1, 15, 16, 255, 0xabcdef, 0xffffff, 0x1000000,
                           0xffffffff, 0x123456789abcdef0, ~uint64_t{0}};
  for (uint64_t x = 1; x != 0 && xs.size() < 200; x = x * 7 + 3)
    xs.push_back(x);
  for (auto x : xs)
    for (int width : {0, 1, 6, 8, 16}) {
      char want[40];
      std::snprintf(want, sizeof(want), "%0*llx", width,
                    static_cast<unsigned long long>(x));
      std::string got = "id-";
      append_hex(got, x, width);
      BOOST_CHECK_EQUAL(got, std::string{"id-"} + want);
    }
  for (std::string bytes : {"", "a", "dead letter payload"}) {
    char want[17];
    std::snprintf(want, sizeof(want), "%016llx",
                  static_cast<unsigned long long>(fnv1a(bytes)));
    BOOST_CHECK_EQUAL(stable_hash(bytes), want);
  }
}

BOOST_AUTO_TEST_SUITE_END()
