#pragma once

// The vocabulary of the orchestrator: the error enum, the helpers, the atoms
// and the one type-ID block over the message types (those of a deliberation
// in messages/deliberation_types.hpp, those of the service around it in
// messages/service_types.hpp; both plain aggregates with a CAF 0.17
// `inspect`).

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>
#include <caf/type_id.hpp>

#include "messages/deliberation_types.hpp"
#include "messages/service_types.hpp"
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
