#include "messages/msgpack_codec.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "messages/json_codec.hpp"

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

// -- building msgpack by hand -------------------------------------------------

/// Writes msgpack values one by one, for inputs the encoder never produces.
class builder {
public:
  builder() : pk_(buf_) {
    // nop
  }

  builder& map(uint32_t size) {
    pk_.pack_map(size);
    return *this;
  }

  builder& array(uint32_t size) {
    pk_.pack_array(size);
    return *this;
  }

  builder& str(std::string_view x) {
    pk_.pack_str(static_cast<uint32_t>(x.size()));
    pk_.pack_str_body(x.data(), static_cast<uint32_t>(x.size()));
    return *this;
  }

  builder& bin(std::string_view x) {
    pk_.pack_bin(static_cast<uint32_t>(x.size()));
    pk_.pack_bin_body(x.data(), static_cast<uint32_t>(x.size()));
    return *this;
  }

  builder& int64(int64_t x) {
    pk_.pack_int64(x);
    return *this;
  }

  builder& uint64(uint64_t x) {
    pk_.pack_uint64(x);
    return *this;
  }

  builder& float64(double x) {
    pk_.pack_double(x);
    return *this;
  }

  builder& float32(float x) {
    pk_.pack_float(x);
    return *this;
  }

  builder& boolean(bool x) {
    if (x)
      pk_.pack_true();
    else
      pk_.pack_false();
    return *this;
  }

  builder& nil() {
    pk_.pack_nil();
    return *this;
  }

  /// Appends bytes verbatim, e.g. a forged header.
  builder& raw(std::initializer_list<unsigned char> xs) {
    for (auto x : xs) {
      auto c = static_cast<char>(x);
      buf_.write(&c, 1);
    }
    return *this;
  }

  std::vector<char> bytes() const {
    return {buf_.data(), buf_.data() + buf_.size()};
  }

private:
  msgpack::sbuffer buf_;
  msgpack::packer<msgpack::sbuffer> pk_;
};

/// A one-field map `{name: <value written by f>}`.
template<class F>
std::vector<char> one_field(std::string_view name, F f) {
  builder b;
  b.map(1).str(name);
  f(b);
  return b.bytes();
}

/// A proposal map with `content` plus one more field.
template<class F>
std::vector<char> proposal_with(std::string_view name, F f) {
  builder b;
  b.map(2).str("content").str("c").str(name);
  f(b);
  return b.bytes();
}

} // namespace

BOOST_AUTO_TEST_SUITE(msgpack_codec)

// -- round trips --------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(round_trip, T, wire_types) {
  auto x = sample<T>();
  auto bytes = to_msgpack(x);
  BOOST_REQUIRE(!bytes.empty());
  auto y = from_msgpack<T>(bytes);
  REQUIRE_OK(y);
  check_eq(x, *y);
  // Encoding is deterministic and the decoded value encodes identically.
  BOOST_CHECK((to_msgpack(*y) == bytes));
  auto z = from_msgpack<T>(bytes.data(), bytes.size());
  REQUIRE_OK(z);
  check_eq(x, *z);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(defaults_round_trip, T, wire_types) {
  T x;
  auto y = from_msgpack<T>(to_msgpack(x));
  REQUIRE_OK(y);
  check_eq(x, *y);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_map_takes_defaults, T, lenient_types) {
  auto y = from_msgpack<T>(builder{}.map(0).bytes());
  REQUIRE_OK(y);
  check_eq(T{}, *y);
}

/// The msgpack document is the JSON document: a map with the same keys and
/// values, except that the envelope payload is a string holding the JSON.
BOOST_AUTO_TEST_CASE_TEMPLATE(same_document_as_json, T, wire_types) {
  auto x = sample<T>();
  auto bytes = to_msgpack(x);
  auto from_mp = nlohmann::json::from_msgpack(bytes.begin(), bytes.end());
  auto from_js = nlohmann::json::parse(to_json(x));
  BOOST_REQUIRE(from_mp.is_object());
  if constexpr (std::is_same_v<T, event_envelope>) {
    BOOST_REQUIRE(from_mp["payload"].is_string());
    BOOST_CHECK_EQUAL(from_mp["payload"].template get<std::string>(),
                      sample_payload);
    from_mp["payload"]
      = nlohmann::json::parse(from_mp["payload"].template get<std::string>());
  }
  BOOST_CHECK_MESSAGE(from_mp == from_js,
                      "msgpack: " << from_mp.dump()
                                  << "\njson:    " << from_js.dump());
}

