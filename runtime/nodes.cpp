#include "runtime/nodes.hpp"

#include <cstdio>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/process_runner.hpp"
#include "bridges/node_auth.hpp"
#include "runtime/serve.hpp"
#include "runtime/supervisor.hpp"

namespace orch {

namespace {

/// Publishes `h` on HOST:PORT (TLS with NODE_TLS_*); answers the port.
template<class Handle>
caf::expected<uint16_t> publish_on(caf::actor_system& sys, const Handle& h,
                                   const std::string& where,
                                   const config& cfg) {
  auto hp = parse_host_port(where, "NODE_LISTEN");
  if (!hp)
    return std::move(hp.error());
  if (cfg.node_tls())
    return caf::openssl::publish(h, hp->second, hp->first.c_str(), true);
  return sys.middleman().publish(h, hp->second, hp->first.c_str(), true);
}

/// The door of NODE_LISTEN: accepts nothing but announcements.
using door_actor = caf::typed_actor<caf::reacts_to<atom::join, node_actor>>;

door_actor::behavior_type door(door_actor::pointer, placement_actor placement) {
  return {
    [=](atom::join, node_actor& node) {
      caf::anon_send(placement, atom::join_v, std::move(node));
    },
  };
}

} // namespace

void configure_distribution(caf::actor_system_config& sys_cfg,
                            const config& cfg) {
  sys_cfg.load<caf::io::middleman>();
  std::chrono::milliseconds beat{cfg.node_heartbeat_ms};
  sys_cfg.set("middleman.heartbeat-interval", caf::timespan{beat});
  sys_cfg.set("middleman.connection-timeout", caf::timespan{beat * 4});
  if (cfg.node_tls()) {
    sys_cfg.load<caf::openssl::manager>();
    sys_cfg.set("openssl.certificate", cfg.node_tls_cert);
    sys_cfg.set("openssl.key", cfg.node_tls_key);
    sys_cfg.set("openssl.cafile", cfg.node_tls_ca);
  }
}

caf::expected<placement_actor>
start_placement(caf::actor_system& sys, const config& cfg,
                const hosting& local) {
  if (auto err = validate_nodes(cfg))
    return err;
  placement_settings ps;
  ps.nodes = cfg.nodes;
  ps.connector = cfg.node_tls() ? sys.openssl_manager().actor_handle()
                                : sys.middleman().actor_handle();
  ps.prove = make_node_prover(cfg.node_secret);
  ps.make_agent = local.make_agent;
  ps.make_scorer = local.make_scorer;
  auto placement = spawn_placement(sys, std::move(ps));
  if (!cfg.node_listen.empty()) {
    auto port = publish_on(sys, sys.spawn(door, placement), cfg.node_listen,
                           cfg);
    if (!port)
      return caf::make_error(ec::invalid_config,
                             "cannot listen for nodes on " + cfg.node_listen
                               + ": " + render(port.error()));
    spdlog::info("serve accepts nodes on {} ({})", cfg.node_listen,
                 cfg.node_tls() ? "mutual TLS" : "NODE_SECRET");
  }
  spdlog::info("serve places agents and scorers on {} configured node(s)",
               cfg.nodes.size());
  return placement;
}

int run_node(const config& cfg) {
  if (auto err = validate_nodes(cfg)) {
    std::fprintf(stderr, "orchestrator: configuration error: %s\n",
                 render(err).c_str());
    return 2;
  }
  if (cfg.node_listen.empty()) {
    std::fprintf(stderr, "orchestrator: configuration error: a node needs "
                         "--listen HOST:PORT (or NODE_LISTEN)\n");
    return 2;
  }
  auto signals = block_stop_signals();
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg, true);
  caf::actor_system sys{sys_cfg};
  auto local = start_hosting(sys, cfg);
  if (!local) {
    std::fprintf(stderr, "orchestrator: configuration error: %s\n",
                 render(local.error()).c_str());
    return 2;
  }
  node_settings ns;
  ns.make_agent = local->make_agent;
  ns.make_scorer = local->make_scorer;
  ns.prove = make_node_prover(cfg.node_secret);
  ns.name = cfg.node_listen;
  auto name = ns.name;
  auto node = spawn_node(sys, ns);
  auto port = publish_on(sys, node, cfg.node_listen, cfg);
  if (!port) {
    std::fprintf(stderr, "orchestrator: cannot listen on %s: %s\n",
                 cfg.node_listen.c_str(), render(port.error()).c_str());
    return 2;
  }
  std::printf("node listening on %s (%s)\n", name.c_str(),
              cfg.node_tls() ? "mutual TLS" : "NODE_SECRET");
  std::fflush(stdout);
  spdlog::info("node {} started ({})", name,
               cfg.node_tls() ? "mutual TLS" : "NODE_SECRET");
  // Announce to NODE_ANNOUNCE now and every few seconds (an orchestrator
  // that restarts hears from its nodes again).
  // NODE_ANNOUNCE was validated with the configuration.
  std::optional<std::pair<std::string, uint16_t>> hp;
  if (!cfg.node_announce.empty())
    if (auto x = parse_host_port(cfg.node_announce, "NODE_ANNOUNCE"))
      hp = std::move(*x);
  int since_announce = 1 << 20;
  int received = 0;
  for (;;) {
    if (hp && ++since_announce >= 5) {
      since_announce = 0;
      auto orch_door
        = cfg.node_tls()
            ? caf::openssl::remote_actor<door_actor>(sys, hp->first,
                                                     hp->second)
            : sys.middleman().remote_actor<door_actor>(hp->first, hp->second);
      if (orch_door)
        caf::anon_send(*orch_door, atom::join_v, node);
      else
        spdlog::debug("node {} cannot announce itself to {}: {}", name,
                      cfg.node_announce, render(orch_door.error()));
    }
    timespec wait{1, 0};
    auto sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      received = sig;
      break;
    }
    // PID 1 of a container without an init: orphans become ours.
    if (::getpid() == 1)
      reap_orphans();
  }
  spdlog::info("node {} stops on {}", name,
               received == SIGTERM ? "SIGTERM" : "SIGINT");
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  std::_Exit(0);
}

} // namespace orch
