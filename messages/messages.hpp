#pragma once

// The vocabulary of the orchestrator: plain aggregates with a CAF 0.17
// `inspect`, the atoms, the error enum and the one type-ID block.

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "messages/shared.hpp"

namespace orch {

// -- errors -------------------------------------------------------------------

/// Error codes of the orchestrator, category `orch`.
enum class ec : uint8_t {
  none = 0,
  /// A request carried a blank or malformed field.
  invalid_argument,
  /// A council, agent, task or result does not exist.
  not_found,
  /// A council or agent with that id already exists.
  already_exists,
  /// A call or a whole deliberation ran past its time limit.
  timeout,
  /// Fewer proposals survived than the quorum requires.
  quorum_not_reached,
  /// An agent backend failed to produce a usable answer.
  agent_failed,
  /// Input bytes could not be decoded.
  decode_failed,
  /// A configuration value is missing or wrong.
  invalid_config,
  /// A child process could not be started.
  process_failed,
  /// Anything else that went wrong inside the orchestrator.
  internal,
  /// The requester cancelled or went away.
  cancelled,
  /// A peer failed authentication (a node or orchestrator without the
  /// secret).
  refused,
  /// A dependency (the model endpoint) cannot be reached now: its circuit
  /// is open, or its errors outlasted the retries. Worth trying later; the
  /// task is not at fault.
  unavailable,
};

/// Returns the name of `x`, e.g. "not_found".
const char* to_string(ec x);

/// Prints the name of `x`.
std::ostream& operator<<(std::ostream& os, ec x);

/// Renders an error of any category with names instead of numbers,
/// e.g. "orch.not_found: no council for role QA".
std::string render(const caf::error& err);

/// Returns the error code of `err` when it belongs to the `orch` category.
ec code_of(const caf::error& err);

/// The text of an error without its category and code ("" when it has
/// none).
std::string detail_of(const caf::error& err);

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

// -- plans and the task queue -------------------------------------------------

/// A plan to turn into atomic tasks: explicit tasks, a plan document (YAML,
/// JSON or markdown) to derive them from, or neither (one task per role).
struct plan_input {
  std::string story_id;
  std::string plan_id;
  std::string approved_by;
  std::vector<std::string> roles;
  std::vector<task_spec> tasks;
  /// A plan document; `format` says how to read it.
  std::string text;
  /// "auto", "yaml", "json" or "markdown".
  std::string format = "auto";
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, plan_input& x) {
  return f(caf::meta::type_name("orch.plan_input"), x.story_id, x.plan_id,
           x.approved_by, x.roles, x.tasks, x.text, x.format);
}

/// A task in the queue with its state: QUEUED, READY, IN_PROGRESS,
/// COMPLETED, FAILED, BLOCKED or CANCELLED.
struct queued_task {
  queued_task() = default;

  /// A new QUEUED task; the spec moves in.
  explicit queued_task(task_spec&& spec) : task(std::move(spec)) {
  }

