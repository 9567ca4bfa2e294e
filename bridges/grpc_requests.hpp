#pragma once

// The proto's requests read into our types, validated: every check a gRPC
// request goes through before it reaches an actor, as pure functions (the
// fuzz target tests/fuzz/grpc_requests.cpp drives them with arbitrary
// bytes). An error is `ec::invalid_argument` whose text says what is wrong;
// the service answers it with INVALID_ARGUMENT. Internal to the gRPC bridge
// (it includes the generated code).

#include <string>
#include <utility>

#include <caf/expected.hpp>

#include "actors/actors.hpp"
#include "fleet_orchestrator_v1.pb.h"
#include "messages/events.hpp"

namespace orch::grpc_requests {

namespace pb = fleet::orchestrator::v1;

/// Largest request the server accepts (bytes); larger ones are refused with
/// RESOURCE_EXHAUSTED by gRPC itself.
constexpr int max_request_bytes = 4 << 20;

/// Largest task description or plan document in a request (bytes).
constexpr size_t max_text_bytes = 1 << 20;

/// The rubric of DeliberateForBacklogReview.
extern const char* const backlog_review_rubric;

/// The agent backend named by a council config (the proto's "mock" is our
/// `scripted`, "ray_vllm" our `remote`).
std::string backend_of(const std::string& agent_type);

/// TaskConstraints as ours (no checks).
constraints constraints_of(const pb::TaskConstraints& c);

/// Deliberate, DeliberateForBacklogReview and StreamDeliberation: the task
/// (`rubric` when the request brings none). Description and role must not
/// be blank, rounds within 0..20, timeout_seconds not negative.
caf::expected<task_spec> deliberation_task(const pb::DeliberateRequest& req,
                                           const std::string& rubric = {});

/// Orchestrate: the task, with the same checks.
caf::expected<task_spec> orchestration_task(const pb::OrchestrateRequest& req);

/// GetDeliberationResult: the task id (not blank).
caf::expected<std::string> result_task_id(
  const pb::GetDeliberationResultRequest& req);

/// DeriveSubtasks: the plan to derive (plan_id not blank) and the cap of
/// tasks per role (0: none; not negative).
caf::expected<std::pair<plan_input, int32_t>>
subtask_plan(const pb::DeriveSubtasksRequest& req);

/// ProcessPlanningEvent: an approved plan (event_type contains "approved";
/// plan_id needed, the document in metadata["plan"]) or a phase change
/// (case_id and to_state needed).
struct planning_event {
  bool approved = false;
  plan_input plan;
  story_transition phase;
};
caf::expected<planning_event>
planning_event_of(const pb::PlanningEventRequest& req);

/// GetTaskContext: what to assemble context for.
struct context_query {
  std::string story_id;
  std::string task_id;
  std::string role;
  std::string phase;
  int32_t max_events = 20;
};
caf::expected<context_query>
context_query_of(const pb::GetTaskContextRequest& req);

/// CreateCouncil: role not blank, num_agents within 0..256 (0: 3).
caf::expected<council_config> council_of(const pb::CreateCouncilRequest& req);

/// DeleteCouncil: the role (not blank).
caf::expected<std::string> council_role(const pb::DeleteCouncilRequest& req);

/// RegisterAgent: agent_id and role not blank.
caf::expected<agent_spec> agent_of(const pb::RegisterAgentRequest& req);

/// UnregisterAgent: (role, agent_id), neither blank.
caf::expected<std::pair<std::string, std::string>>
unregistration_of(const pb::UnregisterAgentRequest& req);

} // namespace orch::grpc_requests
