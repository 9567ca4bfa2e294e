#include "messages/json_codec.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

using namespace orch;

namespace {

using int64_limits = std::numeric_limits<int64_t>;
using int32_limits = std::numeric_limits<int32_t>;

// -- samples with awkward values ----------------------------------------------

const std::string unicode = "Grüße, 世界 🚀 — naïve";
const std::string quoted = "say \"hi\" \\ and 'bye'";
const std::string multiline = "line 1\nline 2\r\n\ttabbed\x01\x1f end";

template<class T>
T sample();

template<>
constraints sample<constraints>() {
  constraints x;
  x.rubric = multiline;
  x.requirements = {unicode, quoted, ""};
  x.metadata = {{"owner", unicode}, {"quote\"key", quoted}, {"", "empty"}};
  x.max_iterations = int32_limits::max();
  x.timeout_seconds = -7;
  x.k = int32_limits::min();
  x.rounds = 0;
  return x;
}

template<>
task_spec sample<task_spec>() {
  task_spec x;
  x.task_id = "task-001";
  x.story_id = "US-" + unicode;
  x.plan_id = "plan\n2";
  x.case_id = "";
  x.role = "DEV";
  x.description = quoted + multiline;
  x.constraints = sample<constraints>();
  x.dependencies = {"task-000", "task-\"q\""};
  x.priority = -3;
  return x;
}

template<>
proposal sample<proposal>() {
  proposal x;
  x.id = "p-1";
  x.author_id = "agent-dev-001";
  x.author_role = "DEV";
  x.content = "```python\nprint(\"" + unicode + "\")\n```\n";
  x.revisions = {"first draft", multiline, ""};
  x.created_at_ms = int64_limits::max();
  return x;
}

template<>
critique sample<critique>() {
  critique x;
  x.critic_id = "agent-qa-002";
  x.proposal_id = "p-1";
  x.target_author_id = unicode;
  x.round = -1;
  x.issues = {};
  x.content = quoted;
  return x;
}

template<>
policy_result sample<policy_result>() {
  policy_result x;
  x.passed = false;
  x.violations = {"secret: AKIA...", "rm -rf /", unicode};
  x.message = multiline;
  return x;
}

template<>
lint_result sample<lint_result>() {
  lint_result x;
  x.passed = false;
  x.error_count = 2;
  x.warning_count = -1;
  x.errors = {"line 1: unexpected \"}\"", "line 9:\ttab"};
  return x;
}

template<>
dryrun_result sample<dryrun_result>() {
  dryrun_result x;
  x.passed = false;
  x.skipped = false;
  x.output = multiline + unicode;
  x.exit_code = -9;
  x.message = "killed";
  return x;
}

template<>
check_result sample<check_result>() {
  check_result x;
  x.check_type = "security";
  x.passed = false;
  x.score = -0.125;
  x.message = quoted;
  x.details = {{"a", "1"}, {"b", unicode}, {"c\nd", ""}};
  return x;
}

template<>
check_suite sample<check_suite>() {
  check_suite x;
  x.policy = sample<policy_result>();
  x.lint = sample<lint_result>();
  x.dryrun = sample<dryrun_result>();
  auto other = sample<check_result>();
  other.check_type = "coverage";
  other.passed = true;
  other.score = 0.1;
  other.details.clear();
  x.additional = {sample<check_result>(), other};
  x.all_passed = false;
  x.score = 0.333333333333333315;
  return x;
}

template<>
deliberation_result sample<deliberation_result>() {
  deliberation_result x;
  x.proposal = sample<proposal>();
  x.checks = sample<check_suite>();
  x.score = 1e-300;
  x.rank = 2;
  return x;
}

template<>
agent_failure sample<agent_failure>() {
  agent_failure x;
  x.agent_id = "agent-dev-003";
  x.phase = "revise";
  x.reason = "timeout after 30s: " + quoted;
  return x;
}

template<>
deliberation_outcome sample<deliberation_outcome>() {
  deliberation_outcome x;
  x.task_id = "task-001";
  x.execution_id = "exec-" + unicode;
  x.role = "QA";
  x.story_id = "US-1";
  x.plan_id = "";
  auto second = sample<deliberation_result>();
  second.proposal.id = "p-2";
  second.proposal.revisions.clear();
  second.proposal.created_at_ms = int64_limits::min();
  second.checks.additional.clear();
  second.score = -2.5;
  second.rank = 1;
  x.results = {sample<deliberation_result>(), second};
  x.winner_id = "p-2";
  x.rationale = multiline;
  x.duration_ms = -1;
  x.status = "failed";
  x.error = quoted;
  x.failed_agents = {sample<agent_failure>()};
  return x;
}

template<>
deliberation_update sample<deliberation_update>() {
  deliberation_update x;
  x.task_id = "task-001";
  x.execution_id = "exec-1";
  x.status = "reviewing";
  x.progress_percent = 42;
  x.current_step = "critique " + unicode;
  x.current_agent = "agent-dev-002";
  x.round = 3;
  return x;
}

template<>
selection sample<selection>() {
  selection x;
  x.winner_id = "p-2";
  x.rationale = quoted + "\n" + unicode;
  x.considered = {"agent-dev-001", "agent-dev-002", "agent-dev-003"};
  x.mode = "llm";
  return x;
}

template<>
council_config sample<council_config>() {
  council_config x;
  x.role = "DEVOPS";
  x.num_agents = 0;
  x.agent_type = "vllm";
  x.rounds = -5;
  x.custom_params = {{"temperature", "0.7"}, {"model", unicode}};
  return x;
}

template<>
council_info sample<council_info>() {
  council_info x;
  x.council_id = "council-devops";
  x.role = "DEVOPS";
  x.agent_type = "scripted";
  x.agent_ids = {};
  x.rounds = 2;
  return x;
}

template<>
orchestrator_stats sample<orchestrator_stats>() {
  orchestrator_stats x;
  x.total_deliberations = int64_limits::max();
  x.total_orchestrations = int64_limits::min();
  x.failed_deliberations = -1;
  x.avg_ms = 12.5;
  x.p50_ms = 0.1;
  x.p95_ms = 1.7976931348623157e308;
  x.p99_ms = -4.9e-324;
  x.active_councils = 5;
  x.role_counts = {{"DEV", int64_limits::max()}, {"QA", -2}, {unicode, 0}};
  return x;
}

/// A compact payload whose text survives the round trip byte for byte.
const std::string sample_payload
  = R"({"task_id":"task-001","score":0.5,"nested":{"list":[1,-2,"x\"y"]},)"
    R"("unicode":"ü 世界","empty":{}})";

