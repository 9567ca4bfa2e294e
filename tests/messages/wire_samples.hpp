#pragma once

// Samples with awkward values and field-by-field comparisons of every wire
// type, shared by the JSON and msgpack codec suites.

#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "messages/messages.hpp"
#include "test_util.hpp"

namespace orch::test {

using int64_limits = std::numeric_limits<int64_t>;
using int32_limits = std::numeric_limits<int32_t>;

// -- samples with awkward values ----------------------------------------------

inline const std::string unicode = "Grüße, 世界 🚀 — naïve";
inline const std::string quoted = "say \"hi\" \\ and 'bye'";
inline const std::string multiline = "line 1\nline 2\r\n\ttabbed\x01\x1f end";

template<class T>
T sample();

template<>
inline llm_usage sample<llm_usage>() {
  llm_usage x;
  x.calls = 7;
  x.prompt_tokens = int64_limits::max();
  x.completion_tokens = 0;
  x.retries = -2;
  x.latency_ms = 1234567;
  return x;
}

template<>
inline constraints sample<constraints>() {
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
inline task_spec sample<task_spec>() {
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
inline proposal sample<proposal>() {
  proposal x;
  x.id = "p-1";
  x.author_id = "agent-dev-001";
  x.author_role = "DEV";
  x.content = "```python\nprint(\"" + unicode + "\")\n```\n";
  x.revisions = {"first draft", multiline, ""};
  x.created_at_ms = int64_limits::max();
  x.usage = sample<llm_usage>();
  return x;
}

template<>
inline critique sample<critique>() {
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
inline policy_result sample<policy_result>() {
  policy_result x;
  x.passed = false;
  x.violations = {"secret: AKIA...", "rm -rf /", unicode};
  x.message = multiline;
  return x;
}

template<>
inline lint_result sample<lint_result>() {
  lint_result x;
  x.passed = false;
  x.error_count = 2;
  x.warning_count = -1;
  x.errors = {"line 1: unexpected \"}\"", "line 9:\ttab"};
  return x;
}

template<>
inline dryrun_result sample<dryrun_result>() {
  dryrun_result x;
  x.passed = false;
  x.skipped = false;
  x.output = multiline + unicode;
  x.exit_code = -9;
  x.message = "killed";
  return x;
}

template<>
inline check_result sample<check_result>() {
  check_result x;
  x.check_type = "security";
  x.passed = false;
  x.score = -0.125;
  x.message = quoted;
  x.details = {{"a", "1"}, {"b", unicode}, {"c\nd", ""}};
  return x;
}

template<>
inline check_suite sample<check_suite>() {
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
inline deliberation_result sample<deliberation_result>() {
  deliberation_result x;
  x.proposal = sample<proposal>();
  x.checks = sample<check_suite>();
  x.score = 1e-300;
  x.rank = 2;
  return x;
}

template<>
inline agent_failure sample<agent_failure>() {
  agent_failure x;
  x.agent_id = "agent-dev-003";
  x.phase = "revise";
  x.reason = "timeout after 30s: " + quoted;
  return x;
}

template<>
inline deliberation_outcome sample<deliberation_outcome>() {
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
inline deliberation_update sample<deliberation_update>() {
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
inline selection sample<selection>() {
  selection x;
  x.winner_id = "p-2";
  x.rationale = quoted + "\n" + unicode;
  x.considered = {"agent-dev-001", "agent-dev-002", "agent-dev-003"};
  x.mode = "llm";
  return x;
}

template<>
inline council_config sample<council_config>() {
  council_config x;
  x.role = "DEVOPS";
  x.num_agents = 0;
  x.agent_type = "vllm";
  x.rounds = -5;
  x.custom_params = {{"temperature", "0.7"}, {"model", unicode}};
  return x;
}

template<>
inline council_info sample<council_info>() {
  council_info x;
  x.council_id = "council-devops";
  x.role = "DEVOPS";
  x.agent_type = "scripted";
  x.agent_ids = {};
  x.rounds = 2;
  return x;
}

template<>
inline orchestrator_stats sample<orchestrator_stats>() {
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
inline event_envelope sample<event_envelope>() {
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

inline void check_eq(const llm_usage& a, const llm_usage& b) {
  BOOST_CHECK_EQUAL(a.calls, b.calls);
  BOOST_CHECK_EQUAL(a.prompt_tokens, b.prompt_tokens);
  BOOST_CHECK_EQUAL(a.completion_tokens, b.completion_tokens);
  BOOST_CHECK_EQUAL(a.retries, b.retries);
  BOOST_CHECK_EQUAL(a.latency_ms, b.latency_ms);
}

inline void check_eq(const constraints& a, const constraints& b) {
  BOOST_CHECK_EQUAL(a.rubric, b.rubric);
  CHECK_SAME_VECTOR(a.requirements, b.requirements);
  CHECK_SAME_MAP(a.metadata, b.metadata);
  BOOST_CHECK_EQUAL(a.max_iterations, b.max_iterations);
  BOOST_CHECK_EQUAL(a.timeout_seconds, b.timeout_seconds);
  BOOST_CHECK_EQUAL(a.k, b.k);
  BOOST_CHECK_EQUAL(a.rounds, b.rounds);
}

inline void check_eq(const task_spec& a, const task_spec& b) {
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

inline void check_eq(const proposal& a, const proposal& b) {
  BOOST_CHECK_EQUAL(a.id, b.id);
  BOOST_CHECK_EQUAL(a.author_id, b.author_id);
  BOOST_CHECK_EQUAL(a.author_role, b.author_role);
  BOOST_CHECK_EQUAL(a.content, b.content);
  CHECK_SAME_VECTOR(a.revisions, b.revisions);
  BOOST_CHECK_EQUAL(a.created_at_ms, b.created_at_ms);
  check_eq(a.usage, b.usage);
}

inline void check_eq(const critique& a, const critique& b) {
  BOOST_CHECK_EQUAL(a.critic_id, b.critic_id);
  BOOST_CHECK_EQUAL(a.proposal_id, b.proposal_id);
  BOOST_CHECK_EQUAL(a.target_author_id, b.target_author_id);
  BOOST_CHECK_EQUAL(a.round, b.round);
  CHECK_SAME_VECTOR(a.issues, b.issues);
  BOOST_CHECK_EQUAL(a.content, b.content);
}

inline void check_eq(const policy_result& a, const policy_result& b) {
  BOOST_CHECK_EQUAL(a.passed, b.passed);
  CHECK_SAME_VECTOR(a.violations, b.violations);
  BOOST_CHECK_EQUAL(a.message, b.message);
}

inline void check_eq(const lint_result& a, const lint_result& b) {
  BOOST_CHECK_EQUAL(a.passed, b.passed);
  BOOST_CHECK_EQUAL(a.error_count, b.error_count);
  BOOST_CHECK_EQUAL(a.warning_count, b.warning_count);
  CHECK_SAME_VECTOR(a.errors, b.errors);
}

inline void check_eq(const dryrun_result& a, const dryrun_result& b) {
  BOOST_CHECK_EQUAL(a.passed, b.passed);
  BOOST_CHECK_EQUAL(a.skipped, b.skipped);
  BOOST_CHECK_EQUAL(a.output, b.output);
  BOOST_CHECK_EQUAL(a.exit_code, b.exit_code);
  BOOST_CHECK_EQUAL(a.message, b.message);
}

inline void check_eq(const check_result& a, const check_result& b) {
  BOOST_CHECK_EQUAL(a.check_type, b.check_type);
  BOOST_CHECK_EQUAL(a.passed, b.passed);
  BOOST_CHECK_EQUAL(a.score, b.score);
  BOOST_CHECK_EQUAL(a.message, b.message);
  CHECK_SAME_MAP(a.details, b.details);
}

inline void check_eq(const check_suite& a, const check_suite& b) {
  check_eq(a.policy, b.policy);
  check_eq(a.lint, b.lint);
  check_eq(a.dryrun, b.dryrun);
  BOOST_REQUIRE_EQUAL(a.additional.size(), b.additional.size());
  for (size_t i = 0; i < a.additional.size(); ++i)
    check_eq(a.additional[i], b.additional[i]);
  BOOST_CHECK_EQUAL(a.all_passed, b.all_passed);
  BOOST_CHECK_EQUAL(a.score, b.score);
}

inline void check_eq(const deliberation_result& a,
                     const deliberation_result& b) {
  check_eq(a.proposal, b.proposal);
  check_eq(a.checks, b.checks);
  BOOST_CHECK_EQUAL(a.score, b.score);
  BOOST_CHECK_EQUAL(a.rank, b.rank);
}

inline void check_eq(const agent_failure& a, const agent_failure& b) {
  BOOST_CHECK_EQUAL(a.agent_id, b.agent_id);
  BOOST_CHECK_EQUAL(a.phase, b.phase);
  BOOST_CHECK_EQUAL(a.reason, b.reason);
}

inline void check_eq(const deliberation_outcome& a,
                     const deliberation_outcome& b) {
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

inline void check_eq(const deliberation_update& a,
                     const deliberation_update& b) {
  BOOST_CHECK_EQUAL(a.task_id, b.task_id);
  BOOST_CHECK_EQUAL(a.execution_id, b.execution_id);
  BOOST_CHECK_EQUAL(a.status, b.status);
  BOOST_CHECK_EQUAL(a.progress_percent, b.progress_percent);
  BOOST_CHECK_EQUAL(a.current_step, b.current_step);
  BOOST_CHECK_EQUAL(a.current_agent, b.current_agent);
  BOOST_CHECK_EQUAL(a.round, b.round);
}

inline void check_eq(const selection& a, const selection& b) {
  BOOST_CHECK_EQUAL(a.winner_id, b.winner_id);
  BOOST_CHECK_EQUAL(a.rationale, b.rationale);
  CHECK_SAME_VECTOR(a.considered, b.considered);
  BOOST_CHECK_EQUAL(a.mode, b.mode);
}

inline void check_eq(const council_config& a, const council_config& b) {
  BOOST_CHECK_EQUAL(a.role, b.role);
  BOOST_CHECK_EQUAL(a.num_agents, b.num_agents);
  BOOST_CHECK_EQUAL(a.agent_type, b.agent_type);
  BOOST_CHECK_EQUAL(a.rounds, b.rounds);
  CHECK_SAME_MAP(a.custom_params, b.custom_params);
}

inline void check_eq(const council_info& a, const council_info& b) {
  BOOST_CHECK_EQUAL(a.council_id, b.council_id);
  BOOST_CHECK_EQUAL(a.role, b.role);
  BOOST_CHECK_EQUAL(a.agent_type, b.agent_type);
  CHECK_SAME_VECTOR(a.agent_ids, b.agent_ids);
  BOOST_CHECK_EQUAL(a.rounds, b.rounds);
}

inline void check_eq(const orchestrator_stats& a, const orchestrator_stats& b) {
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

inline void check_eq(const event_envelope& a, const event_envelope& b) {
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

using wire_types = std::tuple<
  llm_usage, constraints, task_spec, proposal, critique, policy_result,
  lint_result, dryrun_result, check_result, check_suite, deliberation_result,
  agent_failure, deliberation_outcome, deliberation_update, selection,
  council_config, council_info, orchestrator_stats, event_envelope>;

// -- error checks -------------------------------------------------------------

/// The types without a required field: "{}" decodes to their defaults.
using lenient_types
  = std::tuple<constraints, task_spec, critique, policy_result, lint_result,
               dryrun_result, check_result, check_suite, agent_failure,
               deliberation_outcome, deliberation_update, selection,
               council_config, council_info, orchestrator_stats>;

/// Requires `x` to hold a value, printing the error otherwise.
#define REQUIRE_OK(x) BOOST_REQUIRE_MESSAGE(static_cast<bool>(x), why(x))

/// Requires `res` to be a decode_failed error whose message contains every
/// one of `parts` (the field path, the problem).
template<class T>
inline void check_fails(const caf::expected<T>& res,
                        std::initializer_list<std::string> parts) {
  BOOST_REQUIRE_MESSAGE(!res, "decoding succeeded unexpectedly");
  BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
  auto msg = render(res.error());
  BOOST_TEST_MESSAGE("error: " << msg);
  for (auto& part : parts)
    BOOST_CHECK_MESSAGE(msg.find(part) != std::string::npos,
                        "'" << msg << "' lacks '" << part << "'");
}

} // namespace orch::test