BOOST_AUTO_TEST_CASE(extreme_numbers_round_trip) {
  orchestrator_stats x;
  x.total_deliberations = int64_limits::min();
  x.total_orchestrations = int64_limits::max();
  x.avg_ms = std::numeric_limits<double>::quiet_NaN();
  x.p50_ms = std::numeric_limits<double>::infinity();
  x.p95_ms = -std::numeric_limits<double>::infinity();
  x.p99_ms = std::numeric_limits<double>::denorm_min();
  x.role_counts = {{"min", int64_limits::min()}, {"max", int64_limits::max()}};
  auto y = from_msgpack<orchestrator_stats>(to_msgpack(x));
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->total_deliberations, int64_limits::min());
  BOOST_CHECK_EQUAL(y->total_orchestrations, int64_limits::max());
  BOOST_CHECK(std::isnan(y->avg_ms));
  BOOST_CHECK_EQUAL(y->p50_ms, x.p50_ms);
  BOOST_CHECK_EQUAL(y->p95_ms, x.p95_ms);
  BOOST_CHECK_EQUAL(y->p99_ms, x.p99_ms);
  BOOST_CHECK((y->role_counts == x.role_counts));
}

BOOST_AUTO_TEST_CASE(binary_safe_strings) {
  proposal x;
  const char text[] = "nul \0 inside and \xff\xfe bytes";
  x.content = std::string(text, sizeof(text) - 1);
  auto y = from_msgpack<proposal>(to_msgpack(x));
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->content, x.content);
}

// -- tolerance ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(field_order_unknown_keys_and_nil) {
  builder b;
  b.map(9);
  b.str("created_at_ms").int64(-5);
  b.str("unknown").map(2).str("a").array(2).nil().bin("x").int64(1).boolean(
    true);
  b.int64(7).str("a key that is not a string");
  b.str("revisions").array(2).str("r1").str("r2");
  b.str("content").str("body");
  b.str("author_role").nil();
  b.str("model").str("gpt");
  b.str("author_id").str("agent-1");
  b.str("id").str("p-9");
  auto y = from_msgpack<proposal>(b.bytes());
  REQUIRE_OK(y);
  proposal expected;
  expected.id = "p-9";
  expected.author_id = "agent-1";
  expected.content = "body";
  expected.revisions = {"r1", "r2"};
  expected.created_at_ms = -5;
  check_eq(expected, *y);
}

BOOST_AUTO_TEST_CASE(repeated_key_last_wins) {
  auto bytes = builder{}
                 .map(2)
                 .str("content")
                 .str("first")
                 .str("content")
                 .str("last")
                 .bytes();
  auto y = from_msgpack<proposal>(bytes);
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->content, "last");
}

BOOST_AUTO_TEST_CASE(number_encodings) {
  // Integral floats are integers; any number is a double.
  auto bytes = builder{}
                 .map(4)
                 .str("check_type")
                 .str("t")
                 .str("score")
                 .float32(0.5f)
                 .str("passed")
                 .boolean(false)
                 .str("details")
                 .map(0)
                 .bytes();
  auto y = from_msgpack<check_result>(bytes);
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->score, 0.5);
  BOOST_CHECK_EQUAL(y->passed, false);
  auto k = from_msgpack<constraints>(
    one_field("k", [](builder& b) { b.float64(-12.0); }));
  REQUIRE_OK(k);
  BOOST_CHECK_EQUAL(k->k, -12);
  auto s = from_msgpack<check_result>(
    one_field("score", [](builder& b) { b.uint64(18446744073709551615u); }));
  REQUIRE_OK(s);
  BOOST_CHECK_GT(s->score, 1.8e19);
  auto n = from_msgpack<check_result>(
    one_field("score", [](builder& b) { b.int64(-3); }));
  REQUIRE_OK(n);
  BOOST_CHECK_EQUAL(n->score, -3.0);
}

// -- required fields ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(required_fields) {
  check_fails(from_msgpack<proposal>(builder{}.map(0).bytes()),
              {"proposal.content", "missing required field"});
  check_fails(
    from_msgpack<proposal>(one_field("content", [](builder& b) { b.nil(); })),
    {"proposal.content", "missing required field"});
  check_fails(from_msgpack<deliberation_result>(builder{}.map(0).bytes()),
              {"deliberation_result.proposal", "missing required field"});
  check_fails(from_msgpack<event_envelope>(
                one_field("payload", [](builder& b) { b.str("{}"); })),
              {"event_envelope.event_type", "missing required field"});
  check_fails(from_msgpack<event_envelope>(
                one_field("event_type", [](builder& b) { b.str("e"); })),
              {"event_envelope.payload", "missing required field"});
  auto env = builder{}
               .map(2)
               .str("event_type")
               .str("e")
               .str("payload")
               .map(1)
               .str("a")
               .int64(1)
               .bytes();
  check_fails(from_msgpack<event_envelope>(env),
              {"event_envelope.payload: expected string, got map"});
}

