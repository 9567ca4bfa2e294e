#pragma once

// The field lists of the wire types, shared by the JSON and msgpack codecs
// so that both wires use the same names. Internal to messages/.

#include <string>
#include <string_view>

#include <caf/error.hpp>

#include "messages/messages.hpp"
#include "messages/wire_types.hpp"

namespace orch::wire {

// -- field lists --------------------------------------------------------------

/// Whether decoding fails when a field is absent (or null).
enum class need { optional, required };

/// A string member that holds a JSON document (the envelope payload); a
/// plain string on the msgpack wire.
struct json_text {
  std::string& text;
};

/// The name of a wire type, also the first segment of error paths.
template<class T>
inline constexpr const char* wire_name = nullptr;

// Each `fields` overload calls `f(name, member)` for every member, in the
// order of the struct. Encoders receive a const_cast object and only read.

template<class F>
void fields(F& f, constraints& x) {
  f("rubric", x.rubric);
  f("requirements", x.requirements);
  f("metadata", x.metadata);
  f("max_iterations", x.max_iterations);
  f("timeout_seconds", x.timeout_seconds);
  f("k", x.k);
  f("rounds", x.rounds);
  f("limit_ms", x.limit_ms);
}

template<class F>
void fields(F& f, task_spec& x) {
  f("task_id", x.task_id);
  f("story_id", x.story_id);
  f("plan_id", x.plan_id);
  f("case_id", x.case_id);
  f("role", x.role);
  f("description", x.description);
  f("constraints", x.constraints);
  f("dependencies", x.dependencies);
  f("priority", x.priority);
}

template<class F>
void fields(F& f, llm_usage& x) {
  f("calls", x.calls);
  f("prompt_tokens", x.prompt_tokens);
  f("completion_tokens", x.completion_tokens);
  f("retries", x.retries);
  f("latency_ms", x.latency_ms);
}

template<class F>
void fields(F& f, proposal& x) {
  f("id", x.id);
  f("author_id", x.author_id);
  f("author_role", x.author_role);
  f("content", x.content, need::required);
  f("revisions", x.revisions);
  f("created_at_ms", x.created_at_ms);
  f("usage", x.usage);
}

template<class F>
void fields(F& f, critique& x) {
  f("critic_id", x.critic_id);
  f("proposal_id", x.proposal_id);
  f("target_author_id", x.target_author_id);
  f("round", x.round);
  f("issues", x.issues);
  f("content", x.content);
  f("usage", x.usage);
}

template<class F>
void fields(F& f, policy_result& x) {
  f("passed", x.passed);
  f("violations", x.violations);
  f("message", x.message);
}

template<class F>
void fields(F& f, lint_result& x) {
  f("passed", x.passed);
  f("error_count", x.error_count);
  f("warning_count", x.warning_count);
  f("errors", x.errors);
}

template<class F>
void fields(F& f, dryrun_result& x) {
  f("passed", x.passed);
  f("skipped", x.skipped);
  f("output", x.output);
  f("exit_code", x.exit_code);
  f("message", x.message);
}

template<class F>
void fields(F& f, check_result& x) {
  f("check_type", x.check_type);
  f("passed", x.passed);
  f("score", x.score);
  f("message", x.message);
  f("details", x.details);
}

template<class F>
void fields(F& f, check_suite& x) {
  f("policy", x.policy);
  f("lint", x.lint);
  f("dryrun", x.dryrun);
  f("additional", x.additional);
  f("all_passed", x.all_passed);
  f("score", x.score);
}

template<class F>
void fields(F& f, deliberation_result& x) {
  f("proposal", x.proposal, need::required);
  f("checks", x.checks);
  f("score", x.score);
  f("rank", x.rank);
}

template<class F>
void fields(F& f, agent_failure& x) {
  f("agent_id", x.agent_id);
  f("phase", x.phase);
  f("reason", x.reason);
}

template<class F>
void fields(F& f, deliberation_outcome& x) {
  f("task_id", x.task_id);
  f("execution_id", x.execution_id);
  f("role", x.role);
  f("story_id", x.story_id);
  f("plan_id", x.plan_id);
  f("results", x.results);
  f("winner_id", x.winner_id);
  f("rationale", x.rationale);
  f("duration_ms", x.duration_ms);
  f("status", x.status);
  f("error", x.error);
  f("failed_agents", x.failed_agents);
  f("usage", x.usage);
}

template<class F>
void fields(F& f, deliberation_update& x) {
  f("task_id", x.task_id);
  f("execution_id", x.execution_id);
  f("status", x.status);
  f("progress_percent", x.progress_percent);
  f("current_step", x.current_step);
  f("current_agent", x.current_agent);
  f("round", x.round);
}

template<class F>
void fields(F& f, selection& x) {
  f("winner_id", x.winner_id);
  f("rationale", x.rationale);
  f("considered", x.considered);
  f("mode", x.mode);
}

template<class F>
void fields(F& f, council_config& x) {
  f("role", x.role);
  f("num_agents", x.num_agents);
  f("agent_type", x.agent_type);
  f("rounds", x.rounds);
  f("custom_params", x.custom_params);
}

template<class F>
void fields(F& f, council_info& x) {
  f("council_id", x.council_id);
  f("role", x.role);
  f("agent_type", x.agent_type);
  f("agent_ids", x.agent_ids);
  f("rounds", x.rounds);
}

template<class F>
void fields(F& f, node_info& x) {
  f("name", x.name);
  f("state", x.state);
  f("agents", x.agents);
  f("scorers", x.scorers);
  f("epoch", x.epoch);
  f("error", x.error);
  f("since_ms", x.since_ms);
}

template<class F>
void fields(F& f, orchestrator_stats& x) {
  f("total_deliberations", x.total_deliberations);
  f("total_orchestrations", x.total_orchestrations);
  f("failed_deliberations", x.failed_deliberations);
  f("avg_ms", x.avg_ms);
  f("p50_ms", x.p50_ms);
  f("p95_ms", x.p95_ms);
  f("p99_ms", x.p99_ms);
  f("active_councils", x.active_councils);
  f("role_counts", x.role_counts);
  f("usage", x.usage);
}

template<class F>
void fields(F& f, event_envelope& x) {
  f("event_type", x.event_type, need::required);
  f("payload", json_text{x.payload}, need::required);
  f("idempotency_key", x.idempotency_key);
  f("correlation_id", x.correlation_id);
  f("timestamp", x.timestamp);
  f("producer", x.producer);
  f("metadata", x.metadata);
  f("causation_id", x.causation_id);
}


#define ORCH_WIRE_NAME(type)                                                   \
  template<>                                                                   \
  inline constexpr const char* wire_name<type> = #type;

ORCH_WIRE_TYPES(ORCH_WIRE_NAME)

#undef ORCH_WIRE_NAME

// -- decoding errors ----------------------------------------------------------

/// Shortens `x` for an error message, without splitting a UTF-8 sequence,
/// and masks control characters so that input cannot forge log lines.
inline std::string clip(std::string_view x, size_t max_len = 64) {
  auto len = x.size();
  if (len > max_len) {
    len = max_len;
    while (len > 0 && (static_cast<unsigned char>(x[len]) & 0xC0) == 0x80)
      --len;
  }
  std::string out{x.substr(0, len)};
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  if (len < x.size())
    out += "...";
  return out;
}

/// A position in the document, rendered only when decoding fails, e.g.
/// "deliberation_outcome.results[2].proposal.content".
struct where {
  const where* parent = nullptr;
  /// A type name at the root, a member name or map key below.
  std::string_view name;
  /// The position in an array when `is_index`.
  size_t index = 0;
  bool is_index = false;

  std::string str() const {
    std::string out = parent != nullptr ? parent->str() : std::string{};
    if (is_index) {
      out += '[';
      out += std::to_string(index);
      out += ']';
    } else {
      if (parent != nullptr)
        out += '.';
      out += clip(name);
    }
    return out;
  }
};

/// Unwinds a decoder; caught at the API boundary and turned into an error.
struct decode_error {
  std::string what;
};

[[noreturn]] inline void fail(const where& at, const std::string& what) {
  throw decode_error{at.str() + ": " + what};
}

inline caf::error failure(std::string what) {
  return caf::make_error(ec::decode_failed, std::move(what));
}

} // namespace orch::wire
