#include "bridges/grpc_server.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include "bridges/grpc_calls.hpp"
#include "fleet_orchestrator_v1.grpc.pb.h"
#include "messages/events.hpp"

namespace orch {

namespace {

constexpr auto admin_timeout = std::chrono::seconds(10);

using namespace grpc_calls;

// -- the service --------------------------------------------------------------

class service_impl final : public pb::OrchestratorService::CallbackService {
public:
  service_impl(caf::actor_system& sys, grpc_backend backend)
      : sys_(sys), b_(std::move(backend)) {
  }

  grpc::ServerUnaryReactor* Deliberate(grpc::CallbackServerContext* ctx,
                                       const pb::DeliberateRequest* req,
                                       pb::DeliberateResponse* resp) override {
    return deliberate(ctx, req, resp, "", "Deliberate");
  }

  grpc::ServerUnaryReactor*
  DeliberateForBacklogReview(grpc::CallbackServerContext* ctx,
                             const pb::DeliberateRequest* req,
                             pb::DeliberateResponse* resp) override {
    return deliberate(ctx, req, resp,
                      "Backlog review: the item is clear, small enough for "
                      "one iteration, has testable acceptance criteria, "
                      "names its dependencies and risks, and its priority "
                      "is justified",
                      "DeliberateForBacklogReview");
  }

  grpc::ServerWriteReactor<pb::DeliberationUpdate>*
  StreamDeliberation(grpc::CallbackServerContext* ctx,
                     const pb::DeliberateRequest* req) override {
    auto st = std::make_shared<stream_state>();
    st->counts = counts_;
    auto* reactor = new stream_reactor(st);
    auto check = check_task(req->task_description(), req->role());
    if (check.ok())
      check = admit();
    if (!check.ok()) {
      st->end(check);
      return reactor;
    }
    auto t = task_of(*req, "");
    st->deadline = ctx->deadline();
    limit_task(t, st->deadline);
    auto worker = sys_.spawn(stream_deliberation, st, b_.orchestrator,
                             std::move(t), std::function<void()>{[this] {
                               release_slot();
                             }});
    std::lock_guard<std::recursive_mutex> guard{st->mtx};
    st->worker = worker.address();
    return reactor;
  }

  grpc::ServerUnaryReactor* Orchestrate(grpc::CallbackServerContext* ctx,
                                        const pb::OrchestrateRequest* req,
                                        pb::OrchestrateResponse* resp) override {
    auto* r = counted("Orchestrate");
    if (auto st = check_task(req->task_description(), req->role()); !st.ok()) {
      r->finish(st);
      return r;
    }
    if (reject_unready(r))
      return r;
    task_spec t;
    t.task_id = req->task_id();
    t.story_id = req->story_id();
    t.plan_id = req->plan_id();
    t.case_id = req->case_id();
    t.role = normalize_role(req->role());
    t.description = req->task_description();
    t.constraints = constraints_of(req->constraints());
    if (req->options().deliberation_rounds() > 0)
      t.constraints.rounds = req->options().deliberation_rounds();
    run(r, ctx, atom::orchestrate_v, std::move(t),
        [resp](deliberation_outcome& out) {
          for (auto& x : out.results) {
            if (x.proposal.author_id == out.winner_id)
              fill(resp->mutable_winner(), x);
            fill(resp->add_candidates(), x);
          }
          resp->set_execution_id(out.execution_id);
          resp->set_duration_ms(out.duration_ms);
          fill(resp->mutable_metadata(), out.execution_id);
        });
    return r;
  }

