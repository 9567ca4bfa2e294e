#include "bridges/grpc_client.hpp"

#include <sstream>

#include <grpcpp/grpcpp.h>

#include "fleet_orchestrator_v1.grpc.pb.h"

namespace orch {

namespace {

namespace pb = fleet::orchestrator::v1;

caf::error to_error(const grpc::Status& st, const std::string& target) {
  // The server's message already starts with our own code name.
  auto text = st.error_message();
  if (text.rfind("orch.", 0) == 0)
    if (auto colon = text.find(": "); colon != std::string::npos)
      text = text.substr(colon + 2);
  switch (st.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      return caf::make_error(ec::not_found, text);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return caf::make_error(ec::invalid_argument, text);
    case grpc::StatusCode::ALREADY_EXISTS:
      return caf::make_error(ec::already_exists, text);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return caf::make_error(ec::timeout, text);
    case grpc::StatusCode::CANCELLED:
      return caf::make_error(ec::cancelled, text);
    case grpc::StatusCode::UNAVAILABLE:
      return caf::make_error(ec::agent_failed,
                             "the orchestrator at " + target
                               + " is unavailable: " + text);
    default:
      return caf::make_error(ec::internal,
                             "gRPC " + std::to_string(st.error_code()) + ": "
                               + text);
  }
}

void fill(pb::DeliberateRequest& req, const task_spec& t) {
  req.set_task_id(t.task_id);
  req.set_task_description(t.description);
  req.set_role(t.role);
  if (t.constraints.rounds >= 0)
    req.set_rounds(t.constraints.rounds);
  auto* c = req.mutable_constraints();
  c->set_rubric(t.constraints.rubric);
  for (auto& r : t.constraints.requirements)
    c->add_requirements(r);
  c->set_timeout_seconds(t.constraints.timeout_seconds);
}

deliberation_result result_of(const pb::DeliberationResult& x) {
  deliberation_result r;
  auto& p = x.proposal();
  r.proposal.author_id = p.author_id();
  r.proposal.author_role = p.author_role();
  r.proposal.content = p.content();
  r.proposal.created_at_ms = p.created_at_ms();
  r.proposal.revisions.assign(p.revisions().begin(), p.revisions().end());
  auto& c = x.checks();
  r.checks.policy.passed = c.policy().passed();
  r.checks.policy.violations.assign(c.policy().violations().begin(),
                                    c.policy().violations().end());
  r.checks.lint.passed = c.lint().passed();
  r.checks.lint.error_count = c.lint().error_count();
  r.checks.dryrun.passed = c.dryrun().passed();
  r.checks.dryrun.skipped = c.dryrun().message().find("skipped")
                            != std::string::npos;
  for (auto& a : c.additional_checks()) {
    check_result cr;
    cr.check_type = a.check_type();
    cr.passed = a.passed();
    cr.score = a.score();
    cr.message = a.message();
    r.checks.additional.push_back(std::move(cr));
  }
  r.checks.all_passed = c.all_passed();
  r.score = x.score();
  r.rank = x.rank();
  return r;
}

/// The outcome in a DeliberateResponse or GetDeliberationResultResponse.
template<class Response>
deliberation_outcome outcome_of(const Response& resp, const std::string& role) {
  deliberation_outcome out;
  out.task_id = resp.task_id();
  out.winner_id = resp.winner_id();
  out.duration_ms = resp.duration_ms();
  out.execution_id = resp.metadata().execution_id();
  out.role = role;
  out.status = "completed";
  for (auto& x : resp.results())
    out.results.push_back(result_of(x));
  return out;
}

void set_deadline(grpc::ClientContext& ctx, std::chrono::milliseconds d) {
  if (d.count() > 0)
    ctx.set_deadline(std::chrono::system_clock::now() + d);
}

class client_impl : public grpc_client {
public:
  explicit client_impl(std::string target)
      : target_(std::move(target)),
        stub_(pb::OrchestratorService::NewStub(
          grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()))) {
  }

  caf::expected<deliberation_outcome>
  deliberate(const task_spec& task, std::chrono::milliseconds deadline) override {
    grpc::ClientContext ctx;
    set_deadline(ctx, deadline);
    pb::DeliberateRequest req;
    fill(req, task);
    pb::DeliberateResponse resp;
    auto st = stub_->Deliberate(&ctx, req, &resp);
    if (!st.ok())
      return to_error(st, target_);
    return outcome_of(resp, task.role);
  }

  caf::expected<deliberation_outcome>
  stream(const task_spec& task,
         const std::function<bool(const deliberation_update&)>& on_update,
         std::chrono::milliseconds deadline) override {
    auto t = task;
    if (t.task_id.empty())
      t.task_id = "cli-" + std::to_string(now_ms());
    {
      grpc::ClientContext ctx;
      set_deadline(ctx, deadline);
      pb::DeliberateRequest req;
      fill(req, t);
      auto reader = stub_->StreamDeliberation(&ctx, req);
      pb::DeliberationUpdate u;
      while (reader->Read(&u)) {
        deliberation_update up;
        up.task_id = t.task_id;
        up.status = u.status();
        up.progress_percent = u.progress_percent();
        up.current_step = u.current_step();
        up.current_agent = u.current_agent();
        if (!on_update(up)) {
          ctx.TryCancel();
          break;
        }
      }
      auto st = reader->Finish();
      if (!st.ok())
        return to_error(st, target_);
    }
    auto out = result(t.task_id);
    if (out)
      out->role = t.role;
    return out;
  }