// -- malformed input ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(empty_input) {
  check_fails(from_msgpack<proposal>(nullptr, 0), {"proposal: empty input"});
  check_fails(from_msgpack<proposal>(std::vector<char>{}),
              {"proposal: empty input"});
  char byte = 0;
  check_fails(from_msgpack<constraints>(&byte, 0),
              {"constraints: empty input"});
}

BOOST_AUTO_TEST_CASE(random_bytes) {
  check_fails(from_msgpack<proposal>(builder{}.raw({0xc1, 0x00}).bytes()),
              {"proposal: malformed msgpack"});
  std::mt19937 gen{42};
  std::uniform_int_distribution<int> len_dist{1, 96};
  std::uniform_int_distribution<int> byte_dist{0, 255};
  size_t failures = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<char> bytes(static_cast<size_t>(len_dist(gen)));
    for (auto& c : bytes)
      c = static_cast<char>(byte_dist(gen));
    auto res = from_msgpack<deliberation_outcome>(bytes);
    if (!res) {
      ++failures;
      if (code_of(res.error()) != ec::decode_failed)
        BOOST_FAIL("unexpected error: " << render(res.error()));
    }
  }
  BOOST_TEST_MESSAGE(failures << " of 20000 random inputs rejected");
  BOOST_CHECK_GT(failures, 19900u);
}

BOOST_AUTO_TEST_CASE(truncated_msgpack) {
  auto bytes = to_msgpack(sample<deliberation_outcome>());
  check_fails(from_msgpack<deliberation_outcome>(bytes.data(),
                                                 bytes.size() / 2),
              {"deliberation_outcome: truncated msgpack input"});
  for (size_t n = 1; n < bytes.size(); ++n) {
    auto res = from_msgpack<deliberation_outcome>(bytes.data(), n);
    if (res) {
      BOOST_ERROR("prefix of length " << n << " decoded");
      break;
    }
    BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
  }
}

BOOST_AUTO_TEST_CASE(trailing_bytes) {
  auto bytes = to_msgpack(sample<proposal>());
  bytes.push_back('\0');
  bytes.push_back('\x01');
  check_fails(from_msgpack<proposal>(bytes),
              {"proposal: 2 trailing bytes after the map"});
}

BOOST_AUTO_TEST_CASE(non_map_top_level) {
  check_fails(from_msgpack<proposal>(builder{}.array(0).bytes()),
              {"proposal: expected map, got array"});
  check_fails(from_msgpack<proposal>(builder{}.int64(1).bytes()),
              {"proposal: expected map, got integer"});
  check_fails(from_msgpack<task_spec>(builder{}.str("{}").bytes()),
              {"task_spec: expected map, got string"});
  check_fails(from_msgpack<task_spec>(builder{}.nil().bytes()),
              {"task_spec: expected map, got nil"});
  check_fails(from_msgpack<selection>(builder{}.bin("x").bytes()),
              {"selection: expected map, got binary"});
  // JSON text is not msgpack.
  auto json = to_json(sample<selection>());
  check_fails(from_msgpack<selection>(json.data(), json.size()), {"selection"});
}

BOOST_AUTO_TEST_CASE(wrong_field_types) {
  check_fails(from_msgpack<proposal>(
                proposal_with("author_id", [](builder& b) { b.int64(42); })),
              {"proposal.author_id: expected string, got integer"});
  check_fails(from_msgpack<proposal>(
                proposal_with("author_id", [](builder& b) { b.bin("a"); })),
              {"proposal.author_id: expected string, got binary"});
  check_fails(from_msgpack<proposal>(
                proposal_with("revisions", [](builder& b) { b.map(0); })),
              {"proposal.revisions: expected array, got map"});
  check_fails(
    from_msgpack<proposal>(proposal_with(
      "revisions", [](builder& b) { b.array(2).str("a").float64(1.5); })),
    {"proposal.revisions[1]: expected string, got float"});
  check_fails(from_msgpack<proposal>(
                proposal_with("created_at_ms", [](builder& b) { b.str("1"); })),
              {"proposal.created_at_ms: expected integer, got string"});
  check_fails(from_msgpack<policy_result>(
                one_field("passed", [](builder& b) { b.int64(1); })),
              {"policy_result.passed: expected boolean, got integer"});
  check_fails(from_msgpack<check_result>(
                one_field("score", [](builder& b) { b.str("high"); })),
              {"check_result.score: expected number, got string"});
  check_fails(from_msgpack<constraints>(
                one_field("metadata", [](builder& b) { b.array(0); })),
              {"constraints.metadata: expected map, got array"});
  check_fails(from_msgpack<constraints>(one_field(
                "metadata",
                [](builder& b) {
                  b.map(2).str("a").str("1").str("owner").boolean(true);
                })),
              {"constraints.metadata.owner: expected string, got boolean"});
  check_fails(from_msgpack<constraints>(
                one_field("metadata",
                          [](builder& b) { b.map(1).int64(3).str("three"); })),
              {"constraints.metadata: expected string key, got integer"});
  // Control characters in a key are masked in the message.
  check_fails(
    from_msgpack<constraints>(one_field(
      "metadata", [](builder& b) { b.map(1).str("line\nbreak").nil(); })),
    {"constraints.metadata.line?break: expected string, got nil"});
  check_fails(from_msgpack<orchestrator_stats>(
                one_field("role_counts",
                          [](builder& b) { b.map(1).str("DEV").str("3"); })),
              {"orchestrator_stats.role_counts.DEV: expected integer"});
  check_fails(from_msgpack<task_spec>(
                one_field("constraints",
                          [](builder& b) {
                            b.map(1).str("requirements").array(1).map(0);
                          })),
              {"task_spec.constraints.requirements[0]: expected string, "
               "got map"});
  check_fails(from_msgpack<deliberation_outcome>(one_field(
                "results",
                [](builder& b) {
                  b.array(2);
                  b.map(1).str("proposal").map(1).str("content").str("c");
                  b.map(1).str("proposal").map(1).str("content").nil();
                })),
              {"deliberation_outcome.results[1].proposal.content: missing"});
  check_fails(
    from_msgpack<check_suite>(one_field(
      "lint", [](builder& b) { b.map(1).str("error_count").str("2"); })),
    {"check_suite.lint.error_count: expected integer, got "
     "string"});
}

