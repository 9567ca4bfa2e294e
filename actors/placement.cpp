// The PLACEMENT: connects to the nodes, proves the secret both ways,
// monitors them, reconnects when one goes down and places agents and
// scorers on the least loaded node that is up.

#include "actors/nodes.hpp"

#include <algorithm>
#include <map>

#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/node_id.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

namespace orch {

namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

struct node_entry {
  std::string name;
  std::string host;
  uint16_t port = 0;
  node_actor handle;
  std::string state = "connecting";
  int32_t epoch = 0;
  int32_t agents = 0;
  int32_t scorers = 0;
  /// Agents placed here by role, to spread a council over nodes.
  std::map<std::string, int32_t> roles;
  /// The placed agents and scorers living here, with their role ("" for a
  /// scorer), to move some when another node joins.
  std::vector<std::pair<caf::actor, std::string>> placed;
  std::string error;
  int64_t since_ms = 0;
  std::chrono::milliseconds backoff{0};
  /// Connection attempt; answers of older attempts are ignored.
  uint64_t attempt = 0;
  bool retry_scheduled = false;

  std::string where() const {
    return name + "#" + std::to_string(epoch);
  }

  int32_t load() const {
    return agents + scorers;
  }
};

struct placement_state {
  static inline const char* name = "placement";
  placement_settings settings;
  std::map<std::string, node_entry> nodes;
  int32_t local_agents = 0;
  int32_t local_scorers = 0;
  std::vector<std::pair<caf::actor, std::string>> local_placed;
  /// Placements waiting for the first connection attempts to end, so that
  /// the agents of start-up land on nodes rather than here.
  std::vector<std::function<void()>> waiting;
  bool starting = true;
};

using placement_ptr = placement_actor::stateful_pointer<placement_state>;

void connect(placement_ptr self, const std::string& name);

/// Runs the waiting placements once no node is on its first attempt.
void settle_start(placement_ptr self, bool force = false) {
  auto& st = self->state;
  if (!st.starting)
    return;
  if (!force)
    for (auto& [name, e] : st.nodes)
      if (e.epoch == 0 && e.state == "connecting")
        return;
  st.starting = false;
  auto xs = std::move(st.waiting);
  st.waiting.clear();
  for (auto& f : xs)
    f();
}

/// Runs `f` now, or after start-up.
void when_started(placement_ptr self, std::function<void()> f) {
  if (self->state.starting)
    self->state.waiting.push_back(std::move(f));
  else
    f();
}

void set_state(node_entry& e, const std::string& state,
               const std::string& why) {
  if (e.state != state)
    e.since_ms = wall_ms();
  e.state = state;
  e.error = why;
}

/// Tries again later: doubling backoff, the longest for a refusal.
void retry(placement_ptr self, node_entry& e) {
  auto& s = self->state.settings;
  // A refused node needs its operator: ask again rarely.
  e.backoff = e.state == "refused"
                ? s.retry_max * 6
                : std::clamp(e.backoff * 2, s.retry_min, s.retry_max);
  if (e.retry_scheduled)
    return;
  e.retry_scheduled = true;
  self->delayed_send(self, e.backoff, atom::tick_v, e.name);
}

void lost(placement_ptr self, node_entry& e, const std::string& state,
          const std::string& why) {
  if (e.state == "up")
    spdlog::warn("placement lost node {}: {}", e.name, why);
  else if (state == "refused" && e.state != "refused")
    spdlog::warn("placement refused node {}: {}", e.name, why);
  else if (e.error != why)
    spdlog::warn("placement cannot reach node {}: {}", e.name, why);
  else
    spdlog::debug("placement cannot reach node {}: {}", e.name, why);
  set_state(e, state, why);
  e.handle = nullptr;
  e.agents = e.scorers = 0;
  e.roles.clear();
  e.placed.clear();
  retry(self, e);
  settle_start(self);
}

/// A node joined: every agent and scorer placed here moves to a node, and
/// nodes above the average give some to the new one. A placed actor moves
/// by asking for a home again (away from its current one); its calls in
/// flight finish where they run.
void rebalance(placement_ptr self, const std::string& joined) {
  auto& st = self->state;
  size_t up = 0;
  size_t total = st.local_placed.size();
  for (auto& [name, e] : st.nodes)
    if (e.state == "up") {
      ++up;
      total += e.placed.size();
    }
  if (up == 0)
    return;
  auto target = total / up;
  auto have = st.nodes[joined].placed.size();
  size_t moved = 0;
  auto ask = [&](const caf::actor& who) {
    caf::anon_send(who, atom::place_v);
    ++moved;
  };
  for (auto& [who, role] : st.local_placed)
    ask(who);
  for (auto& [name, e] : st.nodes) {
    if (name == joined || e.state != "up")
      continue;
    for (size_t i = target; i < e.placed.size() && have + moved < target; ++i)
      ask(e.placed[i].first);
  }
  if (moved > 0)
    spdlog::info("placement moves {} agents and scorers towards node {}",
                 moved, joined);
}

/// Both proofs over both nonces, then the node is up.
void handshake(placement_ptr self, const std::string& name, node_actor node,
               uint64_t attempt) {
  auto timeout = self->state.settings.connect_timeout;
  auto mine = make_nonce();
  auto find = [=]() -> node_entry* {
    auto i = self->state.nodes.find(name);
    if (i == self->state.nodes.end() || i->second.attempt != attempt)
      return nullptr;
    return &i->second;
  };
  self->request(node, timeout, atom::join_v, mine)
    .then(
      [=](std::string& theirs, std::string& proof) {
        auto* e = find();
        if (!e)
          return;
        auto& prove = self->state.settings.prove;
        auto answer = prove ? prove("orch|" + theirs + "|" + mine)
                            : std::string{};
        if (prove && !same_proof(proof, prove("node|" + mine + "|" + theirs))) {
          // Answered all the same, so that the node logs the refusal too.
          self->request(node, timeout, atom::ack_v, answer)
            .then([](node_info&) {}, [](caf::error&) {});
          lost(self, *e, "refused",
               "it did not prove NODE_SECRET (wrong secret)");
          return;
        }
        self->request(node, timeout, atom::ack_v, answer)
          .then(
            [=](node_info&) {
              auto* e = find();
              if (!e)
                return;
              e->handle = node;
              ++e->epoch;
              e->agents = e->scorers = 0;
              e->roles.clear();
              e->backoff = std::chrono::milliseconds{0};
              set_state(*e, "up", "");
              self->monitor(node);
              spdlog::info("placement joined node {} (epoch {})", e->name,
                           e->epoch);
              settle_start(self);
              rebalance(self, name);
            },
            [=](caf::error& err) {
              if (auto* e = find())
                lost(self, *e, code_of(err) == ec::refused ? "refused" : "down",
                     render(err));
            });
      },
      [=](caf::error& err) {
        if (auto* e = find())
          lost(self, *e, code_of(err) == ec::refused ? "refused" : "down",
               render(err));
      });
}

void connect(placement_ptr self, const std::string& name) {
  auto& e = self->state.nodes[name];
  auto attempt = ++e.attempt;
  if (e.state != "refused")
    set_state(e, "connecting", e.error);
  self
    ->request(self->state.settings.connector,
              self->state.settings.connect_timeout, caf::connect_atom::value,
              e.host, e.port)
    .then(
      [=](caf::node_id&, caf::strong_actor_ptr& ptr,
          std::set<std::string>& ifs) {
        auto i = self->state.nodes.find(name);
        if (i == self->state.nodes.end() || i->second.attempt != attempt)
          return;
        if (!ptr) {
          lost(self, i->second, "down", "nothing is published there");
          return;
        }
        if (ifs != self->system().message_types<node_actor>()) {
          lost(self, i->second, "refused",
               "the actor published there is not a NODE (another "
               "version?)");
          return;
        }
        handshake(self, name, caf::actor_cast<node_actor>(ptr), attempt);
      },
      [=](caf::error& err) {
        auto i = self->state.nodes.find(name);
        if (i != self->state.nodes.end() && i->second.attempt == attempt)
          lost(self, i->second, "down", render(err));
      });
}

/// Nodes that are up, best first for a new agent of `role` (fewest of its
/// council there, then least loaded), without the one named `avoid`.
std::vector<std::string> candidates(placement_ptr self,
                                    const std::string& role,
                                    const std::string& avoid) {
  std::vector<const node_entry*> xs;
  for (auto& [name, e] : self->state.nodes)
    if (e.state == "up" && e.handle && name != avoid)
      xs.push_back(&e);
  std::sort(xs.begin(), xs.end(), [&](auto* a, auto* b) {
    auto ra = role.empty() ? a->scorers : a->roles.count(role) ? a->roles.at(role) : 0;
    auto rb = role.empty() ? b->scorers : b->roles.count(role) ? b->roles.at(role) : 0;
    return std::tie(ra, a->agents, a->scorers, a->name)
           < std::tie(rb, b->agents, b->scorers, b->name);
  });
  std::vector<std::string> out;
  for (auto* e : xs)
    out.push_back(e->name);
  return out;
}

/// The name part of "host:port#epoch".
std::string node_of(const std::string& where) {
  return where.substr(0, where.rfind('#'));
}

using agent_promise = caf::typed_response_promise<agent_actor, std::string>;
using scorer_promise = caf::typed_response_promise<scorer_actor, std::string>;

void place_agent(placement_ptr self, agent_promise rp, caf::actor who,
                 agent_spec spec, std::vector<std::string> order,
                 size_t next) {
  auto& st = self->state;
  if (next == order.size()) {
    auto agent = st.settings.make_agent(self->system(), spec);
    if (!agent) {
      rp.deliver(std::move(agent.error()));
      return;
    }
    ++st.local_agents;
    st.local_placed.emplace_back(who, spec.role);
    rp.deliver(std::move(*agent), std::string{"local"});
    return;
  }
  // Counted at once, so that placements in flight spread too.
  auto& e = st.nodes[order[next]];
  auto name = e.name;
  auto epoch = e.epoch;
  ++e.agents;
  ++e.roles[spec.role];
  self->request(e.handle, st.settings.connect_timeout, atom::create_v, spec)
    .then(
      [=](agent_actor& agent) mutable {
        auto& e = self->state.nodes[name];
        if (e.epoch == epoch && e.state == "up")
          e.placed.emplace_back(who, spec.role);
        spdlog::debug("placement placed agent {} on {}", spec.agent_id, name);
        rp.deliver(std::move(agent), name + "#" + std::to_string(epoch));
      },
      [=](caf::error& err) mutable {
        auto& e = self->state.nodes[name];
        if (e.epoch == epoch && e.state == "up") {
          e.agents = std::max(0, e.agents - 1);
          if (auto j = e.roles.find(spec.role);
              j != e.roles.end() && --j->second <= 0)
            e.roles.erase(j);
        }
        spdlog::warn("placement could not place agent {} on {}: {}",
                     spec.agent_id, name, render(err));
        place_agent(self, rp, who, std::move(spec), std::move(order),
                    next + 1);
      });
}

void place_scorer(placement_ptr self, scorer_promise rp, caf::actor who,
                  std::vector<std::string> order, size_t next) {
  auto& st = self->state;
  if (next == order.size()) {
    ++st.local_scorers;
    st.local_placed.emplace_back(who, std::string{});
    rp.deliver(st.settings.make_scorer(self->system()), std::string{"local"});
    return;
  }
  auto& e = st.nodes[order[next]];
  auto name = e.name;
  auto epoch = e.epoch;
  ++e.scorers;
  self
    ->request(e.handle, st.settings.connect_timeout, atom::create_v,
              atom::score_v)
    .then(
      [=](scorer_actor& scorer) mutable {
        auto& e = self->state.nodes[name];
        if (e.epoch == epoch && e.state == "up")
          e.placed.emplace_back(who, std::string{});
        rp.deliver(std::move(scorer), name + "#" + std::to_string(epoch));
      },
      [=](caf::error& err) mutable {
        auto& e = self->state.nodes[name];
        if (e.epoch == epoch && e.state == "up")
          e.scorers = std::max(0, e.scorers - 1);
        spdlog::warn("placement could not place a scorer on {}: {}", name,
                     render(err));
        place_scorer(self, rp, who, std::move(order), next + 1);
      });
}

placement_actor::behavior_type placement(placement_ptr self,
                                         placement_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  for (auto& name : st.settings.nodes) {
    auto& e = st.nodes[name];
    e.name = name;
    auto colon = name.rfind(':');
    e.host = name.substr(0, colon);
    e.port = static_cast<uint16_t>(std::stoi(name.substr(colon + 1)));
    e.since_ms = wall_ms();
    connect(self, name);
  }
  // Start-up waits at most for one connection attempt and handshake.
  self->delayed_send(self, st.settings.connect_timeout * 3, atom::tick_v,
                     std::string{});
  settle_start(self);
  self->set_down_handler([=](caf::down_msg& msg) {
    for (auto& [name, e] : self->state.nodes)
      if (e.handle && e.handle.address() == msg.source) {
        ++e.attempt;
        lost(self, e, "down", "connection lost: " + render(msg.reason));
        return;
      }
  });
  return {
    [=](atom::place, agent_spec& spec, std::string& avoid)
      -> caf::result<agent_actor, std::string> {
      // Before the promise: making it takes the sender out of the message.
      auto who = caf::actor_cast<caf::actor>(self->current_sender());
      auto rp = self->make_response_promise<agent_actor, std::string>();
      when_started(self, [=]() mutable {
        auto order = candidates(self, spec.role, node_of(avoid));
        place_agent(self, rp, who, std::move(spec), std::move(order), 0);
      });
      return rp;
    },
    [=](atom::place, atom::score, std::string& avoid)
      -> caf::result<scorer_actor, std::string> {
      // Before the promise: making it takes the sender out of the message.
      auto who = caf::actor_cast<caf::actor>(self->current_sender());
      auto rp = self->make_response_promise<scorer_actor, std::string>();
      when_started(self, [=]() mutable {
        place_scorer(self, rp, who, candidates(self, "", node_of(avoid)), 0);
      });
      return rp;
    },
    [=](atom::remove, std::string& where, std::string& role) {
      auto& st = self->state;
      auto gone = self->current_sender()
                    ? self->current_sender()->address()
                    : caf::actor_addr{};
      auto forget = [&](std::vector<std::pair<caf::actor, std::string>>& xs) {
        xs.erase(std::remove_if(xs.begin(), xs.end(),
                                [&](auto& x) {
                                  return x.first.address() == gone;
                                }),
                 xs.end());
      };
      if (where == "local") {
        --(role.empty() ? st.local_scorers : st.local_agents);
        forget(st.local_placed);
        return;
      }
      auto i = st.nodes.find(node_of(where));
      if (i == st.nodes.end() || i->second.where() != where)
        return;
      auto& e = i->second;
      forget(e.placed);
      if (role.empty()) {
        e.scorers = std::max(0, e.scorers - 1);
      } else {
        e.agents = std::max(0, e.agents - 1);
        if (auto j = e.roles.find(role); j != e.roles.end() && --j->second <= 0)
          e.roles.erase(j);
      }
    },
    [=](atom::join, node_actor& node) {
      // A node announced itself; it proves the secret like any other.
      self->request(node, self->state.settings.connect_timeout, atom::status_v)
        .then(
          [=](node_info& info) {
            auto& st = self->state;
            auto& e = st.nodes[info.name];
            if (e.state == "up" && e.handle == node)
              return;
            e.name = info.name;
            auto colon = info.name.rfind(':');
            if (colon == std::string::npos)
              return;
            e.host = info.name.substr(0, colon);
            e.port = static_cast<uint16_t>(
              std::strtoul(info.name.c_str() + colon + 1, nullptr, 10));
            spdlog::info("placement heard from node {}", info.name);
            handshake(self, info.name, node, ++e.attempt);
          },
          [](caf::error& err) {
            spdlog::warn("placement ignored an announcement: {}", render(err));
          });
    },
    [=](atom::tick, std::string& name) {
      if (name.empty()) {
        settle_start(self, true);
        return;
      }
      auto i = self->state.nodes.find(name);
      if (i == self->state.nodes.end())
        return;
      i->second.retry_scheduled = false;
      if (i->second.state != "up")
        connect(self, name);
    },
    [=](atom::list) -> caf::result<std::vector<node_info>> {
      auto& st = self->state;
      std::vector<node_info> out;
      for (auto& [name, e] : st.nodes) {
        node_info x;
        x.name = name;
        x.state = e.state;
        x.agents = e.agents;
        x.scorers = e.scorers;
        x.epoch = e.epoch;
        x.error = e.error;
        x.since_ms = e.since_ms;
        out.push_back(std::move(x));
      }
      node_info local;
      local.name = "local";
      local.state = "up";
      local.agents = st.local_agents;
      local.scorers = st.local_scorers;
      out.push_back(std::move(local));
      return out;
    },
  };
}

} // namespace

placement_actor spawn_placement(caf::actor_system& sys,
                                placement_settings settings) {
  return sys.spawn(placement, std::move(settings));
}

} // namespace orch