template<>
event_envelope sample<event_envelope>() {
  event_envelope x;
  x.event_type = "orchestration.deliberation.completed";
  x.payload = sample_payload;
  x.idempotency_key = "idem-" + unicode;
  x.correlation_id = quoted;
  x.timestamp = "2026-11-20T12:00:00.000Z";
  x.producer = "tests";
  x.metadata = {{"traceparent", "00-abc-def-01"}, {"k", multiline}};
  x.causation_id = "";
  return x;
}

// -- field-by-field equality --------------------------------------------------

#define CHECK_SAME_VECTOR(a, b)                                                \
  BOOST_TEST(a == b, boost::test_tools::per_element())
#define CHECK_SAME_MAP(a, b) BOOST_TEST((a == b))

void check_eq(const constraints& a, const constraints& b) {
  BOOST_CHECK_EQUAL(a.rubric, b.rubric);
  CHECK_SAME_VECTOR(a.requirements, b.requirements);
  CHECK_SAME_MAP(a.metadata, b.metadata);
  BOOST_CHECK_EQUAL(a.max_iterations, b.max_iterations);
  BOOST_CHECK_EQUAL(a.timeout_seconds, b.timeout_seconds);
  BOOST_CHECK_EQUAL(a.k, b.k);
  BOOST_CHECK_EQUAL(a.rounds, b.rounds);
}

void check_eq(const task_spec& a, const task_spec& b) {
  BOOST_CHECK_EQUAL(a.task_id, b.task_id);
  BOOST_CHECK_EQUAL(a.story_id, b.story_id);
  BOOST_CHECK_EQUAL(a.plan_id, b.plan_id);
  BOOST_CHECK_EQUAL(a.case_id, b.case_id);
  BOOST_CHECK_EQUAL(a.role, b.role);
  BOOST_CHECK_EQUAL(a.description, b.description);
  check_eq(a.constraints, b.constraints);
  CHECK_SAME_VECTOR(a.dependencies, b.dependencies);
  BOOST_CHECK_EQUAL(a.priority, b.priority);
}