  caf::expected<deliberation_outcome>
  result(const std::string& task_id) override {
    grpc::ClientContext ctx;
    pb::GetDeliberationResultRequest req;
    req.set_task_id(task_id);
    pb::GetDeliberationResultResponse resp;
    auto st = stub_->GetDeliberationResult(&ctx, req, &resp);
    if (!st.ok())
      return to_error(st, target_);
    auto out = outcome_of(resp, "");
    out.error = resp.error_message();
    switch (resp.status()) {
      case pb::DELIBERATION_STATUS_PENDING: out.status = "pending"; break;
      case pb::DELIBERATION_STATUS_IN_PROGRESS:
        out.status = "in_progress";
        break;
      case pb::DELIBERATION_STATUS_COMPLETED: out.status = "completed"; break;
      case pb::DELIBERATION_STATUS_TIMEOUT: out.status = "timeout"; break;
      default: out.status = "failed"; break;
    }
    return out;
  }

  caf::expected<std::vector<council_info>> list_councils() override {
    grpc::ClientContext ctx;
    pb::ListCouncilsRequest req;
    req.set_include_agents(true);
    pb::ListCouncilsResponse resp;
    auto st = stub_->ListCouncils(&ctx, req, &resp);
    if (!st.ok())
      return to_error(st, target_);
    std::vector<council_info> out;
    for (auto& c : resp.councils()) {
      council_info info;
      info.council_id = c.council_id();
      info.role = c.role();
      info.agent_type = c.model();
      for (auto& a : c.agents())
        info.agent_ids.push_back(a.agent_id());
      out.push_back(std::move(info));
    }
    return out;
  }

  caf::expected<council_info>
  create_council(const council_config& cfg) override {
    grpc::ClientContext ctx;
    pb::CreateCouncilRequest req;
    req.set_role(cfg.role);
    req.set_num_agents(cfg.num_agents);
    req.mutable_config()->set_agent_type(cfg.agent_type);
    req.mutable_config()->set_deliberation_rounds(cfg.rounds);
    pb::CreateCouncilResponse resp;
    auto st = stub_->CreateCouncil(&ctx, req, &resp);
    if (!st.ok())
      return to_error(st, target_);
    council_info info;
    info.council_id = resp.council_id();
    info.role = cfg.role;
    info.agent_ids.assign(resp.agent_ids().begin(), resp.agent_ids().end());
    return info;
  }

  caf::expected<int32_t> delete_council(const std::string& role) override {
    grpc::ClientContext ctx;
    pb::DeleteCouncilRequest req;
    req.set_role(role);
    pb::DeleteCouncilResponse resp;
    auto st = stub_->DeleteCouncil(&ctx, req, &resp);
    if (!st.ok())
      return to_error(st, target_);
    return resp.agents_removed();
  }

  caf::expected<std::string> register_agent(const std::string& agent_id,
                                            const std::string& role) override {
    grpc::ClientContext ctx;
    pb::RegisterAgentRequest req;
    req.set_agent_id(agent_id);
    req.set_role(role);
    pb::RegisterAgentResponse resp;
    auto st = stub_->RegisterAgent(&ctx, req, &resp);
    if (!st.ok())
      return to_error(st, target_);
    return resp.message();
  }

  caf::expected<std::string>
  unregister_agent(const std::string& agent_id,
                   const std::string& role) override {
    grpc::ClientContext ctx;
    pb::UnregisterAgentRequest req;
    req.set_agent_id(agent_id);
    req.set_role(role);
    pb::UnregisterAgentResponse resp;
    auto st = stub_->UnregisterAgent(&ctx, req, &resp);
    if (!st.ok())
      return to_error(st, target_);
    return resp.message();
  }

  caf::expected<remote_status> status() override {
    grpc::ClientContext ctx;
    set_deadline(ctx, std::chrono::seconds(5));
    pb::GetStatusRequest req;
    req.set_include_stats(true);
    pb::GetStatusResponse resp;
    auto st = stub_->GetStatus(&ctx, req, &resp);
    if (!st.ok())
      return to_error(st, target_);
    remote_status out;
    out.status = resp.status();
    out.uptime_seconds = resp.uptime_seconds();
    auto& s = resp.stats();
    out.stats.total_deliberations = s.total_deliberations();
    out.stats.total_orchestrations = s.total_orchestrations();
    out.stats.avg_ms = s.avg_deliberation_time_ms();
    out.stats.active_councils = s.active_councils();
    for (auto& [k, v] : s.role_counts())
      out.stats.role_counts[k] = v;
    auto& trailers = ctx.GetServerTrailingMetadata();
    if (auto i = trailers.find("orchestrator-nodes"); i != trailers.end()) {
      std::string text{i->second.data(), i->second.size()};
      std::stringstream all{text};
      std::string item;
      while (std::getline(all, item, ';')) {
        std::istringstream in{item};
        node_info n;
        if (in >> n.name >> n.state >> n.agents >> n.scorers >> n.epoch)
          out.nodes.push_back(std::move(n));
      }
    }
    return out;
  }

private:
  std::string target_;
  std::unique_ptr<pb::OrchestratorService::Stub> stub_;
};

} // namespace

std::unique_ptr<grpc_client> make_grpc_client(const std::string& target) {
  return std::make_unique<client_impl>(target);
}

} // namespace orch
