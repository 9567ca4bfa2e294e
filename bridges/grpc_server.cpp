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
#include "bridges/grpc_requests.hpp"
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
    return deliberate(ctx, req, resp, grpc_requests::backlog_review_rubric,
                      "DeliberateForBacklogReview");
  }

  grpc::ServerWriteReactor<pb::DeliberationUpdate>*
  StreamDeliberation(grpc::CallbackServerContext* ctx,
                     const pb::DeliberateRequest* req) override {
    auto st = std::make_shared<stream_state>();
    st->counts = counts_;
    auto* reactor = new stream_reactor(st);
    auto t = grpc_requests::deliberation_task(*req);
    auto check = t ? admit() : invalid(detail_of(t.error()));
    if (!check.ok()) {
      st->end(check);
      return reactor;
    }
    st->deadline = ctx->deadline();
    limit_task(*t, st->deadline);
    auto worker = sys_.spawn(stream_deliberation, st, b_.orchestrator,
                             std::move(*t), std::function<void()>{[this] {
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
    auto t = grpc_requests::orchestration_task(*req);
    if (rejected(r, t) || reject_unready(r))
      return r;
    run(r, ctx, atom::orchestrate_v, std::move(*t),
        [resp](const deliberation_outcome& out) {
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
    auto task_id = grpc_requests::result_task_id(*req);
    if (rejected(r, task_id))
      return r;
    auto orch = b_.orchestrator;
    auto queue = b_.queue;
    auto id = *task_id;
    sys_.spawn([=](caf::event_based_actor* self) {
      self->request(orch, admin_timeout, atom::result_v, id)
        .then(
          [=](const deliberation_outcome& out) {
            fill(resp, id, out);
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
                  fill(resp, id, q);
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
    auto plan = grpc_requests::subtask_plan(*req);
    if (rejected(r, plan))
      return r;
    auto dispatch = req->strategy().auto_publish_to_nats();
    auto cap = plan->second;
    derive(r, std::move(plan->first), dispatch,
           [resp, cap](std::vector<task_spec>& ts) { fill(resp, ts, cap); });
    return r;
  }

  grpc::ServerUnaryReactor*
  ProcessPlanningEvent(grpc::CallbackServerContext* ctx,
                       const pb::PlanningEventRequest* req,
                       pb::PlanningEventResponse* resp) override {
    auto* r = counted("ProcessPlanningEvent");
    auto ev = grpc_requests::planning_event_of(*req);
    if (rejected(r, ev))
      return r;
    if (!ev->approved) {
      // A phase change: published as orchestration.phase.changed.
      if (b_.sink)
        caf::anon_send(b_.sink, atom::progress_v,
                       phase_changed_event(ev->phase, trace_context{}));
      resp->set_processed(true);
      resp->set_message("phase change of " + ev->phase.story_id + " to "
                        + ev->phase.to_phase + " published");
      r->finish(Status::OK);
      return r;
    }
    auto plan = std::move(ev->plan);
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
    auto q = grpc_requests::context_query_of(*req);
    if (rejected(r, q))
      return r;
    admin<std::vector<deliberation_outcome>>(
      r,
      [resp, q = *q](std::vector<deliberation_outcome>& xs) {
        task_context(resp, xs, q.story_id, q.task_id, q.role, q.phase,
                     q.max_events);
      },
      atom::list_v, q->story_id);
    return r;
  }

  grpc::ServerUnaryReactor*
  CreateCouncil(grpc::CallbackServerContext* ctx,
                const pb::CreateCouncilRequest* req,
                pb::CreateCouncilResponse* resp) override {
    auto* r = counted("CreateCouncil");
    auto cc = grpc_requests::council_of(*req);
    if (rejected(r, cc))
      return r;
    admin<council_info>(r, [resp](council_info& info) {
      resp->set_council_id(info.council_id);
      resp->set_agents_created(static_cast<int32_t>(info.agent_ids.size()));
      for (auto& id : info.agent_ids)
        resp->add_agent_ids(id);
    }, atom::create_v, *cc);
    return r;
  }

  grpc::ServerUnaryReactor* ListCouncils(grpc::CallbackServerContext* ctx,
                                         const pb::ListCouncilsRequest* req,
                                         pb::ListCouncilsResponse* resp) override {
    auto* r = counted("ListCouncils");
    auto filter = normalize_role(req->role_filter());
    auto agents = req->include_agents();
    admin<std::vector<council_info>>(
      r,
      [resp, filter, agents](std::vector<council_info>& xs) {
        fill(resp, xs, filter, agents);
      },
      atom::list_v);
    return r;
  }

  grpc::ServerUnaryReactor*
  DeleteCouncil(grpc::CallbackServerContext* ctx,
                const pb::DeleteCouncilRequest* req,
                pb::DeleteCouncilResponse* resp) override {
    auto* r = counted("DeleteCouncil");
    auto role = grpc_requests::council_role(*req);
    if (rejected(r, role))
      return r;
    admin<council_info>(r, [resp](council_info& info) {
                          resp->set_success(true);
                          resp->set_message("deleted " + info.council_id);
                          resp->set_agents_removed(
                            static_cast<int32_t>(info.agent_ids.size()));
                        }, atom::remove_v, *role);
    return r;
  }

  grpc::ServerUnaryReactor*
  RegisterAgent(grpc::CallbackServerContext* ctx,
                const pb::RegisterAgentRequest* req,
                pb::RegisterAgentResponse* resp) override {
    auto* r = counted("RegisterAgent");
    auto agent = grpc_requests::agent_of(*req);
    if (rejected(r, agent))
      return r;
    auto spec = std::move(*agent);
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
    auto who = grpc_requests::unregistration_of(*req);
    if (rejected(r, who))
      return r;
    auto id = who->second;
    admin<council_info>(r, [resp, id](council_info& c) {
                          resp->set_success(true);
                          resp->set_message("unregistered " + id + " from "
                                            + c.council_id);
                        }, atom::remove_v, who->first, id);
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
      admin<orchestrator_stats>(
        r,
        [resp](orchestrator_stats& s) { fill(resp->mutable_stats(), s); },
        atom::stats_v);
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
    admin<orchestrator_stats>(
      r, [resp](orchestrator_stats& s) { fill(resp, s); }, atom::stats_v);
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

  /// Finishes with INVALID_ARGUMENT (the request's error) when `x` holds
  /// an error.
  template<class T>
  static bool rejected(counted_reactor* r, const caf::expected<T>& x) {
    if (x)
      return false;
    r->finish(invalid(detail_of(x.error())));
    return true;
  }

  grpc::ServerUnaryReactor* deliberate(grpc::CallbackServerContext* ctx,
                                       const pb::DeliberateRequest* req,
                                       pb::DeliberateResponse* resp,
                                       const std::string& rubric,
                                       const std::string& method) {
    auto* r = counted(method);
    auto t = grpc_requests::deliberation_task(*req, rubric);
    if (rejected(r, t) || reject_unready(r))
      return r;
    run(r, ctx, atom::deliberate_v, std::move(*t),
        [resp](const deliberation_outcome& out) {
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
          [=](const deliberation_outcome& out) {
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
  // Larger requests are refused by gRPC with RESOURCE_EXHAUSTED.
  builder.SetMaxReceiveMessageSize(grpc_requests::max_request_bytes);
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
