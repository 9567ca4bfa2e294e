#pragma once

// Distribution over CAF nodes: the NODE (in `orchestrator node`), the
// PLACEMENT (in `serve`) and the placed agents and scorers, local stand-ins
// that forward every call to their remote counterpart and move it to
// another node when its node goes down. Only the runtime includes this.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <caf/io/middleman_actor.hpp>

#include "actors/actors.hpp"

namespace orch {

/// Proves knowledge of NODE_SECRET for a message (HMAC, see
/// bridges/node_auth.hpp); empty when TLS alone authenticates.
using node_prover = std::function<std::string(const std::string& message)>;

/// Compares two proofs in time independent of where they differ.
bool same_proof(const std::string& x, const std::string& y);

/// 32 random hex digits for a handshake.
std::string make_nonce();

/// Creates a scorer in this process.
using scorer_factory = std::function<scorer_actor(caf::actor_system&)>;

/// How a NODE hosts.
struct node_settings {
  /// HOST:PORT it listens on (for its answers and logs).
  std::string name;
  agent_factory make_agent;
  scorer_factory make_scorer;
  node_prover prove;
};

/// Spawns the NODE.
node_actor spawn_node(caf::actor_system& sys, node_settings settings);

/// How the PLACEMENT finds and uses nodes.
struct placement_settings {
  /// HOST:PORT of every configured node.
  std::vector<std::string> nodes;
  /// Connects to nodes: the middleman's actor, or the openssl manager's.
  caf::io::middleman_actor connector;
  node_prover prove;
  /// Agents and scorers in this process when no node is up.
  agent_factory make_agent;
  scorer_factory make_scorer;
  /// Limit of connecting and of each handshake step.
  std::chrono::milliseconds connect_timeout{5000};
  /// Reconnect backoff: doubles from min to max.
  std::chrono::milliseconds retry_min{250};
  std::chrono::milliseconds retry_max{5000};
};

/// Spawns the PLACEMENT; it connects to every node at once.
placement_actor spawn_placement(caf::actor_system& sys,
                                placement_settings settings);

/// Spawns a placed agent: it asks `placement` for a home, forwards every
/// call there with `call_timeout` (a task's own per-call limit wins), and
/// when that home goes down asks for another and sends the calls in flight
/// again (at most `max_moves` times per call).
agent_actor spawn_placed_agent(caf::actor_system& sys, agent_spec spec,
                               placement_actor placement,
                               std::chrono::milliseconds call_timeout,
                               int32_t max_moves = 3);

/// Spawns a placed scorer, the same way.
scorer_actor spawn_placed_scorer(caf::actor_system& sys,
                                 placement_actor placement,
                                 std::chrono::milliseconds call_timeout,
                                 int32_t max_moves = 3);

} // namespace orch
