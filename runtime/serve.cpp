#include "runtime/serve.hpp"

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include "bridges/nats_consumers.hpp"
#include "bridges/nats_sink.hpp"
#include "bridges/redis_queue.hpp"
#include "actors/planner.hpp"
#include "actors/process_runner.hpp"
#include "bridges/grpc_server.hpp"
#include "bridges/http_server.hpp"
#include "runtime/ops.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/work_api.hpp"

namespace orch {

nats_settings nats_settings_of(const config& cfg, bool retry_forever) {
  nats_settings ns;
  ns.url = cfg.nats_url;
  ns.creds_file = cfg.nats_creds;
  ns.token = cfg.nats_token;
  ns.user = cfg.nats_user;
  ns.password = cfg.nats_password;
  ns.tls_ca = cfg.nats_tls_ca;
  ns.tls_cert = cfg.nats_tls_cert;
  ns.tls_key = cfg.nats_tls_key;
  ns.retry_forever = retry_forever;
  ns.msgpack_out = cfg.event_format == "msgpack";
  return ns;
}

sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int run_serve(const config& cfg) {
  // Signals are taken by sigtimedwait on this thread only; every thread
  // started from here on inherits the blocked mask.
  auto signals = block_stop_signals();
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  auto link = nats_connect(nats_settings_of(cfg, true));
  if (!link) {
    std::fprintf(stderr, "orchestrator: %s\n", render(link.error()).c_str());
    return 2;
  }
  auto queue = start_queue(sys, cfg);
  if (!queue) {
    std::fprintf(stderr, "orchestrator: %s\n", render(queue.error()).c_str());
    return 2;
  }
  auto sink = spawn_nats_sink(sys, *link, *queue);
  auto hub = spawn_agent_hub(sys, sink);
  auto svc = start_service(sys, cfg, hub);
  if (!svc) {
    std::fprintf(stderr, "orchestrator: configuration error: %s\n",
                 render(svc.error()).c_str());
    return 2;
  }
  dispatcher_settings ds;
  ds.worker = worker_name(cfg, "serve");
  ds.max_in_flight = cfg.max_in_flight;
  ds.lease_ms = cfg.lease_seconds * 1000;
  ds.progress = cfg.progress_events;
  ds.full_results = false;
  // DISPATCH=false leaves every task to the workers of the pull API.
  dispatcher_actor dispatcher;
  if (cfg.dispatch)
    dispatcher = spawn_dispatcher(sys, ds, *queue, svc->orchestrator, sink);
  event_router_settings rs;
  rs.max_payload = static_cast<size_t>(cfg.max_payload);
  for (auto& c : cfg.councils)
    rs.roles.push_back(c.role);
  rs.queue = *queue;
  rs.sink = sink;
  rs.dispatcher = dispatcher;
  rs.hub = hub;
  auto router = spawn_event_router(sys, rs);
  auto consumers = start_consumers(sys, *link, default_consumers(), router,
                                   sink);
  spdlog::info("serve started worker={} nats={} queue={} councils={} "
               "max_in_flight={} progress={}",
               ds.worker, redact_url(cfg.nats_url),
               cfg.redis_url.empty() ? "memory" : redact_url(cfg.redis_url),
               to_string(cfg.councils), cfg.max_in_flight,
               cfg.progress_events);
  auto ready = std::make_shared<readiness_board>();
  ops_context ops;
  ops.sys = &sys;
  ops.cfg = cfg;
  ops.worker = ds.worker;
  ops.started = std::chrono::steady_clock::now();
  ops.readiness = ready;
  ops.orchestrator = svc->orchestrator;
  ops.queue = *queue;
  ops.dispatcher = dispatcher;
  ops.sink = sink;
  ops.llm = svc->llm;
  ops.link = *link;
  ops.consumers = consumers.get();
  ops.placement = svc->placement;
  grpc_settings gs;
  gs.port = cfg.grpc_port;
  grpc_backend gb;
  gb.orchestrator = svc->orchestrator;
  std::set<std::string> roles;
  for (auto& c : cfg.councils)
    roles.insert(c.role);
  auto planner = spawn_planner(sys, roles);
  gb.planner = planner;
  gb.queue = *queue;
  gb.dispatcher = dispatcher;
  gb.sink = sink;
  gb.max_deliberations = cfg.grpc_max_deliberations;
  gb.readiness = [ready] { return ready->get(); };
  gb.started = std::chrono::steady_clock::now();
  gb.placement = svc->placement;
  auto grpc = start_grpc_server(sys, gs, std::move(gb));
  if (!grpc) {
    std::fprintf(stderr, "orchestrator: configuration error: %s\n",
                 render(grpc.error()).c_str());
    consumers->stop();
    return 2;
  }
  auto registry = spawn_worker_registry(sys);
  work_context wc;
  wc.sys = &sys;
  wc.queue = *queue;
  wc.registry = registry;
  wc.sink = sink;
  wc.lease_ms = cfg.lease_seconds * 1000;
  auto* grpc_srv = grpc->get();
  ops.grpc_counters = [grpc_srv] { return grpc_srv->counters(); };
  auto routes = ops_routes(std::move(ops));
  routes.merge(work_routes(std::move(wc)));
  http_settings hs;
  hs.port = cfg.http_port;
  auto http = start_http_server(hs, std::move(routes));
  if (!http) {
    std::fprintf(stderr, "orchestrator: configuration error: %s\n",
                 render(http.error()).c_str());
    consumers->stop();
    (*grpc)->stop();
    return 2;
  }
  caf::scoped_actor self{sys};
  int received = 0;
  for (;;) {
    timespec wait{1, 0};
    auto sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      received = sig;
      break;
    }
    // PID 1 of a container without an init: orphans become ours.
    if (::getpid() == 1)
      reap_orphans();
    // Readiness: NATS connected and streams in place, the queue answers.
    auto h = health(**link);
    if (h.connected && !h.streams_ready)
      if (auto err = ensure_streams(**link))
        spdlog::warn("serve cannot create the streams yet: {}", render(err));
    h = health(**link);
    std::string why;
    if (!h.connected || !h.streams_ready)
      why = "NATS: " + h.reason;
    bool queue_up = false;
    // A cheap question (counts of no plan) that needs the queue up.
    self->request(*queue, std::chrono::seconds(2), atom::counts_v,
                  std::string{"-"})
      .receive([&](std::map<std::string, int64_t>&) { queue_up = true; },
               [&](caf::error& err) {
                 if (why.empty())
                   why = "task queue: " + render(err);
               });
    if (why.empty())
      self->request(svc->llm, std::chrono::seconds(2), atom::status_v)
        .receive(
          [&](std::vector<std::string>& failing) {
            if (!failing.empty())
              why = "LLM endpoint " + failing.front();
          },
          [](caf::error&) {});
    if (why.empty())
      self->request(svc->orchestrator, std::chrono::seconds(2), atom::list_v)
        .receive(
          [&](std::vector<council_info>& xs) {
            if (xs.empty())
              why = "no councils (COUNCILS)";
          },
          [&](caf::error& err) { why = "orchestrator: " + render(err); });
    auto now_ready = why.empty() && queue_up;
    if (ready->update(now_ready, why)) {
      (*grpc)->set_serving(now_ready);
      if (now_ready)
        spdlog::info("serve is ready");
      else
        spdlog::warn("serve is not ready: {}", why);
    }
  }
  spdlog::info("serve stops on {}: draining for at most {} s",
               received == SIGTERM ? "SIGTERM" : "SIGINT", cfg.drain_timeout);
  // 1. Not ready any more; no more messages, unsettled ones go back to
  //    JetStream.
  ready->update(false, "stopping");
  (*grpc)->set_serving(false);
  consumers->stop();
  // 2. In-flight tasks finish within the drain limit, the rest are released.
  int32_t released = 0;
  if (dispatcher)
    self
      ->request(dispatcher, std::chrono::seconds(cfg.drain_timeout + 10),
                atom::drain_v, cfg.drain_timeout * 1000)
      .receive([&](int32_t n) { released = n; },
               [&](caf::error& err) {
                 spdlog::warn("serve drain: {}", render(err));
               });
  // 3. Outstanding publishes are acknowledged (or stay in the outbox).
  auto flushed = flush_sink(sys, sink, std::chrono::seconds(10));
  spdlog::info("serve stopped: released {} leases, events {}", released,
               flushed ? "all published" : "left in the outbox for later");
  (*http)->stop();
  (*grpc)->stop();
  // Everything that matters is durable or flushed now. Tearing the actors
  // down one by one has crashed CAF 0.17 now and then (a COUNCIL calling a
  // null handler after quit() while responses were still in flight), so the
  // process leaves here, with its log flushed.
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(0);
}

} // namespace orch
