#pragma once

// Engine lanes: each lane has an ORCHESTRATOR of its own with its COUNCILs,
// their deliberation workers, agents and a SCORER, all pinned to one
// scheduler thread (actors/orchestrator_group.cpp), so that the two dozen
// messages of a deliberation never cross cores. Measured on this service's
// 2-core VM, a message between two threads costs 1.41 us of CPU against
// 0.18 us within one (bench/messaging), and one thread ran 100,000+ engine
// deliberations/s where two sharing every actor ran 60,000-67,000.
//
// A pinned actor carries its lane in its CAF flags (bits CAF 0.17 leaves to
// actor types, unused by CAF itself: abstract_actor.hpp takes up to 0x2000,
// abstract_channel.hpp reserves 0xFFF00000). The `affine` scheduler
// (runtime/scheduler.cpp) queues a pinned actor at thread `lane % threads`
// whoever wakes it; a thread with nothing to do may still run it once
// (stealing), and it goes home with its next message. Other policies
// ignore the flags.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/spawn_options.hpp>

#include "actors/actors.hpp"

namespace orch {

namespace detail {

/// The lane plus one, in six flag bits (0: not pinned).
constexpr int lane_shift = 14;
constexpr int lane_bits = 6;

} // namespace detail

/// The lane an actor was pinned to, if any. Read by the scheduler each time
/// it queues the actor: the flags are written once, before the actor first
/// runs, and only read after.
inline std::optional<size_t> pinned_lane(const caf::abstract_actor* a) {
  int plus_one = 0;
  for (int b = 0; b < detail::lane_bits; ++b)
    if (a->getf(1 << (detail::lane_shift + b)))
      plus_one |= 1 << b;
  if (plus_one == 0)
    return std::nullopt;
  return static_cast<size_t>(plus_one - 1);
}

/// Spawns `fun(xs...)` pinned to lane `l` (not pinned when `l.count` is 1).
/// The actor is spawned with `lazy_init`: nothing runs it, and nothing else
/// writes its flags, until its first message, which comes after its lane is
/// set.
template <class F, class... Ts>
auto spawn_in_lane(caf::actor_system& sys, lane l, F fun, Ts&&... xs) {
  if (l.count <= 1)
    return sys.spawn(fun, std::forward<Ts>(xs)...);
  auto hdl = sys.spawn<caf::lazy_init>(fun, std::forward<Ts>(xs)...);
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(hdl);
  auto plus_one = static_cast<int>(l.index % max_lanes) + 1;
  ptr->setf(plus_one << detail::lane_shift);
  return hdl;
}

/// Numbers what the actors of several lanes make alike (an agent's
/// proposals, the ids an ORCHESTRATOR gives tasks): 1, 2, 3, ... without
/// lanes; in lane i of n: i+1, i+1+n, ...: two lanes never repeat a number.
class lane_counter {
public:
  lane_counter() = default;
  explicit lane_counter(lane in) : first_(in.index + 1), step_(in.count) {}

  uint64_t next() {
    return first_ + step_ * made_++;
  }

private:
  uint64_t first_ = 1;
  uint64_t step_ = 1;
  uint64_t made_ = 0;
};

} // namespace orch
