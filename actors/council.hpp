#pragma once

#include <vector>

#include "actors/actors.hpp"

namespace orch {

/// Sorts results by score (high first), then checks passed, then author id,
/// and numbers their ranks 1..n.
void rank_results(std::vector<deliberation_result>& xs);

} // namespace orch