  grpc::ServerUnaryReactor*
  GetDeliberationResult(grpc::CallbackServerContext* ctx,
                        const pb::GetDeliberationResultRequest* req,
                        pb::GetDeliberationResultResponse* resp) override {
    auto* r = counted("GetDeliberationResult");
    if (is_blank(req->task_id())) {
      r->finish(invalid("task_id must not be blank"));
      return r;
    }
    auto orch = b_.orchestrator;
    auto queue = b_.queue;
    auto id = req->task_id();
    sys_.spawn([=](caf::event_based_actor* self) {
      self->request(orch, admin_timeout, atom::result_v, id)
        .then(
          [=](deliberation_outcome& out) {
            resp->set_task_id(id);
            // The result store keeps failures too: status "timeout" or
            // "failed" (ORCHESTRATOR's failed_outcome).
            resp->set_status(out.status == "timeout"
                               ? pb::DELIBERATION_STATUS_TIMEOUT
                             : out.status == "failed"
                               ? pb::DELIBERATION_STATUS_FAILED
                               : pb::DELIBERATION_STATUS_COMPLETED);
            for (auto& x : out.results)
              fill(resp->add_results(), x);
            resp->set_winner_id(out.winner_id);
            resp->set_duration_ms(out.duration_ms);
            resp->set_error_message(out.error);
            fill(resp->mutable_metadata(), out.execution_id);
            r->finish(Status::OK);
          },
          [=](caf::error& err) {
            // Not in the result store: maybe a task of a plan that has not
            // run yet, or runs right now (the TASK QUEUE knows).
            if (code_of(err) != ec::not_found || !queue) {
              r->finish(to_status(err));
              return;
            }
            self->request(queue, admin_timeout, atom::status_v, id)
              .then(
                [=](queued_task& q) {
                  resp->set_task_id(id);
                  auto& s = q.state;
                  resp->set_status(
                    s == "QUEUED" || s == "READY"
                      ? pb::DELIBERATION_STATUS_PENDING
                    : s == "IN_PROGRESS" ? pb::DELIBERATION_STATUS_IN_PROGRESS
                    : s == "COMPLETED"   ? pb::DELIBERATION_STATUS_COMPLETED
                                         : pb::DELIBERATION_STATUS_FAILED);
                  resp->set_error_message(q.error);
                  r->finish(Status::OK);
                },
                [=](caf::error& e2) { r->finish(to_status(e2)); });
          });
    });
    return r;
  }

  grpc::ServerUnaryReactor*
  DeriveSubtasks(grpc::CallbackServerContext* ctx,
                 const pb::DeriveSubtasksRequest* req,
                 pb::DeriveSubtasksResponse* resp) override {
    auto* r = counted("DeriveSubtasks");
    if (is_blank(req->plan_id())) {
      r->finish(invalid("plan_id must not be blank"));
      return r;
    }
    if (req->strategy().max_tasks_per_role() < 0) {
      r->finish(invalid("strategy.max_tasks_per_role must not be negative"));
      return r;
    }
    plan_input plan;
    plan.plan_id = req->plan_id();
    plan.story_id = req->case_id();
    plan.roles.assign(req->roles().begin(), req->roles().end());
    auto dispatch = req->strategy().auto_publish_to_nats();
    auto cap = req->strategy().max_tasks_per_role();
    derive(r, std::move(plan), dispatch, [resp, cap](std::vector<task_spec>& ts) {
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
    });
    return r;
  }

  grpc::ServerUnaryReactor*
  ProcessPlanningEvent(grpc::CallbackServerContext* ctx,
                       const pb::PlanningEventRequest* req,
                       pb::PlanningEventResponse* resp) override {
    auto* r = counted("ProcessPlanningEvent");
    if (is_blank(req->event_type())) {
      r->finish(invalid("event_type must not be blank"));
      return r;
    }
    std::string type;
    for (auto ch : req->event_type())
      type += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto approved = type.find("approved") != std::string::npos;
    if (!approved) {
      // A phase change: published as orchestration.phase.changed.
      if (is_blank(req->case_id()) || is_blank(req->to_state())) {
        r->finish(invalid("a phase change needs case_id and to_state"));
        return r;
      }
      if (b_.sink) {
        story_transition x;
        x.story_id = req->case_id();
        x.from_phase = req->from_state();
        x.to_phase = req->to_state();
        x.timestamp = static_cast<double>(req->timestamp_ms()) / 1000.0;
        caf::anon_send(b_.sink, atom::progress_v,
                       phase_changed_event(x, trace_context{}));
      }
      resp->set_processed(true);
      resp->set_message("phase change of " + req->case_id() + " to "
                        + req->to_state() + " published");
      r->finish(Status::OK);
      return r;
    }
    if (is_blank(req->plan_id())) {
      r->finish(invalid("an approved plan needs plan_id"));
      return r;
    }
    plan_input plan;
    plan.plan_id = req->plan_id();
    plan.story_id = req->case_id();
    if (auto i = req->metadata().find("plan"); i != req->metadata().end())
      plan.text = i->second;
    derive(r, std::move(plan), true, [resp](std::vector<task_spec>& ts) {
      resp->set_processed(true);
      resp->set_message(std::to_string(ts.size()) + " tasks queued");
      for (auto& t : ts)
        resp->add_derived_task_ids(t.task_id);
    });
    return r;
  }

