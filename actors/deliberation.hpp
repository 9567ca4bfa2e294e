#pragma once

// The deliberation worker of a COUNCIL and what a council hands it.

#include <chrono>
#include <string>
#include <vector>

#include <caf/duration.hpp>

#include "actors/actors.hpp"

namespace orch {

/// Sorts results by score (high first), then checks passed, then author id,
/// and numbers their ranks 1..n.
void rank_results(std::vector<deliberation_result>& xs);

/// One agent of a deliberation.
struct deliberation_member {
  std::string agent_id;
  agent_actor handle;
  bool alive = true;
  /// The member's proposal, shared by the requests that carry it.
  proposal_ref current;
  std::vector<critique> feedback;
  check_suite checks;
};

struct deliberation_job {
  /// The council's number of this deliberation.
  uint64_t execution = 0;
  /// Shared by every request of the deliberation.
  task_ref task;
  std::string execution_id;
  progress_listener_actor listener;
  std::vector<deliberation_member> members;
  std::vector<scorer_actor> scorers;
  int32_t quorum = 1;
  int32_t rounds = 1;
  caf::duration call_timeout;
  std::chrono::milliseconds limit{0};
  /// Told when this deliberation ends.
  council_actor council;
};

/// Spawns a deliberation worker pinned to lane `in` (actors/lanes.hpp).
/// It runs the deliberations a council delegates to it, one at a time, and
/// tells `deliberation_job::council` when each ends.
deliberation_actor spawn_deliberation(caf::actor_system& sys, lane in);

} // namespace orch