void check_eq(const proposal& a, const proposal& b) {
  BOOST_CHECK_EQUAL(a.id, b.id);
  BOOST_CHECK_EQUAL(a.author_id, b.author_id);
  BOOST_CHECK_EQUAL(a.author_role, b.author_role);
  BOOST_CHECK_EQUAL(a.content, b.content);
  CHECK_SAME_VECTOR(a.revisions, b.revisions);
  BOOST_CHECK_EQUAL(a.created_at_ms, b.created_at_ms);
}

void check_eq(const critique& a, const critique& b) {
  BOOST_CHECK_EQUAL(a.critic_id, b.critic_id);
  BOOST_CHECK_EQUAL(a.proposal_id, b.proposal_id);
  BOOST_CHECK_EQUAL(a.target_author_id, b.target_author_id);
  BOOST_CHECK_EQUAL(a.round, b.round);
  CHECK_SAME_VECTOR(a.issues, b.issues);
  BOOST_CHECK_EQUAL(a.content, b.content);
}

void check_eq(const policy_result& a, const policy_result& b) {
  BOOST_CHECK_EQUAL(a.passed, b.passed);
  CHECK_SAME_VECTOR(a.violations, b.violations);
  BOOST_CHECK_EQUAL(a.message, b.message);
}

void check_eq(const lint_result& a, const lint_result& b) {
  BOOST_CHECK_EQUAL(a.passed, b.passed);
  BOOST_CHECK_EQUAL(a.error_count, b.error_count);
  BOOST_CHECK_EQUAL(a.warning_count, b.warning_count);
  CHECK_SAME_VECTOR(a.errors, b.errors);
}

void check_eq(const dryrun_result& a, const dryrun_result& b) {
  BOOST_CHECK_EQUAL(a.passed, b.passed);
  BOOST_CHECK_EQUAL(a.skipped, b.skipped);
  BOOST_CHECK_EQUAL(a.output, b.output);
  BOOST_CHECK_EQUAL(a.exit_code, b.exit_code);
  BOOST_CHECK_EQUAL(a.message, b.message);
}

void check_eq(const check_result& a, const check_result& b) {
  BOOST_CHECK_EQUAL(a.check_type, b.check_type);
  BOOST_CHECK_EQUAL(a.passed, b.passed);
  BOOST_CHECK_EQUAL(a.score, b.score);
  BOOST_CHECK_EQUAL(a.message, b.message);
  CHECK_SAME_MAP(a.details, b.details);
}

void check_eq(const check_suite& a, const check_suite& b) {
  check_eq(a.policy, b.policy);
  check_eq(a.lint, b.lint);
  check_eq(a.dryrun, b.dryrun);
  BOOST_REQUIRE_EQUAL(a.additional.size(), b.additional.size());
  for (size_t i = 0; i < a.additional.size(); ++i)
    check_eq(a.additional[i], b.additional[i]);
  BOOST_CHECK_EQUAL(a.all_passed, b.all_passed);
  BOOST_CHECK_EQUAL(a.score, b.score);
}

void check_eq(const deliberation_result& a, const deliberation_result& b) {
  check_eq(a.proposal, b.proposal);
  check_eq(a.checks, b.checks);
  BOOST_CHECK_EQUAL(a.score, b.score);
  BOOST_CHECK_EQUAL(a.rank, b.rank);
}

void check_eq(const agent_failure& a, const agent_failure& b) {
  BOOST_CHECK_EQUAL(a.agent_id, b.agent_id);
  BOOST_CHECK_EQUAL(a.phase, b.phase);
  BOOST_CHECK_EQUAL(a.reason, b.reason);
}

void check_eq(const deliberation_outcome& a, const deliberation_outcome& b) {
  BOOST_CHECK_EQUAL(a.task_id, b.task_id);
  BOOST_CHECK_EQUAL(a.execution_id, b.execution_id);
  BOOST_CHECK_EQUAL(a.role, b.role);
  BOOST_CHECK_EQUAL(a.story_id, b.story_id);
  BOOST_CHECK_EQUAL(a.plan_id, b.plan_id);
  BOOST_REQUIRE_EQUAL(a.results.size(), b.results.size());
  for (size_t i = 0; i < a.results.size(); ++i)
    check_eq(a.results[i], b.results[i]);
  BOOST_CHECK_EQUAL(a.winner_id, b.winner_id);
  BOOST_CHECK_EQUAL(a.rationale, b.rationale);
  BOOST_CHECK_EQUAL(a.duration_ms, b.duration_ms);
  BOOST_CHECK_EQUAL(a.status, b.status);
  BOOST_CHECK_EQUAL(a.error, b.error);
  BOOST_REQUIRE_EQUAL(a.failed_agents.size(), b.failed_agents.size());
  for (size_t i = 0; i < a.failed_agents.size(); ++i)
    check_eq(a.failed_agents[i], b.failed_agents[i]);
}

