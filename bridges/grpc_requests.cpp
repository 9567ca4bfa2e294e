#include "bridges/grpc_requests.hpp"

#include <cctype>

namespace orch::grpc_requests {

namespace {

caf::error invalid(std::string text) {
  return caf::make_error(ec::invalid_argument, std::move(text));
}

/// The shared checks of a task to deliberate.
caf::error check_task(const std::string& text, const std::string& role,
                      const pb::TaskConstraints& c) {
  if (is_blank(text))
    return invalid("task_description must not be blank");
  if (text.size() > max_text_bytes)
    return invalid("task_description is longer than "
                   + std::to_string(max_text_bytes) + " bytes");
  if (is_blank(role))
    return invalid("role must not be blank");
  if (c.timeout_seconds() < 0)
    return invalid("constraints.timeout_seconds must not be negative");
  if (c.max_iterations() < 0)
    return invalid("constraints.max_iterations must not be negative");
  return {};
}

caf::error check_rounds(int32_t rounds, const char* field = "rounds") {
  if (rounds < 0 || rounds > 20)
    return invalid(std::string{field} + " must be between 0 and 20");
  return {};
}

} // namespace

const char* const backlog_review_rubric
  = "Backlog review: the item is clear, small enough for one iteration, has "
    "testable acceptance criteria, names its dependencies and risks, and "
    "its priority is justified";

std::string backend_of(const std::string& agent_type) {
  std::string x;
  for (auto ch : agent_type)
    x += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (x == "mock")
    return "scripted";
  if (x == "ray_vllm")
    return "remote";
  return x;
}

constraints constraints_of(const pb::TaskConstraints& c) {
  constraints out;
  out.rubric = c.rubric();
  out.requirements.assign(c.requirements().begin(), c.requirements().end());
  for (auto& [k, v] : c.metadata())
    out.metadata[k] = v;
  if (c.max_iterations() > 0)
    out.max_iterations = c.max_iterations();
  out.timeout_seconds = c.timeout_seconds();
  return out;
}

caf::expected<task_spec> deliberation_task(const pb::DeliberateRequest& req,
                                           const std::string& rubric) {
  if (auto err = check_task(req.task_description(), req.role(),
                            req.constraints()))
    return err;
  if (auto err = check_rounds(req.rounds()))
    return err;
  task_spec t;
  t.task_id = req.task_id();
  t.role = normalize_role(req.role());
  t.description = req.task_description();
  t.constraints = constraints_of(req.constraints());
  if (!rubric.empty() && t.constraints.rubric.empty())
    t.constraints.rubric = rubric;
  if (req.rounds() > 0)
    t.constraints.rounds = req.rounds();
  return t;
}

caf::expected<task_spec> orchestration_task(const pb::OrchestrateRequest& req) {
  if (auto err = check_task(req.task_description(), req.role(),
                            req.constraints()))
    return err;
  if (auto err = check_rounds(req.options().deliberation_rounds(),
                              "options.deliberation_rounds"))
    return err;
  task_spec t;
  t.task_id = req.task_id();
  t.story_id = req.story_id();
  t.plan_id = req.plan_id();
  t.case_id = req.case_id();
  t.role = normalize_role(req.role());
  t.description = req.task_description();
  t.constraints = constraints_of(req.constraints());
  if (req.options().deliberation_rounds() > 0)
    t.constraints.rounds = req.options().deliberation_rounds();
  return t;
}

caf::expected<std::string>
result_task_id(const pb::GetDeliberationResultRequest& req) {
  if (is_blank(req.task_id()))
    return invalid("task_id must not be blank");
  return req.task_id();
}

caf::expected<std::pair<plan_input, int32_t>>
subtask_plan(const pb::DeriveSubtasksRequest& req) {
  if (is_blank(req.plan_id()))
    return invalid("plan_id must not be blank");
  if (req.strategy().max_tasks_per_role() < 0)
    return invalid("strategy.max_tasks_per_role must not be negative");
  plan_input plan;
  plan.plan_id = req.plan_id();
  plan.story_id = req.case_id();
  for (auto& r : req.roles()) {
    if (is_blank(r))
      return invalid("roles must not hold a blank role");
    plan.roles.push_back(r);
  }
  return std::make_pair(std::move(plan), req.strategy().max_tasks_per_role());
}

caf::expected<planning_event>
planning_event_of(const pb::PlanningEventRequest& req) {
  if (is_blank(req.event_type()))
    return invalid("event_type must not be blank");
  std::string type;
  for (auto ch : req.event_type())
    type += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  planning_event out;
  out.approved = type.find("approved") != std::string::npos;
  if (!out.approved) {
    if (is_blank(req.case_id()) || is_blank(req.to_state()))
      return invalid("a phase change needs case_id and to_state");
    out.phase.story_id = req.case_id();
    out.phase.from_phase = req.from_state();
    out.phase.to_phase = req.to_state();
    out.phase.timestamp = static_cast<double>(req.timestamp_ms()) / 1000.0;
    return out;
  }
  if (is_blank(req.plan_id()))
    return invalid("an approved plan needs plan_id");
  out.plan.plan_id = req.plan_id();
  out.plan.story_id = req.case_id();
  if (auto i = req.metadata().find("plan"); i != req.metadata().end()) {
    if (i->second.size() > max_text_bytes)
      return invalid("metadata[\"plan\"] is longer than "
                     + std::to_string(max_text_bytes) + " bytes");
    out.plan.text = i->second;
  }
  return out;
}

caf::expected<context_query>
context_query_of(const pb::GetTaskContextRequest& req) {
  context_query q;
  q.story_id = !is_blank(req.story_id()) ? req.story_id() : req.case_id();
  if (is_blank(q.story_id) && is_blank(req.task_id()))
    return invalid("give a story_id (or case_id) or a task_id");
  if (req.options().max_events() < 0)
    return invalid("options.max_events must not be negative");
  q.task_id = req.task_id();
  q.role = normalize_role(req.role());
  q.phase = req.phase();
  if (req.options().max_events() > 0)
    q.max_events = std::min(req.options().max_events(), 1000);
  return q;
}

caf::expected<council_config> council_of(const pb::CreateCouncilRequest& req) {
  if (is_blank(req.role()))
    return invalid("role must not be blank");
  if (req.num_agents() < 0 || req.num_agents() > 256)
    return invalid("num_agents must be between 1 and 256 (0: 3)");
  if (auto err = check_rounds(req.config().deliberation_rounds(),
                              "config.deliberation_rounds"))
    return err;
  council_config cc;
  cc.role = normalize_role(req.role());
  cc.num_agents = req.num_agents() > 0 ? req.num_agents() : 3;
  cc.agent_type = backend_of(req.config().agent_type());
  if (req.config().deliberation_rounds() > 0)
    cc.rounds = req.config().deliberation_rounds();
  for (auto& [k, v] : req.config().custom_params())
    cc.custom_params[k] = v;
  return cc;
}

caf::expected<std::string> council_role(const pb::DeleteCouncilRequest& req) {
  if (is_blank(req.role()))
    return invalid("role must not be blank");
  return normalize_role(req.role());
}

caf::expected<agent_spec> agent_of(const pb::RegisterAgentRequest& req) {
  if (is_blank(req.agent_id()) || is_blank(req.role()))
    return invalid("agent_id and role must not be blank");
  agent_spec spec;
  spec.agent_id = req.agent_id();
  spec.role = normalize_role(req.role());
  for (auto& [k, v] : req.metadata())
    spec.params[k] = v;
  if (!req.endpoint().empty())
    spec.params["endpoint"] = req.endpoint();
  return spec;
}

caf::expected<std::pair<std::string, std::string>>
unregistration_of(const pb::UnregisterAgentRequest& req) {
  if (is_blank(req.agent_id()) || is_blank(req.role()))
    return invalid("agent_id and role must not be blank");
  return std::make_pair(normalize_role(req.role()), req.agent_id());
}

} // namespace orch::grpc_requests
