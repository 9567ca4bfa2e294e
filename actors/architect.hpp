#pragma once

#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "actors/actors.hpp"

namespace orch {

/// The rule-based choice: among the top `cons.k` (default 3) results by rank,
/// the best score; ties go to more checks passed, fewer policy violations,
/// then the smaller author id.
caf::expected<selection>
select_rule_based(std::vector<deliberation_result> results,
                  const constraints& cons);

/// Reads "WINNER: <id>" and "RATIONALE: <text>" lines from a model answer;
/// the winner must be one of `candidates`.
caf::expected<std::pair<std::string, std::string>>
parse_architect_answer(const std::string& text,
                       const std::vector<std::string>& candidates);

} // namespace orch