void check_eq(const deliberation_update& a, const deliberation_update& b) {
  BOOST_CHECK_EQUAL(a.task_id, b.task_id);
  BOOST_CHECK_EQUAL(a.execution_id, b.execution_id);
  BOOST_CHECK_EQUAL(a.status, b.status);
  BOOST_CHECK_EQUAL(a.progress_percent, b.progress_percent);
  BOOST_CHECK_EQUAL(a.current_step, b.current_step);
  BOOST_CHECK_EQUAL(a.current_agent, b.current_agent);
  BOOST_CHECK_EQUAL(a.round, b.round);
}

void check_eq(const selection& a, const selection& b) {
  BOOST_CHECK_EQUAL(a.winner_id, b.winner_id);
  BOOST_CHECK_EQUAL(a.rationale, b.rationale);
  CHECK_SAME_VECTOR(a.considered, b.considered);
  BOOST_CHECK_EQUAL(a.mode, b.mode);
}

void check_eq(const council_config& a, const council_config& b) {
  BOOST_CHECK_EQUAL(a.role, b.role);
  BOOST_CHECK_EQUAL(a.num_agents, b.num_agents);
  BOOST_CHECK_EQUAL(a.agent_type, b.agent_type);
  BOOST_CHECK_EQUAL(a.rounds, b.rounds);
  CHECK_SAME_MAP(a.custom_params, b.custom_params);
}

void check_eq(const council_info& a, const council_info& b) {
  BOOST_CHECK_EQUAL(a.council_id, b.council_id);
  BOOST_CHECK_EQUAL(a.role, b.role);
  BOOST_CHECK_EQUAL(a.agent_type, b.agent_type);
  CHECK_SAME_VECTOR(a.agent_ids, b.agent_ids);
  BOOST_CHECK_EQUAL(a.rounds, b.rounds);
}

void check_eq(const orchestrator_stats& a, const orchestrator_stats& b) {
  BOOST_CHECK_EQUAL(a.total_deliberations, b.total_deliberations);
  BOOST_CHECK_EQUAL(a.total_orchestrations, b.total_orchestrations);
  BOOST_CHECK_EQUAL(a.failed_deliberations, b.failed_deliberations);
  BOOST_CHECK_EQUAL(a.avg_ms, b.avg_ms);
  BOOST_CHECK_EQUAL(a.p50_ms, b.p50_ms);
  BOOST_CHECK_EQUAL(a.p95_ms, b.p95_ms);
  BOOST_CHECK_EQUAL(a.p99_ms, b.p99_ms);
  BOOST_CHECK_EQUAL(a.active_councils, b.active_councils);
  CHECK_SAME_MAP(a.role_counts, b.role_counts);
}

void check_eq(const event_envelope& a, const event_envelope& b) {
  BOOST_CHECK_EQUAL(a.event_type, b.event_type);
  BOOST_CHECK_EQUAL(a.payload, b.payload);
  BOOST_CHECK_EQUAL(a.idempotency_key, b.idempotency_key);
  BOOST_CHECK_EQUAL(a.correlation_id, b.correlation_id);
  BOOST_CHECK_EQUAL(a.timestamp, b.timestamp);
  BOOST_CHECK_EQUAL(a.producer, b.producer);
  CHECK_SAME_MAP(a.metadata, b.metadata);
  BOOST_CHECK_EQUAL(a.causation_id, b.causation_id);
}

#undef CHECK_SAME_VECTOR
#undef CHECK_SAME_MAP

using wire_types
  = std::tuple<constraints, task_spec, proposal, critique, policy_result,
               lint_result, dryrun_result, check_result, check_suite,
               deliberation_result, agent_failure, deliberation_outcome,
               deliberation_update, selection, council_config, council_info,
               orchestrator_stats, event_envelope>;