  grpc::ServerUnaryReactor*
  GetTaskContext(grpc::CallbackServerContext* ctx,
                 const pb::GetTaskContextRequest* req,
                 pb::GetTaskContextResponse* resp) override {
    auto* r = counted("GetTaskContext");
    auto story = !is_blank(req->story_id()) ? req->story_id() : req->case_id();
    if (is_blank(story) && is_blank(req->task_id())) {
      r->finish(invalid("give a story_id (or case_id) or a task_id"));
      return r;
    }
    auto role = normalize_role(req->role());
    auto phase = req->phase();
    auto task_id = req->task_id();
    auto max_events = req->options().max_events() > 0
                        ? req->options().max_events()
                        : 20;
    admin<std::vector<deliberation_outcome>>(
      r,
      [=](std::vector<deliberation_outcome>& xs) {
        task_context(resp, xs, story, task_id, role, phase, max_events);
      },
      atom::list_v, story);
    return r;
  }

  grpc::ServerUnaryReactor*
  CreateCouncil(grpc::CallbackServerContext* ctx,
                const pb::CreateCouncilRequest* req,
                pb::CreateCouncilResponse* resp) override {
    auto* r = counted("CreateCouncil");
    if (is_blank(req->role())) {
      r->finish(invalid("role must not be blank"));
      return r;
    }
    if (req->num_agents() < 0 || req->num_agents() > 256) {
      r->finish(invalid("num_agents must be between 1 and 256 (0: 3)"));
      return r;
    }
    council_config cc;
    cc.role = normalize_role(req->role());
    cc.num_agents = req->num_agents() > 0 ? req->num_agents() : 3;
    cc.agent_type = backend_of(req->config().agent_type());
    if (req->config().deliberation_rounds() > 0)
      cc.rounds = req->config().deliberation_rounds();
    for (auto& [k, v] : req->config().custom_params())
      cc.custom_params[k] = v;
    admin<council_info>(r, [resp](council_info& info) {
      resp->set_council_id(info.council_id);
      resp->set_agents_created(static_cast<int32_t>(info.agent_ids.size()));
      for (auto& id : info.agent_ids)
        resp->add_agent_ids(id);
    }, atom::create_v, cc);
    return r;
  }

  grpc::ServerUnaryReactor* ListCouncils(grpc::CallbackServerContext* ctx,
                                         const pb::ListCouncilsRequest* req,
                                         pb::ListCouncilsResponse* resp) override {
    auto* r = counted("ListCouncils");
    auto filter = normalize_role(req->role_filter());
    auto agents = req->include_agents();
    admin<std::vector<council_info>>(r, [resp, filter, agents](std::vector<council_info>& xs) {
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
      }, atom::list_v);
    return r;
  }

  grpc::ServerUnaryReactor*
  DeleteCouncil(grpc::CallbackServerContext* ctx,
                const pb::DeleteCouncilRequest* req,
                pb::DeleteCouncilResponse* resp) override {
    auto* r = counted("DeleteCouncil");
    if (is_blank(req->role())) {
      r->finish(invalid("role must not be blank"));
      return r;
    }
    admin<council_info>(r, [resp](council_info& info) {
                          resp->set_success(true);
                          resp->set_message("deleted " + info.council_id);
                          resp->set_agents_removed(
                            static_cast<int32_t>(info.agent_ids.size()));
                        }, atom::remove_v, normalize_role(req->role()));
    return r;
  }

