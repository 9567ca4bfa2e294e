#include "bridges/grpc_calls.hpp"

#include <caf/typed_event_based_actor.hpp>

#include "messages/events.hpp"

namespace orch::grpc_calls {

// -- errors -------------------------------------------------------------------

Status to_status(const caf::error& err) {
  auto text = render(err);
  if (err.category() == caf::atom("system")
      && err.code() == static_cast<uint8_t>(caf::sec::request_timeout))
    return {StatusCode::DEADLINE_EXCEEDED, "deadline exceeded: " + text};
  switch (code_of(err)) {
    case ec::not_found:
      return {StatusCode::NOT_FOUND, text};
    case ec::invalid_argument:
      return {StatusCode::INVALID_ARGUMENT, text};
    case ec::already_exists:
      return {StatusCode::ALREADY_EXISTS, text};
    case ec::timeout:
      return {StatusCode::DEADLINE_EXCEEDED, text};
    case ec::cancelled:
      return {StatusCode::CANCELLED, text};
    case ec::quorum_not_reached:
    case ec::agent_failed:
      return {StatusCode::ABORTED, text};
    case ec::unavailable:
      return {StatusCode::UNAVAILABLE, text};
    default:
      return {StatusCode::INTERNAL, text};
  }
}

Status invalid(const std::string& text) {
  return {StatusCode::INVALID_ARGUMENT, text};
}

// -- messages -----------------------------------------------------------------

void fill(pb::DeliberationResult* out, const deliberation_result& r) {
  auto* p = out->mutable_proposal();
  p->set_author_id(r.proposal.author_id);
  p->set_author_role(r.proposal.author_role);
  p->set_content(r.proposal.content);
  p->set_created_at_ms(r.proposal.created_at_ms);
  for (auto& rev : r.proposal.revisions)
    p->add_revisions(rev);
  auto* c = out->mutable_checks();
  auto* pol = c->mutable_policy();
  pol->set_passed(r.checks.policy.passed);
  for (auto& v : r.checks.policy.violations)
    pol->add_violations(v);
  pol->set_message(r.checks.policy.message);
  auto* lint = c->mutable_lint();
  lint->set_passed(r.checks.lint.passed);
  lint->set_error_count(r.checks.lint.error_count);
  lint->set_warning_count(r.checks.lint.warning_count);
  for (auto& e : r.checks.lint.errors)
    lint->add_errors(e);
  auto* dry = c->mutable_dryrun();
  dry->set_passed(r.checks.dryrun.passed);
  dry->set_output(r.checks.dryrun.output);
  dry->set_exit_code(r.checks.dryrun.exit_code);
  dry->set_message(r.checks.dryrun.message);
  for (auto& a : r.checks.additional) {
    auto* x = c->add_additional_checks();
    x->set_check_type(a.check_type);
    x->set_passed(a.passed);
    x->set_score(a.score);
    x->set_message(a.message);
    for (auto& [k, v] : a.details)
      (*x->mutable_details())[k] = v;
  }
  c->set_all_passed(r.checks.all_passed);
  out->set_score(r.score);
  out->set_rank(r.rank);
}

void fill(pb::OrchestratorMetadata* m, const std::string& execution_id) {
  m->set_orchestrator_version(ORCH_VERSION);
  m->set_timestamp_ms(now_ms());
  m->set_execution_id(execution_id);
}

void fill(pb::GetDeliberationResultResponse* resp, const std::string& id,
          const deliberation_outcome& out) {
  resp->set_task_id(id);
  resp->set_status(out.status == "timeout"  ? pb::DELIBERATION_STATUS_TIMEOUT
                   : out.status == "failed" ? pb::DELIBERATION_STATUS_FAILED
                                            : pb::DELIBERATION_STATUS_COMPLETED);
  for (auto& x : out.results)
    fill(resp->add_results(), x);
  resp->set_winner_id(out.winner_id);
  resp->set_duration_ms(out.duration_ms);
  resp->set_error_message(out.error);
  fill(resp->mutable_metadata(), out.execution_id);
}

void fill(pb::GetDeliberationResultResponse* resp, const std::string& id,
          const queued_task& q) {
  resp->set_task_id(id);
  auto& s = q.state;
  resp->set_status(s == "QUEUED" || s == "READY"
                     ? pb::DELIBERATION_STATUS_PENDING
                   : s == "IN_PROGRESS" ? pb::DELIBERATION_STATUS_IN_PROGRESS
                   : s == "COMPLETED"   ? pb::DELIBERATION_STATUS_COMPLETED
                                        : pb::DELIBERATION_STATUS_FAILED);
  resp->set_error_message(q.error);
}

void fill(pb::DeriveSubtasksResponse* resp, const std::vector<task_spec>& ts,
          int cap) {
  std::map<std::string, int> per_role;
  for (auto& t : ts) {
    if (cap > 0 && ++per_role[t.role] > cap)
      continue;
    auto* x = resp->add_tasks();
    x->set_task_id(t.task_id);
    x->set_role(t.role);
    x->set_description(t.description);
    for (auto& d : t.dependencies)
      x->add_dependencies(d);
    auto* c = x->mutable_constraints();
    c->set_rubric(t.constraints.rubric);
    for (auto& q : t.constraints.requirements)
      c->add_requirements(q);
    c->set_max_iterations(t.constraints.max_iterations);
    c->set_timeout_seconds(t.constraints.timeout_seconds);
    x->set_case_id(t.story_id);
    x->set_plan_id(t.plan_id);
    x->set_priority(t.priority);
  }
  resp->set_total_tasks(resp->tasks_size());
  resp->set_derivation_id("derivation-" + std::to_string(now_ms()));
}

void fill(pb::ListCouncilsResponse* resp, const std::vector<council_info>& xs,
          const std::string& filter, bool agents) {
  for (auto& c : xs) {
    if (!filter.empty() && c.role != filter)
      continue;
    auto* x = resp->add_councils();
    x->set_council_id(c.council_id);
    x->set_role(c.role);
    x->set_num_agents(static_cast<int32_t>(c.agent_ids.size()));
    x->set_status("active");
    x->set_model(c.agent_type);
    if (agents)
      for (auto& id : c.agent_ids) {
        auto* a = x->add_agents();
        a->set_agent_id(id);
        a->set_role(c.role);
        a->set_status("ready");
      }
  }
}

void fill(pb::OrchestratorStats* x, const orchestrator_stats& s) {
  x->set_total_deliberations(s.total_deliberations);
  x->set_total_orchestrations(s.total_orchestrations);
  x->set_avg_deliberation_time_ms(s.avg_ms);
  x->set_active_councils(s.active_councils);
  for (auto& [role, n] : s.role_counts)
    (*x->mutable_role_counts())[role] = n;
}

void fill(pb::GetMetricsResponse* resp, const orchestrator_stats& s) {
  auto* p = resp->mutable_performance();
  p->set_avg_deliberation_ms(s.avg_ms);
  p->set_avg_orchestration_ms(s.avg_ms);
  p->set_p50_latency_ms(s.p50_ms);
  p->set_p95_latency_ms(s.p95_ms);
  p->set_p99_latency_ms(s.p99_ms);
  auto* c = resp->mutable_councils();
  c->set_total_councils(static_cast<int32_t>(s.active_councils));
  c->set_active_councils(static_cast<int32_t>(s.active_councils));
}

void limit_task(task_spec& t, std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max())
    return;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::system_clock::now())
                .count();
  left = std::max<int64_t>(left, 1);
  if (t.constraints.limit_ms <= 0 || left < t.constraints.limit_ms)
    t.constraints.limit_ms = left;
}