/// The types without a required field: "{}" decodes to their defaults.
using lenient_types
  = std::tuple<constraints, task_spec, critique, policy_result, lint_result,
               dryrun_result, check_result, check_suite, agent_failure,
               deliberation_outcome, deliberation_update, selection,
               council_config, council_info, orchestrator_stats>;

// -- error checks -------------------------------------------------------------

/// Renders the error of `x`, or nothing when `x` holds a value. (Boost.Test
/// builds the message of a passing assertion too.)
template<class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : render(x.error());
}

/// Requires `x` to hold a value, printing the error otherwise.
#define REQUIRE_OK(x) BOOST_REQUIRE_MESSAGE(static_cast<bool>(x), why(x))

/// Requires `res` to be a decode_failed error whose message contains every
/// one of `parts` (the field path, the problem).
template<class T>
void check_fails(const caf::expected<T>& res,
                 std::initializer_list<std::string> parts) {
  BOOST_REQUIRE_MESSAGE(!res, "decoding succeeded unexpectedly");
  BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
  auto msg = render(res.error());
  BOOST_TEST_MESSAGE("error: " << msg);
  for (auto& part : parts)
    BOOST_CHECK_MESSAGE(msg.find(part) != std::string::npos,
                        "'" << msg << "' lacks '" << part << "'");
}

std::vector<std::string> keys_of(const std::string& text) {
  auto doc = nlohmann::ordered_json::parse(text);
  std::vector<std::string> out;
  for (auto& item : doc.items())
    out.push_back(item.key());
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(json_codec)

// -- round trips --------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(round_trip, T, wire_types) {
  auto x = sample<T>();
  auto text = to_json(x);
  BOOST_TEST_MESSAGE("json: " << text);
  auto y = from_json<T>(text);
  REQUIRE_OK(y);
  check_eq(x, *y);
  // Encoding is deterministic and the decoded value encodes identically.
  BOOST_CHECK_EQUAL(to_json(*y), text);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(defaults_round_trip, T, wire_types) {
  T x;
  auto y = from_json<T>(to_json(x));
  REQUIRE_OK(y);
  check_eq(x, *y);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(missing_fields_take_defaults, T, lenient_types) {
  auto y = from_json<T>("{}");
  REQUIRE_OK(y);
  check_eq(T{}, *y);
}

BOOST_AUTO_TEST_CASE(partial_input_keeps_other_defaults) {
  auto y = from_json<task_spec>(
    R"({"task_id":"t","constraints":{"rubric":"r"},"priority":null})");
  REQUIRE_OK(y);
  task_spec expected;
  expected.task_id = "t";
  expected.constraints.rubric = "r";
  check_eq(expected, *y);
  auto env = from_json<event_envelope>(R"({"event_type":"e","payload":{}})");
  REQUIRE_OK(env);
  BOOST_CHECK_EQUAL(env->producer, event_envelope{}.producer);
  BOOST_CHECK_EQUAL(env->payload, "{}");
}

BOOST_AUTO_TEST_CASE(extreme_integers_round_trip) {
  orchestrator_stats x;
  x.total_deliberations = int64_limits::min();
  x.total_orchestrations = int64_limits::max();
  x.role_counts = {{"min", int64_limits::min()}, {"max", int64_limits::max()}};
  auto y = from_json<orchestrator_stats>(to_json(x));
  REQUIRE_OK(y);
  check_eq(x, *y);
  auto c = from_json<constraints>(
    R"({"k":-2147483648,"rounds":2147483647,"max_iterations":3.0})");
  REQUIRE_OK(c);
  BOOST_CHECK_EQUAL(c->k, int32_limits::min());
  BOOST_CHECK_EQUAL(c->rounds, int32_limits::max());
  BOOST_CHECK_EQUAL(c->max_iterations, 3);
}

BOOST_AUTO_TEST_CASE(doubles_accept_integers) {
  auto y = from_json<check_result>(R"({"score":1})");
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->score, 1.0);
  auto z = from_json<check_result>(R"({"score":-18446744073709551615})");
  REQUIRE_OK(z);
  BOOST_CHECK_LT(z->score, -1e19);
}

// -- field names and shape ----------------------------------------------------

BOOST_AUTO_TEST_CASE(field_names_are_member_names) {
  using strings = std::vector<std::string>;
  auto p = keys_of(to_json(sample<proposal>()));
  strings p_keys{"id",      "author_id", "author_role",
                 "content", "revisions", "created_at_ms"};
  BOOST_TEST(p == p_keys, boost::test_tools::per_element());
  auto r = keys_of(to_json(sample<deliberation_result>()));
  strings r_keys{"proposal", "checks", "score", "rank"};
  BOOST_TEST(r == r_keys, boost::test_tools::per_element());
  auto s = keys_of(to_json(sample<check_suite>()));
  strings s_keys{"policy",     "lint",       "dryrun",
                 "additional", "all_passed", "score"};
  BOOST_TEST(s == s_keys, boost::test_tools::per_element());
  auto e = keys_of(to_json(sample<event_envelope>()));
  strings e_keys{"event_type", "payload",  "idempotency_key", "correlation_id",
                 "timestamp",  "producer", "metadata",        "causation_id"};
  BOOST_TEST(e == e_keys, boost::test_tools::per_element());
  auto t = nlohmann::json::parse(to_json(sample<task_spec>()));
  BOOST_CHECK(t["constraints"].is_object());
  BOOST_CHECK_EQUAL(t["constraints"]["k"].get<int32_t>(), int32_limits::min());
  BOOST_CHECK(t["dependencies"].is_array());
  auto c = nlohmann::json::parse(to_json(sample<constraints>()));
  BOOST_CHECK(c["metadata"].is_object());
  BOOST_CHECK_EQUAL(c["metadata"].size(), 3u);
}

BOOST_AUTO_TEST_CASE(unknown_fields_are_ignored) {
  auto y = from_json<proposal>(
    R"({"extra":{"deep":[1,[2,[3,{"x":null}]]]},"content":"c",)"
    R"("model":"gpt","temperature":0.7,"id":"p"})");
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->id, "p");
  BOOST_CHECK_EQUAL(y->content, "c");
}