  grpc::ServerUnaryReactor*
  RegisterAgent(grpc::CallbackServerContext* ctx,
                const pb::RegisterAgentRequest* req,
                pb::RegisterAgentResponse* resp) override {
    auto* r = counted("RegisterAgent");
    if (is_blank(req->agent_id()) || is_blank(req->role())) {
      r->finish(invalid("agent_id and role must not be blank"));
      return r;
    }
    agent_spec spec;
    spec.agent_id = req->agent_id();
    spec.role = normalize_role(req->role());
    for (auto& [k, v] : req->metadata())
      spec.params[k] = v;
    if (!req->endpoint().empty())
      spec.params["endpoint"] = req->endpoint();
    admin<council_info>(r, [resp, spec](council_info& c) {
      resp->set_success(true);
      resp->set_message("registered " + spec.agent_id + " with "
                        + c.council_id);
      resp->set_council_id(c.council_id);
    }, atom::add_v, spec);
    return r;
  }

  grpc::ServerUnaryReactor*
  UnregisterAgent(grpc::CallbackServerContext* ctx,
                  const pb::UnregisterAgentRequest* req,
                  pb::UnregisterAgentResponse* resp) override {
    auto* r = counted("UnregisterAgent");
    if (is_blank(req->agent_id()) || is_blank(req->role())) {
      r->finish(invalid("agent_id and role must not be blank"));
      return r;
    }
    auto id = req->agent_id();
    admin<council_info>(r, [resp, id](council_info& c) {
                          resp->set_success(true);
                          resp->set_message("unregistered " + id + " from "
                                            + c.council_id);
                        }, atom::remove_v, normalize_role(req->role()), id);
    return r;
  }

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx,
                                      const pb::GetStatusRequest* req,
                                      pb::GetStatusResponse* resp) override {
    auto* r = counted("GetStatus");
    auto [ready, why] = b_.readiness ? b_.readiness()
                                     : std::make_pair(true, std::string{});
    resp->set_status(ready ? "healthy" : "not_ready: " + why);
    resp->set_uptime_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - b_.started)
        .count());
    auto stats = req->include_stats();
    auto rest = [this, r, resp, stats] {
      if (!stats) {
        r->finish(Status::OK);
        return;
      }
      admin<orchestrator_stats>(r, [resp](orchestrator_stats& s) {
        auto* x = resp->mutable_stats();
        x->set_total_deliberations(s.total_deliberations);
        x->set_total_orchestrations(s.total_orchestrations);
        x->set_avg_deliberation_time_ms(s.avg_ms);
        x->set_active_councils(s.active_councils);
        for (auto& [role, n] : s.role_counts)
          (*x->mutable_role_counts())[role] = n;
      }, atom::stats_v);
    };
    if (!b_.placement) {
      rest();
      return r;
    }
    auto placement = b_.placement;
    sys_.spawn([=](caf::event_based_actor* self) {
      self->request(placement, admin_timeout, atom::list_v)
        .then(
          [=](std::vector<node_info>& xs) {
            std::string text;
            for (auto& n : xs) {
              if (!text.empty())
                text += ";";
              text += n.name + " " + n.state + " " + std::to_string(n.agents)
                      + " " + std::to_string(n.scorers) + " "
                      + std::to_string(n.epoch);
            }
            ctx->AddTrailingMetadata("orchestrator-nodes", text);
            rest();
          },
          [=](caf::error&) { rest(); });
    });
    return r;
  }

  grpc::ServerUnaryReactor* GetMetrics(grpc::CallbackServerContext* ctx,
                                       const pb::GetMetricsRequest*,
                                       pb::GetMetricsResponse* resp) override {
    auto* r = counted("GetMetrics");
    admin<orchestrator_stats>(r, [resp](orchestrator_stats& s) {
      auto* p = resp->mutable_performance();
      p->set_avg_deliberation_ms(s.avg_ms);
      p->set_avg_orchestration_ms(s.avg_ms);
      p->set_p50_latency_ms(s.p50_ms);
      p->set_p95_latency_ms(s.p95_ms);
      p->set_p99_latency_ms(s.p99_ms);
      auto* c = resp->mutable_councils();
      c->set_total_councils(static_cast<int32_t>(s.active_councils));
      c->set_active_councils(static_cast<int32_t>(s.active_councils));
    }, atom::stats_v);
    return r;
  }