  task_spec task;
  std::string state = "QUEUED";
  int32_t attempts = 0;
  int32_t max_attempts = 3;
  std::string lease_owner;
  int64_t lease_expires_ms = 0;
  /// Not leased again before this time (retry backoff).
  int64_t not_before_ms = 0;
  /// Enqueue order, for FIFO within a priority.
  int64_t seq = 0;
  /// JSON of the result (COMPLETED) or the last error (FAILED, BLOCKED).
  std::string result;
  std::string error;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, queued_task& x) {
  return f(caf::meta::type_name("orch.queued_task"), x.task, x.state,
           x.attempts, x.max_attempts, x.lease_owner, x.lease_expires_ms,
           x.not_before_ms, x.seq, x.result, x.error);
}

// -- councils and agents ------------------------------------------------------

/// How one agent is configured.
struct agent_spec {
  std::string agent_id;
  std::string role;
  /// "scripted" (deterministic, no LLM) or "vllm".
  std::string backend;
  int32_t index = 0;
  uint64_t diversity_seed = 0;
  std::map<std::string, std::string> params;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_spec& x) {
  return f(caf::meta::type_name("orch.agent_spec"), x.agent_id, x.role,
           x.backend, x.index, x.diversity_seed, x.params);
}

/// How a council is to be created.
struct council_config {
  std::string role;
  int32_t num_agents = 3;
  std::string agent_type;
  int32_t rounds = 1;
  std::map<std::string, std::string> custom_params;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, council_config& x) {
  return f(caf::meta::type_name("orch.council_config"), x.role, x.num_agents,
           x.agent_type, x.rounds, x.custom_params);
}

/// What a council looks like right now.
struct council_info {
  std::string council_id;
  std::string role;
  std::string agent_type;
  std::vector<std::string> agent_ids;
  int32_t rounds = 1;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, council_info& x) {
  return f(caf::meta::type_name("orch.council_info"), x.council_id, x.role,
           x.agent_type, x.agent_ids, x.rounds);
}

/// Counters of the ORCHESTRATOR.
struct orchestrator_stats {
  int64_t total_deliberations = 0;
  int64_t total_orchestrations = 0;
  int64_t failed_deliberations = 0;
  double avg_ms = 0;
  double p50_ms = 0;
  double p95_ms = 0;
  double p99_ms = 0;
  int64_t active_councils = 0;
  std::map<std::string, int64_t> role_counts;
  /// Model usage summed over all deliberations.
  llm_usage usage;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, orchestrator_stats& x) {
  return f(caf::meta::type_name("orch.orchestrator_stats"),
           x.total_deliberations, x.total_orchestrations,
           x.failed_deliberations, x.avg_ms, x.p50_ms, x.p95_ms, x.p99_ms,
           x.active_councils, x.role_counts, x.usage);
}

// -- processes ----------------------------------------------------------------

/// A child process to run with a time limit.
struct command_spec {
  std::vector<std::string> argv;
  std::string stdin_data;
  int32_t timeout_ms = 10000;
  int32_t max_output = 16384;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_spec& x) {
  return f(caf::meta::type_name("orch.command_spec"), x.argv, x.stdin_data,
           x.timeout_ms, x.max_output);
}

struct command_result {
  int32_t exit_code = 0;
  bool timed_out = false;
  bool truncated = false;
  /// stdout and stderr, interleaved, truncated to `max_output` bytes.
  std::string output;
  int64_t duration_ms = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_result& x) {
  return f(caf::meta::type_name("orch.command_result"), x.exit_code,
           x.timed_out, x.truncated, x.output, x.duration_ms);
}

// -- events -------------------------------------------------------------------

/// The wrapper of every NATS event; `payload` is a JSON document.
struct event_envelope {
  std::string event_type;
  std::string payload;
  std::string idempotency_key;
  std::string correlation_id;
  std::string timestamp;
  std::string producer = "orchestrator-service";
  std::map<std::string, std::string> metadata;
  std::string causation_id;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_envelope& x) {
  return f(caf::meta::type_name("orch.event_envelope"), x.event_type, x.payload,
           x.idempotency_key, x.correlation_id, x.timestamp, x.producer,
           x.metadata, x.causation_id);
}

/// An event to publish: the subject, its payload (a JSON object) and what
/// the envelope and headers carry. The idempotency key is deterministic
/// (e.g. "deliberation.completed:PLAN/TASK-1"), so the same event published
/// again is dropped by JetStream's duplicate window.
struct outbound_event {
  std::string subject;
  std::string idempotency_key;
  /// JSON text of the payload object.
  std::string payload;
  std::string correlation_id;
  std::string causation_id;
  std::string traceparent;
  /// True when the event was recorded in the TASK QUEUE's outbox and must be
  /// dropped from it once JetStream acknowledged it.
  bool outbox = false;
  /// "" always; "final": recorded only when a failure is final (FAILED);
  /// "plan_done": only when the transition leaves the plan with no open
  /// task (see plan_done_marker).
  std::string when;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbound_event& x) {
  return f(caf::meta::type_name("orch.outbound_event"), x.subject,
           x.idempotency_key, x.payload, x.correlation_id, x.causation_id,
           x.traceparent, x.outbox, x.when);
}

/// One completion of a batch (`complete` of many tasks in one message):
/// the task, its lease owner, the result (JSON) and the events recorded in
/// the outbox with it, as for a single completion.
struct task_completion {
  std::string task_id;
  std::string worker;
  std::string result;
  std::vector<outbound_event> events;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_completion& x) {
  return f(caf::meta::type_name("orch.task_completion"), x.task_id, x.worker,
           x.result, x.events);
}

/// A message consumed from a durable consumer, copied out of the C library.
struct inbound_event {
  std::string subject;
  std::map<std::string, std::string> headers;
  std::string data;
  /// How often JetStream delivered it (1 the first time).
  int64_t delivered = 1;
  /// Settles the message in the bridge (ack, nak, term).
  uint64_t token = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbound_event& x) {
  return f(caf::meta::type_name("orch.inbound_event"), x.subject, x.headers,
           x.data, x.delivered, x.token);
}

/// What to do with a consumed message: "ack"; "nak" (transient failure,
/// redelivered after `delay_ms`); "term" (invalid: terminated and published
/// to the dead-letter subject with `reason`).
struct verdict {
  std::string action = "ack";
  int32_t delay_ms = 0;
  std::string reason;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, verdict& x) {
  return f(caf::meta::type_name("orch.verdict"), x.action, x.delay_ms,
           x.reason);
}

/// A call to a `remote` agent: published on agent.cmd.{role}.{op}.
struct agent_command {
  std::string task_id;
  std::string agent_id;
  std::string role;
  /// generate, critique or revise.
  std::string op;
  std::string correlation_id;
  /// JSON object: task, proposal, critiques, round (by op).
  std::string input;
  int32_t timeout_ms = 60000;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_command& x) {
  return f(caf::meta::type_name("orch.agent_command"), x.task_id, x.agent_id,
           x.role, x.op, x.correlation_id, x.input, x.timeout_ms);
}

/// The answer of a `remote` agent (agent.response.completed / .failed).
struct agent_response {
  std::string task_id;
  std::string agent_id;
  std::string role;
  std::string correlation_id;
  bool ok = true;
  /// proposal.content, or output.
  std::string content;
  std::string error;
  std::string error_type;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_response& x) {
  return f(caf::meta::type_name("orch.agent_response"), x.task_id, x.agent_id,
           x.role, x.correlation_id, x.ok, x.content, x.error, x.error_type);
}

/// An external worker of the pull API as the WORKER REGISTRY sees it.
struct worker_info {
  std::string worker_id;
  int64_t last_seen_ms = 0;
  /// The task it holds ("" when none).
  std::string current_task;
  int64_t completed = 0;
  int64_t failed = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_info& x) {
  return f(caf::meta::type_name("orch.worker_info"), x.worker_id,
           x.last_seen_ms, x.current_task, x.completed, x.failed);
}

/// A host of agents and scorers (an `orchestrator node`) as the PLACEMENT
/// sees it; a NODE describes itself with the same type.
struct node_info {
  /// HOST:PORT the node listens on.
  std::string name;
  /// "connecting", "up", "down" or "refused".
  std::string state;
  /// Agents and scorers placed there (hosted, for a NODE's own answer).
  int32_t agents = 0;
  int32_t scorers = 0;
  /// How often it joined (a node that comes back joins again).
  int32_t epoch = 0;
  /// Why it is down or refused.
  std::string error;
  /// When the state last changed (ms since the epoch).
  int64_t since_ms = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("orch.node_info"), x.name, x.state, x.agents,
           x.scorers, x.epoch, x.error, x.since_ms);
}