BOOST_AUTO_TEST_CASE(field_order_does_not_matter) {
  auto y
    = from_json<agent_failure>(R"({"reason":"r","phase":"p","agent_id":"a"})");
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->agent_id, "a");
  BOOST_CHECK_EQUAL(y->phase, "p");
  BOOST_CHECK_EQUAL(y->reason, "r");
}

// -- the envelope payload -----------------------------------------------------

BOOST_AUTO_TEST_CASE(payload_is_embedded_as_json) {
  auto x = sample<event_envelope>();
  auto doc = nlohmann::json::parse(to_json(x));
  BOOST_REQUIRE(doc["payload"].is_object());
  BOOST_CHECK_EQUAL(doc["payload"]["nested"]["list"][2].get<std::string>(),
                    "x\"y");
  // Arrays embed too; white space is normalized on the way through.
  x.payload = " [ 1 , {\"a\" : true} ] ";
  doc = nlohmann::json::parse(to_json(x));
  BOOST_CHECK(doc["payload"].is_array());
  auto y = from_json<event_envelope>(to_json(x));
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->payload, R"([1,{"a":true}])");
}

BOOST_AUTO_TEST_CASE(non_json_payload_travels_as_string) {
  std::vector<std::string> texts{"",        "plain text", "42",   "\"quoted\"",
                                 "{broken", "[1] [2]",    "null", unicode};
  for (auto& text : texts) {
    event_envelope x;
    x.event_type = "e";
    x.payload = text;
    auto doc = nlohmann::json::parse(to_json(x));
    BOOST_CHECK(doc["payload"].is_string());
    auto y = from_json<event_envelope>(to_json(x));
    REQUIRE_OK(y);
    BOOST_CHECK_EQUAL(y->payload, text);
  }
}

BOOST_AUTO_TEST_CASE(deep_payload_stays_decodable) {
  // The envelope takes one of the 64 levels a decoder accepts; a payload
  // deeper than the remaining 63 travels as a string instead.
  for (size_t depth : {63u, 64u, 5000u}) {
    event_envelope x;
    x.event_type = "e";
    x.payload = std::string(depth, '[') + std::string(depth, ']');
    auto text = to_json(x);
    auto doc_is_string = text.find(R"("payload":")") != std::string::npos;
    BOOST_CHECK_EQUAL(doc_is_string, depth > 63);
    auto y = from_json<event_envelope>(text);
    REQUIRE_OK(y);
    BOOST_CHECK_EQUAL(y->payload, x.payload);
  }
}