private:
  /// UNAVAILABLE while the service is not ready, RESOURCE_EXHAUSTED at the
  /// cap of concurrent deliberations; OK takes a slot (give it back with
  /// `release_slot`).
  Status admit() {
    if (b_.readiness) {
      auto [ready, why] = b_.readiness();
      if (!ready)
        return {StatusCode::UNAVAILABLE, "the service is not ready: " + why};
    }
    if (++running_ > b_.max_deliberations) {
      --running_;
      return {StatusCode::RESOURCE_EXHAUSTED,
              "at most " + std::to_string(b_.max_deliberations)
                + " deliberations run at once over gRPC "
                  "(GRPC_MAX_DELIBERATIONS); try again later"};
    }
    return Status::OK;
  }

  void release_slot() {
    --running_;
  }

  /// Finishes with the status of `admit` unless it is OK.
  bool reject_unready(counted_reactor* r) {
    auto st = admit();
    if (st.ok())
      return false;
    r->finish(st);
    return true;
  }

  /// The task of a DeliberateRequest; `rubric` when it brings none.
  static task_spec task_of(const pb::DeliberateRequest& req,
                           const std::string& rubric) {
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

  static Status check_task(const std::string& text, const std::string& role) {
    if (is_blank(text))
      return invalid("task_description must not be blank");
    if (is_blank(role))
      return invalid("role must not be blank");
    return Status::OK;
  }

  grpc::ServerUnaryReactor* deliberate(grpc::CallbackServerContext* ctx,
                                       const pb::DeliberateRequest* req,
                                       pb::DeliberateResponse* resp,
                                       const std::string& rubric,
                                       const std::string& method) {
    auto* r = counted(method);
    if (auto st = check_task(req->task_description(), req->role()); !st.ok()) {
      r->finish(st);
      return r;
    }
    if (req->rounds() < 0 || req->rounds() > 20) {
      r->finish(invalid("rounds must be between 0 and 20"));
      return r;
    }
    if (reject_unready(r))
      return r;
    run(r, ctx, atom::deliberate_v, task_of(*req, rubric),
        [resp](deliberation_outcome& out) {
          resp->set_task_id(out.task_id);
          for (auto& x : out.results)
            fill(resp->add_results(), x);
          resp->set_winner_id(out.winner_id);
          resp->set_duration_ms(out.duration_ms);
          fill(resp->mutable_metadata(), out.execution_id);
        });
    return r;
  }

  /// Runs a deliberation (`Atom`: deliberate or orchestrate) in a worker
  /// actor that holds a slot while it lives; the client's deadline is the
  /// deliberation's limit and a client that cancels stops the worker (and
  /// so the deliberation); `done` fills the response.
  template<class Atom, class Done>
  void run(counted_reactor* r, grpc::CallbackServerContext* ctx, Atom what,
           task_spec t, Done done) {
    auto orch = b_.orchestrator;
    auto ctl = r->control();
    ctl->deadline = ctx->deadline();
    limit_task(t, ctl->deadline);
    auto worker = sys_.spawn([=](progress_listener_actor::pointer self)
                               -> progress_listener_actor::behavior_type {
      self->attach_functor([this] { release_slot(); });
      self
        ->request(orch, wait_for(t), what, t,
                  caf::actor_cast<progress_listener_actor>(self))
        .then(
          [=](deliberation_outcome& out) {
            if (ctl->claim()) {
              done(out);
              r->finish(Status::OK);
            }
            self->quit();
          },
          [=](caf::error& err) {
            if (ctl->claim())
              r->finish(to_status(err));
            self->quit();
          });
      // Progress of a unary call has no reader.
      return {[](deliberation_update&) {}};
    });
    std::lock_guard<std::mutex> guard{ctl->mtx};
    ctl->worker = worker.address();
  }

  /// Derives the tasks of `plan` with the PLANNER and, with `dispatch`,
  /// queues them and wakes the DISPATCHER; `done` fills the response.
  template<class Done>
  void derive(counted_reactor* r, plan_input plan, bool dispatch,
              Done done) {
    if (!b_.planner) {
      r->finish({StatusCode::UNAVAILABLE, "no PLANNER in this process"});
      return;
    }
    if (dispatch && !b_.queue) {
      r->finish({StatusCode::UNAVAILABLE, "no TASK QUEUE in this process"});
      return;
    }
    auto planner = b_.planner;
    auto queue = b_.queue;
    auto dispatcher = b_.dispatcher;
    sys_.spawn([=](caf::event_based_actor* self) {
      self->request(planner, admin_timeout, atom::run_v, plan)
        .then(
          [=](std::vector<task_spec>& ts) {
            if (!dispatch) {
              done(ts);
              r->finish(Status::OK);
              return;
            }
            self->request(queue, admin_timeout, atom::add_v, ts)
              .then(
                [=](int32_t) mutable {
                  if (dispatcher)
                    self->send(dispatcher, atom::wake_v);
                  done(ts);
                  r->finish(Status::OK);
                },
                [=](caf::error& err) { r->finish(to_status(err)); });
          },
          [=](caf::error& err) { r->finish(to_status(err)); });
    });
  }

  /// Asks the ORCHESTRATOR; `done` fills the response, errors map to codes.
  template<class T, class Done, class... Ts>
  void admin(counted_reactor* r, Done done, Ts... xs) {
    auto orch = b_.orchestrator;
    sys_.spawn([=](caf::event_based_actor* self) {
      self->request(orch, admin_timeout, xs...)
        .then(
          [=](T& x) {
            done(x);
            r->finish(Status::OK);
          },
          [=](caf::error& err) { r->finish(to_status(err)); });
    });
  }

  counted_reactor* counted(const std::string& method) {
    return new counted_reactor(method, counts_);
  }

  caf::actor_system& sys_;
  grpc_backend b_;
  std::atomic<int32_t> running_{0};

public:
  std::shared_ptr<call_counters> counts_ = std::make_shared<call_counters>();
};

