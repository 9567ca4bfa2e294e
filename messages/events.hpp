#pragma once

// The NATS contract (ARCHITECTURE.md §5): decoding of consumed messages
// (envelope or bare payload, JSON or msgpack) into our types, the payloads
// of produced events, and the envelope they are published in.
//
// Decoding is strict on types and on the required fields of each subject;
// every error is `ec::decode_failed` or `ec::invalid_argument` with a message
// naming the field, e.g. "payload.tasks[1].priority: expected integer".

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "messages/messages.hpp"

namespace orch {

// -- subjects -----------------------------------------------------------------

namespace subject {

constexpr const char* plan_approved_in = "planning.plan.approved";
constexpr const char* story_transitioned = "planning.story.transitioned";
constexpr const char* agent_completed = "agent.response.completed";
constexpr const char* agent_failed = "agent.response.failed";
constexpr const char* agent_progress = "agent.response.progress";
constexpr const char* plan_approved = "orchestration.plan.approved";
constexpr const char* plan_completed = "orchestration.plan.completed";
constexpr const char* phase_changed = "orchestration.phase.changed";
constexpr const char* task_dispatched = "orchestration.task.dispatched";
constexpr const char* progress = "orchestration.deliberation.progress";
constexpr const char* completed = "orchestration.deliberation.completed";
constexpr const char* failed = "orchestration.deliberation.failed";
constexpr const char* task_completed = "orchestration.task.completed";
constexpr const char* task_failed = "orchestration.task.failed";
constexpr const char* dead_letter = "orchestration.dead_letter";

} // namespace subject

// -- tracing ------------------------------------------------------------------

/// What passes from a consumed event to every event it causes.
struct trace_context {
  std::string correlation_id;
  /// The idempotency key (or message id) of the causing event.
  std::string causation_id;
  std::string traceparent;
};

/// Envelope fields of a consumed message.
struct event_meta {
  std::string event_type;
  std::string idempotency_key;
  trace_context trace;
  /// True when the message was a bare payload without an envelope.
  bool bare = false;
  /// True when the message was msgpack (Content-Type: application/msgpack).
  bool msgpack = false;
};

/// The trace a task carries (kept in `constraints.metadata` under
/// "correlation_id", "causation_id" and "traceparent").
trace_context trace_of(const task_spec& task);

/// Stores `trace` in the task's metadata (empty fields are not stored).
void stamp_trace(task_spec& task, const trace_context& trace);

// -- consumed -----------------------------------------------------------------

/// A story's phase change (planning.story.transitioned).
struct story_transition {
  std::string story_id;
  std::string from_phase;
  std::string to_phase;
  double timestamp = 0;
};

/// Decodes planning.plan.approved: story_id, plan_id, approved_by and
/// timestamp required; roles, tasks (AtomicTask) and plan (text) optional.
caf::expected<plan_input> decode_plan_approved(const inbound_event& msg,
                                               event_meta& meta);

/// Decodes planning.story.transitioned.
caf::expected<story_transition>
decode_story_transitioned(const inbound_event& msg, event_meta& meta);

/// Decodes agent.response.completed / .failed (by subject): task_id,
/// agent_id, role and timestamp required; the content is
/// `proposal.content`, else `output`.
caf::expected<agent_response> decode_agent_response(const inbound_event& msg,
                                                    event_meta& meta);

// -- produced -----------------------------------------------------------------

/// orchestration.plan.approved.
outbound_event plan_approved_event(const plan_input& plan,
                                   const std::vector<task_spec>& tasks,
                                   const trace_context& trace);

/// Tasks not finished yet (QUEUED, READY, IN_PROGRESS) in counts by state.
int64_t open_tasks(const std::map<std::string, int64_t>& counts);

/// orchestration.plan.completed (an addition to the contract): the plan has
/// no open task left; counts by state.
outbound_event plan_completed_event(const task_spec& any_task,
                                    const std::map<std::string, int64_t>& n);

/// The plan's completion as recorded in the TASK QUEUE's outbox with the
/// completion or failure of each of its tasks (`when` "plan_done": kept
/// only when that transition leaves the plan with no open task). Its
/// payload has no counts yet: whoever publishes the outbox turns it into
/// plan_completed_event from the plan's counts (see plan_task_of), so the
/// event survives a process that dies between the last completion and its
/// publication.
outbound_event plan_done_marker(const task_spec& any_task);

/// A task carrying the story, plan and trace of a plan.completed event (a
/// marker or a published one), for plan_completed_event.
task_spec plan_task_of(const outbound_event& ev);

/// orchestration.phase.changed.
outbound_event phase_changed_event(const story_transition& x,
                                   const trace_context& trace);

/// orchestration.task.dispatched (one per attempt).
outbound_event task_dispatched_event(const task_spec& task,
                                     const std::vector<std::string>& agent_ids,
                                     int32_t attempt);

/// orchestration.deliberation.progress.
outbound_event progress_event(const task_spec& task,
                              const deliberation_update& up);

/// orchestration.deliberation.completed.
outbound_event deliberation_completed_event(const task_spec& task,
                                            const deliberation_outcome& out);

/// orchestration.task.completed.
outbound_event task_completed_event(const task_spec& task,
                                    const deliberation_outcome& out);

/// orchestration.deliberation.failed (one per failed attempt).
outbound_event deliberation_failed_event(const task_spec& task,
                                         const std::string& error,
                                         const std::string& error_type,
                                         int32_t attempt);

/// orchestration.task.failed (recorded for when the failure is final).
outbound_event task_failed_event(const task_spec& task,
                                 const std::string& error,
                                 const std::string& error_type,
                                 int64_t duration_ms);

/// orchestration.dead_letter: the reason, the original subject, headers and
/// bytes (base64).
outbound_event dead_letter_event(const inbound_event& msg,
                                 const std::string& reason);

/// agent.cmd.{role}.{op}.
outbound_event agent_command_event(const agent_command& cmd);

// -- the envelope -------------------------------------------------------------

/// The envelope of `ev` with `timestamp` (ISO 8601), as JSON or msgpack.
std::string encode_envelope(const outbound_event& ev, bool msgpack);

/// The NATS headers of a published event: Nats-Msg-Id (the idempotency
/// key), traceparent and correlation_id when set, Content-Type.
std::map<std::string, std::string> event_headers(const outbound_event& ev,
                                                 bool msgpack);

/// ISO 8601 UTC with milliseconds, e.g. "2026-11-20T12:00:00.000Z".
std::string iso8601_now();

/// Seconds since the epoch as a float (payload timestamps).
double epoch_seconds();

/// Standard base64 of `bytes`.
std::string base64(const std::string& bytes);

/// A stable 64-bit FNV-1a hash as 16 hex digits.
std::string stable_hash(const std::string& bytes);

} // namespace orch
