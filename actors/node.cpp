// The NODE: hosts agents and scorers for the orchestrators that proved the
// secret, and stops an orchestrator's agents when its connection drops.

#include "actors/nodes.hpp"

#include <map>
#include <set>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/node_id.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace orch {

bool same_proof(const std::string& x, const std::string& y) {
  if (x.size() != y.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < x.size(); ++i)
    diff |= static_cast<unsigned char>(x[i] ^ y[i]);
  return diff == 0;
}

std::string make_nonce() {
  static thread_local std::random_device rd;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 8; ++i) {
    auto x = rd();
    for (int j = 0; j < 4; ++j) {
      out += hex[(x >> (j * 8)) & 0xf];
      out += hex[(x >> (j * 8 + 4)) & 0xf];
    }
  }
  return out;
}

namespace {

/// A handshake under way, by the actor that started it.
struct handshake {
  std::string their_nonce;
  std::string my_nonce;
};

struct node_state {
  static inline const char* name = "node";
  node_settings settings;
  /// CAF nodes (orchestrators) that proved the secret.
  std::set<caf::node_id> trusted;
  std::map<caf::actor_addr, handshake> handshakes;
  /// The actors that placed something here (PLACEMENTs), monitored: when
  /// one goes (its process died, its connection dropped), what it placed
  /// goes too.
  std::map<caf::actor_addr, caf::actor> owners;
  /// Hosted agents and scorers: (owner, is_scorer), by address.
  std::map<caf::actor_addr, std::pair<caf::actor_addr, bool>> hosted;
  int32_t agents = 0;
  int32_t scorers = 0;

  node_info info() const {
    node_info x;
    x.name = settings.name;
    x.state = "up";
    x.agents = agents;
    x.scorers = scorers;
    return x;
  }
};

using node_ptr = node_actor::stateful_pointer<node_state>;

/// The CAF node of the sender, or an invalid id for anonymous messages.
caf::node_id sender_node(node_ptr self) {
  auto& src = self->current_sender();
  return src ? src->node() : caf::node_id{};
}

/// Refuses a request from a peer that did not prove the secret.
caf::error untrusted(node_ptr self, const char* what) {
  auto who = sender_node(self);
  spdlog::warn("node {} refused {} from {}: no successful handshake",
               self->state.settings.name, what, caf::to_string(who));
  return caf::make_error(ec::refused,
                         std::string{"node "} + self->state.settings.name
                           + " refuses " + what
                           + " before a successful handshake");
}

bool trusted(node_ptr self) {
  return self->state.trusted.count(sender_node(self)) != 0;
}

template<class Handle>
void host(node_ptr self, const Handle& h, bool scorer) {
  auto& st = self->state;
  auto& src = self->current_sender();
  auto owner = src ? src->address() : caf::actor_addr{};
  if (src && st.owners.count(owner) == 0) {
    auto hdl = caf::actor_cast<caf::actor>(src);
    self->monitor(hdl);
    st.owners.emplace(owner, std::move(hdl));
  }
  st.hosted.emplace(h.address(), std::make_pair(owner, scorer));
  self->monitor(h);
  ++(scorer ? st.scorers : st.agents);
}

node_actor::behavior_type node(node_ptr self, node_settings settings) {
  self->state.settings = std::move(settings);
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    if (auto i = st.hosted.find(msg.source); i != st.hosted.end()) {
      --(i->second.second ? st.scorers : st.agents);
      st.hosted.erase(i);
      return;
    }
    auto i = st.owners.find(msg.source);
    if (i == st.owners.end())
      return;
    size_t n = 0;
    for (auto& [addr, owner] : st.hosted)
      if (owner.first == msg.source)
        if (auto h = caf::actor_cast<caf::actor>(addr)) {
          self->send_exit(h, caf::exit_reason::user_shutdown);
          ++n;
        }
    spdlog::info("node {} lost orchestrator {}: stopping its {} agents "
                 "and scorers",
                 st.settings.name, caf::to_string(msg.source.node()), n);
    st.owners.erase(i);
  });
  return {
    [=](atom::join, std::string& nonce)
      -> caf::result<std::string, std::string> {
      auto& st = self->state;
      auto& src = self->current_sender();
      if (!src || nonce.size() < 16 || nonce.size() > 128)
        return caf::make_error(ec::refused, "malformed handshake");
      // Handshakes started and never finished stay bounded.
      if (st.handshakes.size() > 1024)
        st.handshakes.clear();
      auto& p = st.handshakes[src->address()];
      p.their_nonce = std::move(nonce);
      p.my_nonce = make_nonce();
      auto proof = st.settings.prove ? st.settings.prove("node|" + p.their_nonce
                                                         + "|" + p.my_nonce)
                                     : std::string{};
      return {p.my_nonce, proof};
    },
    [=](atom::ack, std::string& proof) -> caf::result<node_info> {
      auto& st = self->state;
      auto who = sender_node(self);
      auto& src = self->current_sender();
      auto i = src ? st.handshakes.find(src->address()) : st.handshakes.end();
      if (i == st.handshakes.end())
        return caf::make_error(ec::refused, "handshake not started");
      auto p = std::move(i->second);
      st.handshakes.erase(i);
      if (st.settings.prove
          && !same_proof(proof, st.settings.prove("orch|" + p.my_nonce + "|"
                                                  + p.their_nonce))) {
        spdlog::warn("node {} refused orchestrator {}: wrong proof of "
                     "NODE_SECRET",
                     st.settings.name, caf::to_string(who));
        return caf::make_error(ec::refused,
                               "node " + st.settings.name
                                 + " refused the handshake: wrong proof of "
                                   "NODE_SECRET");
      }
      st.trusted.insert(who);
      spdlog::info("node {} accepted orchestrator {}", st.settings.name,
                   caf::to_string(who));
      return st.info();
    },
    [=](atom::create, agent_spec& spec) -> caf::result<agent_actor> {
      if (!trusted(self))
        return untrusted(self, "an agent");
      auto& st = self->state;
      auto agent = st.settings.make_agent(self->system(), spec);
      if (!agent)
        return std::move(agent.error());
      host(self, *agent, false);
      spdlog::debug("node {} hosts agent {}", st.settings.name, spec.agent_id);
      return *agent;
    },
    [=](atom::create, atom::score) -> caf::result<scorer_actor> {
      if (!trusted(self))
        return untrusted(self, "a scorer");
      auto scorer = self->state.settings.make_scorer(self->system());
      host(self, scorer, true);
      return scorer;
    },
    [=](atom::status) -> caf::result<node_info> {
      return self->state.info();
    },
  };
}

} // namespace

node_actor spawn_node(caf::actor_system& sys, node_settings settings) {
  return sys.spawn(node, std::move(settings));
}

} // namespace orch