BOOST_AUTO_TEST_CASE(payload_decoding) {
  auto str
    = from_json<event_envelope>(R"({"event_type":"e","payload":"{\"a\":1}"})");
  REQUIRE_OK(str);
  BOOST_CHECK_EQUAL(str->payload, R"({"a":1})");
  auto arr = from_json<event_envelope>(
    R"({"event_type":"e","payload":[{"b":2,"a":1}]})");
  REQUIRE_OK(arr);
  // Key order of the sender is kept.
  BOOST_CHECK_EQUAL(arr->payload, R"([{"b":2,"a":1}])");
  check_fails(from_json<event_envelope>(R"({"event_type":"e","payload":7})"),
              {"event_envelope.payload", "expected object, array or string",
               "got number"});
  check_fails(from_json<event_envelope>(R"({"event_type":"e","payload":true})"),
              {"event_envelope.payload", "got boolean"});
}

// -- required fields ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(required_fields) {
  check_fails(from_json<proposal>(R"({"id":"p"})"),
              {"proposal.content", "missing required field"});
  check_fails(from_json<proposal>(R"({"content":null})"),
              {"proposal.content", "missing"});
  check_fails(from_json<deliberation_result>(R"({"score":1})"),
              {"deliberation_result.proposal", "missing required field"});
  check_fails(from_json<deliberation_result>(R"({"proposal":{}})"),
              {"deliberation_result.proposal.content", "missing"});
  check_fails(from_json<event_envelope>(R"({"payload":{}})"),
              {"event_envelope.event_type", "missing required field"});
  check_fails(from_json<event_envelope>(R"({"event_type":"e"})"),
              {"event_envelope.payload", "missing required field"});
  check_fails(from_json<deliberation_outcome>(
                R"({"results":[{"proposal":{"content":"c"}},{}]})"),
              {"deliberation_outcome.results[1].proposal", "missing"});
}

// -- malformed input ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(empty_input) {
  check_fails(from_json<proposal>(""), {"proposal: empty input"});
  check_fails(from_json<constraints>(" \n\t "), {"constraints: empty input"});
}

BOOST_AUTO_TEST_CASE(truncated_json) {
  auto text = to_json(sample<deliberation_outcome>());
  check_fails(from_json<deliberation_outcome>(text.substr(0, text.size() / 2)),
              {"deliberation_outcome: invalid JSON", "parse error"});
  // Every proper prefix of an object is incomplete.
  for (size_t n = 0; n < text.size(); ++n) {
    auto res
      = from_json<deliberation_outcome>(std::string_view{text}.substr(0, n));
    if (res) {
      BOOST_ERROR("prefix of length " << n << " decoded");
      break;
    }
    BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
  }
}

BOOST_AUTO_TEST_CASE(not_json) {
  check_fails(from_json<proposal>("content: yes"), {"proposal: invalid JSON"});
  check_fails(from_json<proposal>(R"({"content":"c"} trailing)"),
              {"proposal: invalid JSON"});
  check_fails(from_json<proposal>("{'content':'single quotes'}"),
              {"proposal: invalid JSON"});
  check_fails(from_json<proposal>("{\"content\":\"bad \xff\xfe utf8\"}"),
              {"proposal: invalid JSON"});
  check_fails(from_json<proposal>(R"({"content":"c",})"),
              {"proposal: invalid JSON"});
}

BOOST_AUTO_TEST_CASE(non_object_top_level) {
  check_fails(from_json<proposal>("[]"),
              {"proposal: expected object, got array"});
  check_fails(from_json<proposal>(R"("text")"),
              {"proposal: expected object, got string"});
  check_fails(from_json<task_spec>("42"),
              {"task_spec: expected object, got number"});
  check_fails(from_json<task_spec>("null"),
              {"task_spec: expected object, got null"});
  check_fails(from_json<selection>("true"),
              {"selection: expected object, got boolean"});
}