BOOST_AUTO_TEST_CASE(integer_range) {
  auto k = [](auto write) {
    return from_msgpack<constraints>(one_field("k", write));
  };
  check_fails(k([](builder& b) { b.int64(2147483648); }),
              {"constraints.k: number 2147483648 out of int32 range"});
  check_fails(k([](builder& b) { b.int64(-2147483649); }),
              {"constraints.k: number -2147483649 out of int32 range"});
  check_fails(k([](builder& b) { b.float64(1e10); }),
              {"constraints.k", "out of int32 range"});
  check_fails(k([](builder& b) { b.float64(2.5); }),
              {"constraints.k: expected integer, got 2.5"});
  check_fails(
    k([](builder& b) { b.float64(std::numeric_limits<double>::quiet_NaN()); }),
    {"constraints.k: expected integer"});
  auto ok = k([](builder& b) { b.int64(-2147483648); });
  REQUIRE_OK(ok);
  BOOST_CHECK_EQUAL(ok->k, int32_limits::min());
  check_fails(
    from_msgpack<proposal>(proposal_with(
      "created_at_ms", [](builder& b) { b.uint64(9223372036854775808u); })),
    {"proposal.created_at_ms: number 9223372036854775808 out of "
     "int64 range"});
  check_fails(from_msgpack<proposal>(proposal_with(
                "created_at_ms", [](builder& b) { b.float64(1e19); })),
              {"proposal.created_at_ms", "out of int64 range"});
}

BOOST_AUTO_TEST_CASE(forged_length_prefixes) {
  // Each header claims far more than the input holds; none may allocate it.
  auto field = [](std::initializer_list<unsigned char> header) {
    return proposal_with("revisions",
                         [&](builder& b) { b.raw(header).raw({0xa1}); });
  };
  // array32, map32, str32, bin32, ext32 with 2^32 - 1 elements or bytes.
  for (auto tag : {0xdd, 0xdf, 0xdb, 0xc6, 0xc9}) {
    auto bytes
      = field({static_cast<unsigned char>(tag), 0xff, 0xff, 0xff, 0xff});
    auto res = from_msgpack<proposal>(bytes);
    BOOST_REQUIRE(!res);
    BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
    BOOST_TEST_MESSAGE("error: " << render(res.error()));
  }
  check_fails(from_msgpack<proposal>(
                builder{}.raw({0xdf, 0xff, 0xff, 0xff, 0xff}).bytes()),
              {"proposal: msgpack length prefix exceeds the input size"});
  check_fails(from_msgpack<proposal>(
                builder{}.raw({0xdd, 0x7f, 0xff, 0xff, 0xff, 0xc0}).bytes()),
              {"proposal: msgpack length prefix exceeds the input size"});
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_rejected) {
  auto nested = [](uint32_t depth) {
    return proposal_with("x", [depth](builder& b) {
      for (uint32_t i = 0; i < depth; ++i)
        b.array(1);
      b.nil();
    });
  };
  REQUIRE_OK(from_msgpack<proposal>(nested(60)));
  check_fails(from_msgpack<proposal>(nested(100)),
              {"proposal: msgpack nests deeper than 64 levels"});
  check_fails(from_msgpack<proposal>(nested(100000)),
              {"proposal: msgpack nests deeper than 64 levels"});
}

BOOST_AUTO_TEST_SUITE_END()
