#pragma once

// The vocabulary of a deliberation: a task and its constraints, model calls
// and their usage, proposals and critiques, the checks' results, outcomes
// and the architect's choice. Plain aggregates with a CAF 0.17 `inspect`;
// their type IDs are in messages/messages.hpp, which includes this.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/shared.hpp"

namespace orch {

// -- task and constraints -----------------------------------------------------

/// What the rubric, requirements and limits of one task are.
struct constraints {
  std::string rubric;
  std::vector<std::string> requirements;
  std::map<std::string, std::string> metadata;
  int32_t max_iterations = 10;
  /// Time limit per agent call in seconds; 0 means only the deliberation
  /// limit applies.
  int32_t timeout_seconds = 0;
  /// The architect chooses among the top k results.
  int32_t k = 3;
  /// Rounds of peer critique and revision; negative means the council's
  /// default.
  int32_t rounds = -1;
  /// Limit of the whole deliberation in ms (a gRPC client's deadline); the
  /// council's limit applies when it is shorter or when this is 0.
  int64_t limit_ms = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, constraints& x) {
  return f(caf::meta::type_name("orch.constraints"), x.rubric, x.requirements,
           x.metadata, x.max_iterations, x.timeout_seconds, x.k, x.rounds,
           x.limit_ms);
}

/// One atomic task for a council.
struct task_spec {
  std::string task_id;
  std::string story_id;
  std::string plan_id;
  std::string case_id;
  std::string role;
  std::string description;
  orch::constraints constraints;
  std::vector<std::string> dependencies;
  int32_t priority = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_spec& x) {
  return f(caf::meta::type_name("orch.task_spec"), x.task_id, x.story_id,
           x.plan_id, x.case_id, x.role, x.description, x.constraints,
           x.dependencies, x.priority);
}

// -- LLM usage ----------------------------------------------------------------

/// What model calls cost: counted per call and summed per deliberation.
struct llm_usage {
  int32_t calls = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  /// HTTP attempts beyond the first (connection errors, 429, 5xx) plus
  /// re-asks after an empty or malformed reply.
  int32_t retries = 0;
  /// Sum of the call latencies.
  int64_t latency_ms = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_usage& x) {
  return f(caf::meta::type_name("orch.llm_usage"), x.calls, x.prompt_tokens,
           x.completion_tokens, x.retries, x.latency_ms);
}

/// Adds `y` to `x`.
void add_usage(llm_usage& x, const llm_usage& y);

/// One HTTP request to an OpenAI-compatible endpoint.
struct llm_request {
  /// Full URL, e.g. http://vllm:8000/v1/chat/completions.
  std::string url;
  std::string api_key;
  /// JSON body.
  std::string body;
  int32_t timeout_ms = 60000;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_request& x) {
  return f(caf::meta::type_name("orch.llm_request"), x.url, x.api_key, x.body,
           x.timeout_ms);
}

/// A successful (2xx) HTTP reply.
struct llm_reply {
  int32_t status = 0;
  std::string body;
  int64_t latency_ms = 0;
  /// Attempts beyond the first.
  int32_t retries = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_reply& x) {
  return f(caf::meta::type_name("orch.llm_reply"), x.status, x.body,
           x.latency_ms, x.retries);
}

// -- proposals and critiques --------------------------------------------------

/// A solution drafted by one agent; `revisions` keeps earlier contents.
struct proposal {
  std::string id;
  std::string author_id;
  std::string author_role;
  std::string content;
  std::vector<std::string> revisions;
  int64_t created_at_ms = 0;
  /// Model usage of the call that produced this version (zero for
  /// `scripted` agents).
  llm_usage usage;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, proposal& x) {
  return f(caf::meta::type_name("orch.proposal"), x.id, x.author_id,
           x.author_role, x.content, x.revisions, x.created_at_ms, x.usage);
}

/// A task as the messages of one deliberation share it.
using task_ref = shared<task_spec>;

/// A proposal as the messages of one deliberation share it.
using proposal_ref = shared<proposal>;

/// Feedback of one agent on another agent's proposal.
struct critique {
  std::string critic_id;
  std::string proposal_id;
  std::string target_author_id;
  int32_t round = 0;
  /// Named gaps against the rubric and requirements.
  std::vector<std::string> issues;
  std::string content;
  /// Model usage of the call that produced this critique.
  llm_usage usage;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, critique& x) {
  return f(caf::meta::type_name("orch.critique"), x.critic_id, x.proposal_id,
           x.target_author_id, x.round, x.issues, x.content, x.usage);
}

// -- checks -------------------------------------------------------------------

struct policy_result {
  bool passed = true;
  std::vector<std::string> violations;
  std::string message;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, policy_result& x) {
  return f(caf::meta::type_name("orch.policy_result"), x.passed, x.violations,
           x.message);
}

struct lint_result {
  bool passed = true;
  int32_t error_count = 0;
  int32_t warning_count = 0;
  std::vector<std::string> errors;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, lint_result& x) {
  return f(caf::meta::type_name("orch.lint_result"), x.passed, x.error_count,
           x.warning_count, x.errors);
}

struct dryrun_result {
  bool passed = true;
  /// True when no command is configured for the role.
  bool skipped = true;
  std::string output;
  int32_t exit_code = 0;
  std::string message;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, dryrun_result& x) {
  return f(caf::meta::type_name("orch.dryrun_result"), x.passed, x.skipped,
           x.output, x.exit_code, x.message);
}

struct check_result {
  std::string check_type;
  bool passed = true;
  double score = 0;
  std::string message;
  std::map<std::string, std::string> details;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_result& x) {
  return f(caf::meta::type_name("orch.check_result"), x.check_type, x.passed,
           x.score, x.message, x.details);
}

/// Outcome of the check suite on one proposal, with its score in [0, 1].
struct check_suite {
  policy_result policy;
  lint_result lint;
  dryrun_result dryrun;
  std::vector<check_result> additional;
  bool all_passed = true;
  double score = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_suite& x) {
  return f(caf::meta::type_name("orch.check_suite"), x.policy, x.lint, x.dryrun,
           x.additional, x.all_passed, x.score);
}

/// Number of passed checks among policy, lint and dry-run (skipped counts as
/// passed) plus the additional checks.
int checks_passed(const check_suite& x);

/// Number of checks counted by `checks_passed`.
int checks_total(const check_suite& x);

// -- deliberation -------------------------------------------------------------

struct deliberation_result {
  orch::proposal proposal;
  check_suite checks;
  double score = 0;
  int32_t rank = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, deliberation_result& x) {
  return f(caf::meta::type_name("orch.deliberation_result"), x.proposal,
           x.checks, x.score, x.rank);
}

/// Why an agent was dropped from a deliberation.
struct agent_failure {
  std::string agent_id;
  std::string phase;
  std::string reason;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_failure& x) {
  return f(caf::meta::type_name("orch.agent_failure"), x.agent_id, x.phase,
           x.reason);
}

/// The ranked result of one deliberation (and, for orchestrate, the
/// architect's choice).
struct deliberation_outcome {
  std::string task_id;
  std::string execution_id;
  std::string role;
  std::string story_id;
  std::string plan_id;
  std::vector<deliberation_result> results;
  std::string winner_id;
  std::string rationale;
  int64_t duration_ms = 0;
  /// "completed" or "failed".
  std::string status;
  std::string error;
  std::vector<agent_failure> failed_agents;
  /// Model usage summed over every call of the deliberation.
  llm_usage usage;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, deliberation_outcome& x) {
  return f(caf::meta::type_name("orch.deliberation_outcome"), x.task_id,
           x.execution_id, x.role, x.story_id, x.plan_id, x.results,
           x.winner_id, x.rationale, x.duration_ms, x.status, x.error,
           x.failed_agents, x.usage);
}

/// Stored outcomes with the times they were stored (us since the epoch),
/// oldest first: how the ORCHESTRATOR of one engine lane answers when the
/// look-ups of several lanes are merged (actors/orchestrator_group.cpp).
struct stored_outcomes {
  std::vector<deliberation_outcome> outcomes;
  std::vector<int64_t> stored_at_us;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_outcomes& x) {
  return f(caf::meta::type_name("orch.stored_outcomes"), x.outcomes,
           x.stored_at_us);
}

/// Progress of a running deliberation.
struct deliberation_update {
  std::string task_id;
  std::string execution_id;
  /// generating, reviewing, revising, scoring, selecting, complete.
  std::string status;
  int32_t progress_percent = 0;
  std::string current_step;
  std::string current_agent;
  int32_t round = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, deliberation_update& x) {
  return f(caf::meta::type_name("orch.deliberation_update"), x.task_id,
           x.execution_id, x.status, x.progress_percent, x.current_step,
           x.current_agent, x.round);
}

/// The choice of the architect.
struct selection {
  std::string winner_id;
  std::string rationale;
  /// Author ids of the candidates that were considered (the top k).
  std::vector<std::string> considered;
  /// "rule" or "llm".
  std::string mode;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, selection& x) {
  return f(caf::meta::type_name("orch.selection"), x.winner_id, x.rationale,
           x.considered, x.mode);
}

} // namespace orch
