#pragma once

// The vocabulary of the service around the engine: plans and the task
// queue, councils and agents, child processes, and what crosses NATS
// (events, verdicts, remote agents, workers, nodes). Plain aggregates with
// a CAF 0.17 `inspect`; their type IDs are in messages/messages.hpp, which
// includes this.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/deliberation_types.hpp"

namespace orch {

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

} // namespace orch