BOOST_AUTO_TEST_CASE(wrong_field_types) {
  check_fails(from_json<proposal>(R"({"author_id":42,"content":"c"})"),
              {"proposal.author_id: expected string, got number"});
  check_fails(from_json<proposal>(R"({"content":"c","revisions":"r"})"),
              {"proposal.revisions: expected array, got string"});
  check_fails(from_json<proposal>(R"({"content":"c","revisions":["a",1]})"),
              {"proposal.revisions[1]: expected string, got number"});
  check_fails(from_json<proposal>(R"({"content":"c","created_at_ms":"1"})"),
              {"proposal.created_at_ms: expected integer, got string"});
  check_fails(from_json<policy_result>(R"({"passed":"yes"})"),
              {"policy_result.passed: expected boolean, got string"});
  check_fails(from_json<policy_result>(R"({"passed":1})"),
              {"policy_result.passed: expected boolean, got number"});
  check_fails(from_json<check_result>(R"({"score":"high"})"),
              {"check_result.score: expected number, got string"});
  check_fails(from_json<constraints>(R"({"metadata":["a"]})"),
              {"constraints.metadata: expected object, got array"});
  check_fails(from_json<constraints>(R"({"metadata":{"a":"1","owner":2}})"),
              {"constraints.metadata.owner: expected string, got number"});
  // Control characters in a key are masked in the message.
  check_fails(from_json<constraints>(R"({"metadata":{"line\nbreak":2}})"),
              {"constraints.metadata.line?break: expected string"});
  check_fails(from_json<orchestrator_stats>(R"({"role_counts":{"DEV":"3"}})"),
              {"orchestrator_stats.role_counts.DEV: expected integer"});
  check_fails(from_json<task_spec>(R"({"constraints":[]})"),
              {"task_spec.constraints: expected object, got array"});
  check_fails(
    from_json<task_spec>(R"({"constraints":{"requirements":["a","b",{}]}})"),
    {"task_spec.constraints.requirements[2]: expected string, "
     "got object"});
  check_fails(from_json<deliberation_outcome>(
                R"({"results":[{"proposal":{"content":"c"}},)"
                R"({"proposal":{"content":false}}]})"),
              {"deliberation_outcome.results[1].proposal.content: expected "
               "string, got boolean"});
  check_fails(from_json<check_suite>(R"({"additional":[{"details":7}]})"),
              {"check_suite.additional[0].details: expected object"});
  check_fails(from_json<event_envelope>(R"({"event_type":1,"payload":{}})"),
              {"event_envelope.event_type: expected string, got number"});
}

BOOST_AUTO_TEST_CASE(integer_range) {
  check_fails(from_json<constraints>(R"({"k":2147483648})"),
              {"constraints.k", "2147483648", "out of int32 range"});
  check_fails(from_json<constraints>(R"({"k":-2147483649})"),
              {"constraints.k", "out of int32 range"});
  check_fails(from_json<lint_result>(R"({"error_count":1e10})"),
              {"lint_result.error_count", "out of int32 range"});
  check_fails(from_json<constraints>(R"({"rounds":1.5})"),
              {"constraints.rounds: expected integer, got 1.5"});
  check_fails(from_json<proposal>(
                R"({"content":"c","created_at_ms":9223372036854775808})"),
              {"proposal.created_at_ms", "out of int64 range"});
  // Below -2^63 the parser yields a double; -2^63 - 1 would round to -2^63.
  check_fails(from_json<proposal>(
                R"({"content":"c","created_at_ms":-9300000000000000000})"),
              {"proposal.created_at_ms", "out of int64 range"});
  check_fails(from_json<orchestrator_stats>(
                R"({"role_counts":{"DEV":99999999999999999999999}})"),
              {"orchestrator_stats.role_counts.DEV", "out of int64 range"});
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_rejected) {
  auto nested = [](size_t depth) {
    return R"({"content":"c","x":)" + std::string(depth, '[')
           + std::string(depth, ']') + "}";
  };
  BOOST_CHECK(static_cast<bool>(from_json<proposal>(nested(60))));
  check_fails(from_json<proposal>(nested(100)), {"proposal", "deeper than"});
  check_fails(from_json<proposal>(nested(1000000)),
              {"proposal", "deeper than"});
  // Unbalanced and deep: rejected before the parser sees it.
  check_fails(from_json<proposal>(std::string(500000, '[')),
              {"proposal", "deeper than"});
  // Brackets inside strings do not count.
  auto text = R"({"content":")" + std::string(1000, '[') + R"(\"{"})";
  auto y = from_json<proposal>(text);
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->content, std::string(1000, '[') + "\"{");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_encoded_without_throwing) {
  proposal x;
  x.content = "bad \xff\xfe bytes";
  std::string text;
  BOOST_CHECK_NO_THROW(text = to_json(x));
  auto y = from_json<proposal>(text);
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->content, "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
}

BOOST_AUTO_TEST_SUITE_END()