// -- helpers ------------------------------------------------------------------

/// Upper-cases a role name and trims blanks ("dev " -> "DEV").
std::string normalize_role(const std::string& role);

/// "council-dev" for role DEV.
std::string council_id_for(const std::string& role);

/// "agent-dev-001" for role DEV and number 1.
std::string agent_id_for(const std::string& role, int number);

/// True when `x` is empty or only white space.
bool is_blank(std::string_view x);

/// Why the TASK QUEUE refuses `t` (no task_id, or a NUL byte in its own id
/// or a dependency's: the Redis queue joins ids with NUL), or nothing.
std::optional<std::string> unqueueable(const task_spec& t);

/// Percentile `p` in [0, 100] of `xs` by nearest rank (0 for none).
double percentile_of(std::vector<int64_t> xs, double p);

/// Milliseconds since the epoch.
int64_t now_ms();

/// A URL with its credentials replaced by "***" (for logs and errors).
std::string redact_url(const std::string& url);

} // namespace orch

CAF_ERROR_CODE_ENUM(orch::ec, "orch")

// -- type IDs and atoms -------------------------------------------------------

CAF_BEGIN_TYPE_ID_BLOCK(orch, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(orch, (orch::constraints))
  CAF_ADD_TYPE_ID(orch, (orch::task_spec))
  CAF_ADD_TYPE_ID(orch, (orch::proposal))
  CAF_ADD_TYPE_ID(orch, (orch::critique))
  CAF_ADD_TYPE_ID(orch, (orch::policy_result))
  CAF_ADD_TYPE_ID(orch, (orch::lint_result))
  CAF_ADD_TYPE_ID(orch, (orch::dryrun_result))
  CAF_ADD_TYPE_ID(orch, (orch::check_result))
  CAF_ADD_TYPE_ID(orch, (orch::check_suite))
  CAF_ADD_TYPE_ID(orch, (orch::deliberation_result))
  CAF_ADD_TYPE_ID(orch, (orch::agent_failure))
  CAF_ADD_TYPE_ID(orch, (orch::deliberation_outcome))
  CAF_ADD_TYPE_ID(orch, (orch::deliberation_update))
  CAF_ADD_TYPE_ID(orch, (orch::selection))
  CAF_ADD_TYPE_ID(orch, (orch::agent_spec))
  CAF_ADD_TYPE_ID(orch, (orch::council_config))
  CAF_ADD_TYPE_ID(orch, (orch::council_info))
  CAF_ADD_TYPE_ID(orch, (orch::orchestrator_stats))
  CAF_ADD_TYPE_ID(orch, (orch::command_spec))
  CAF_ADD_TYPE_ID(orch, (orch::command_result))
  CAF_ADD_TYPE_ID(orch, (orch::event_envelope))
  CAF_ADD_TYPE_ID(orch, (orch::llm_usage))
  CAF_ADD_TYPE_ID(orch, (orch::llm_request))
  CAF_ADD_TYPE_ID(orch, (orch::llm_reply))
  CAF_ADD_TYPE_ID(orch, (orch::plan_input))
  CAF_ADD_TYPE_ID(orch, (orch::queued_task))
  CAF_ADD_TYPE_ID(orch, (orch::outbound_event))
  CAF_ADD_TYPE_ID(orch, (orch::inbound_event))
  CAF_ADD_TYPE_ID(orch, (orch::verdict))
  CAF_ADD_TYPE_ID(orch, (orch::agent_command))
  CAF_ADD_TYPE_ID(orch, (orch::agent_response))
  CAF_ADD_TYPE_ID(orch, (orch::worker_info))
  CAF_ADD_TYPE_ID(orch, (orch::node_info))
  CAF_ADD_TYPE_ID(orch, (std::vector<orch::critique>))
  CAF_ADD_TYPE_ID(orch, (std::vector<orch::node_info>))
  CAF_ADD_TYPE_ID(orch, (orch::task_completion))
  CAF_ADD_TYPE_ID(orch, (std::vector<orch::task_completion>))
  CAF_ADD_TYPE_ID(orch, (std::vector<caf::error>))
  CAF_ADD_TYPE_ID(orch, (std::vector<orch::proposal>))
  CAF_ADD_TYPE_ID(orch, (std::vector<orch::check_suite>))
  CAF_ADD_TYPE_ID(orch, (orch::shared<orch::task_spec>))
  CAF_ADD_TYPE_ID(orch, (orch::shared<orch::proposal>))
  CAF_ADD_TYPE_ID(orch, (std::vector<orch::shared<orch::proposal>>))
  CAF_ADD_TYPE_ID(orch, (orch::stored_outcomes))
  CAF_ADD_TYPE_ID(orch, (std::vector<int64_t>))

  CAF_ADD_ATOM(orch, orch::atom, generate, "generate")
  CAF_ADD_ATOM(orch, orch::atom, critique, "critique")
  CAF_ADD_ATOM(orch, orch::atom, revise, "revise")
  CAF_ADD_ATOM(orch, orch::atom, score, "score")
  CAF_ADD_ATOM(orch, orch::atom, select, "select")
  CAF_ADD_ATOM(orch, orch::atom, deliberate, "deliberate")
  CAF_ADD_ATOM(orch, orch::atom, orchestrate, "orchestrat")
  CAF_ADD_ATOM(orch, orch::atom, create, "create")
  CAF_ADD_ATOM(orch, orch::atom, list, "list")
  CAF_ADD_ATOM(orch, orch::atom, remove, "remove")
  CAF_ADD_ATOM(orch, orch::atom, add, "add")
  CAF_ADD_ATOM(orch, orch::atom, get, "get")
  CAF_ADD_ATOM(orch, orch::atom, stats, "stats")
  CAF_ADD_ATOM(orch, orch::atom, run, "run")
  CAF_ADD_ATOM(orch, orch::atom, tick, "tick")
  CAF_ADD_ATOM(orch, orch::atom, expire, "expire")
  CAF_ADD_ATOM(orch, orch::atom, result, "result")
  CAF_ADD_ATOM(orch, orch::atom, info, "info")
  CAF_ADD_ATOM(orch, orch::atom, done, "done")
  CAF_ADD_ATOM(orch, orch::atom, complete, "complete")
  CAF_ADD_ATOM(orch, orch::atom, lease, "lease")
  CAF_ADD_ATOM(orch, orch::atom, extend, "extend")
  CAF_ADD_ATOM(orch, orch::atom, fail, "fail")
  CAF_ADD_ATOM(orch, orch::atom, cancel, "cancel")
  CAF_ADD_ATOM(orch, orch::atom, status, "status")
  CAF_ADD_ATOM(orch, orch::atom, counts, "counts")
  CAF_ADD_ATOM(orch, orch::atom, wake, "wake")
  CAF_ADD_ATOM(orch, orch::atom, publish, "publish")
  CAF_ADD_ATOM(orch, orch::atom, drain, "drain")
  CAF_ADD_ATOM(orch, orch::atom, release, "release")
  CAF_ADD_ATOM(orch, orch::atom, outbox, "outbox")
  CAF_ADD_ATOM(orch, orch::atom, ack, "ack")
  CAF_ADD_ATOM(orch, orch::atom, dispatch, "dispatch")
  CAF_ADD_ATOM(orch, orch::atom, progress, "progress")
  CAF_ADD_ATOM(orch, orch::atom, finished, "finished")
  CAF_ADD_ATOM(orch, orch::atom, ready, "ready")
  CAF_ADD_ATOM(orch, orch::atom, join, "join")
  CAF_ADD_ATOM(orch, orch::atom, place, "place")

CAF_END_TYPE_ID_BLOCK(orch)