caf::duration wait_for(const task_spec& t) {
  if (t.constraints.limit_ms <= 0)
    return caf::infinite;
  return caf::duration{std::chrono::milliseconds(t.constraints.limit_ms)
                       + std::chrono::seconds(5)};
}

progress_listener_actor::behavior_type
stream_deliberation(progress_listener_actor::pointer self,
                    std::shared_ptr<stream_state> st,
                    orchestrator_actor orch, task_spec task,
                    std::function<void()> on_exit) {
  self->attach_functor(std::move(on_exit));
  auto timeout = wait_for(task);
  self
    ->request(orch, timeout, atom::deliberate_v, std::move(task),
              caf::actor_cast<progress_listener_actor>(self))
    .then(
      [=](const deliberation_outcome& out) {
        pb::DeliberationUpdate last;
        last.set_status("complete");
        last.set_progress_percent(100);
        last.set_current_step("winner " + out.winner_id);
        for (auto& x : out.results)
          if (x.proposal.author_id == out.winner_id)
            fill(last.mutable_partial_result(), x);
        st->push(std::move(last));
        st->end(Status::OK);
        self->quit();
      },
      [=](caf::error& err) {
        st->end(to_status(err));
        self->quit();
      });
  return {
    [st](deliberation_update& up) {
      pb::DeliberationUpdate u;
      u.set_status(up.status);
      u.set_progress_percent(up.progress_percent);
      u.set_current_step(up.current_step);
      u.set_current_agent(up.current_agent);
      st->push(std::move(u));
    },
  };
}

// -- task context -------------------------------------------------------------

void task_context(pb::GetTaskContextResponse* resp,
                  const std::vector<deliberation_outcome>& history,
                  const std::string& story, const std::string& task_id,
                  const std::string& role, const std::string& phase,
                  int max_events) {
  auto* b = resp->mutable_blocks();
  b->set_system("You are the " + (role.empty() ? std::string{"agent"} : role)
                + " council of story " + story
                + (phase.empty() ? std::string{} : " in phase " + phase)
                + ". Build on the decisions below; do not contradict them "
                  "without saying why.");
  b->set_context("story: " + story + "\ntask: " + task_id
                 + (role.empty() ? std::string{} : "\nrole: " + role)
                 + (phase.empty() ? std::string{} : "\nphase: " + phase));
  std::vector<const deliberation_outcome*> picked;
  for (auto& o : history)
    if (o.task_id == task_id)
      picked.push_back(&o);
  for (auto& o : history)
    if (o.task_id != task_id && (role.empty() || o.role == role
                                 || role == "ARCHITECT"))
      picked.push_back(&o);
  if (static_cast<int>(picked.size()) > max_events)
    picked.resize(static_cast<size_t>(max_events));
  std::string hist;
  for (auto* o : picked) {
    double score = 0;
    std::string excerpt;
    for (auto& x : o->results)
      if (x.proposal.author_id == o->winner_id) {
        score = x.score;
        excerpt = x.proposal.content.substr(0, 400);
      }
    hist += "- " + o->task_id + " (" + o->role + ", " + o->status
            + "): winner " + o->winner_id + " score "
            + std::to_string(score).substr(0, 5)
            + (o->rationale.empty() ? std::string{}
                                    : "; rationale: " + o->rationale)
            + (excerpt.empty() ? std::string{} : "\n  " + excerpt) + "\n";
  }
  if (hist.empty())
    hist = "no earlier decisions for this story\n";
  b->set_history(hist);
  b->set_tools("");
  auto text = "## System\n" + b->system() + "\n\n## Context\n" + b->context()
              + "\n\n## Earlier decisions\n" + hist;
  resp->set_context_text(text);
  // About four characters per token for English text and code.
  resp->set_token_count(static_cast<int32_t>((text.size() + 3) / 4));
  resp->set_version_hash(stable_hash(text));
}

} // namespace orch::grpc_calls