class server_impl : public grpc_server {
public:
  server_impl(std::unique_ptr<service_impl> svc,
              std::unique_ptr<grpc::Server> srv, int port)
      : svc_(std::move(svc)), srv_(std::move(srv)), port_(port) {
  }

  ~server_impl() override {
    stop();
  }

  int port() const override {
    return port_;
  }

  std::map<std::string, int64_t> counters() const override {
    std::lock_guard<std::mutex> guard{svc_->counts_->mtx};
    return svc_->counts_->n;
  }

  void set_serving(bool serving) override {
    if (auto* h = srv_ ? srv_->GetHealthCheckService() : nullptr) {
      h->SetServingStatus(serving);
      h->SetServingStatus("fleet.orchestrator.v1.OrchestratorService",
                          serving);
    }
  }

  void stop() override {
    if (!srv_)
      return;
    srv_->Shutdown(std::chrono::system_clock::now()
                   + std::chrono::seconds(5));
    srv_->Wait();
    srv_.reset();
  }

private:
  std::unique_ptr<service_impl> svc_;
  std::unique_ptr<grpc::Server> srv_;
  int port_;
};

} // namespace

caf::expected<std::unique_ptr<grpc_server>>
start_grpc_server(caf::actor_system& sys, const grpc_settings& settings,
                  grpc_backend backend) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto svc = std::make_unique<service_impl>(sys, std::move(backend));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(settings.host + ":" + std::to_string(settings.port),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(svc.get());
  auto srv = builder.BuildAndStart();
  if (!srv || port == 0)
    return caf::make_error(ec::invalid_config,
                           "GRPC_PORT=" + std::to_string(settings.port)
                             + ": cannot listen on " + settings.host
                             + " (port in use?)");
  spdlog::info("grpc server listens on {}:{}", settings.host, port);
  auto out = std::make_unique<server_impl>(std::move(svc), std::move(srv),
                                           port);
  out->set_serving(false);
  return std::unique_ptr<grpc_server>{std::move(out)};
}

} // namespace orch
