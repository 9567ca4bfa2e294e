// ARCHITECT, rule-based: the best score among the top k ranked results, with
// a deterministic tie-break and a rationale text.

#include "actors/architect.hpp"

#include <algorithm>
#include <cstdio>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace orch {

namespace {

std::string format_score(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", x);
  return buf;
}

} // namespace

caf::expected<selection>
select_rule_based(std::vector<deliberation_result> results,
                  const constraints& cons) {
  if (results.empty())
    return caf::make_error(ec::invalid_argument,
                           "architect received no results to choose from");
  auto k = static_cast<size_t>(cons.k > 0 ? cons.k : 3);
  // Candidates in rank order; results without ranks keep their given order.
  std::stable_sort(results.begin(), results.end(),
                   [](const deliberation_result& a,
                      const deliberation_result& b) {
                     if (a.rank > 0 && b.rank > 0)
                       return a.rank < b.rank;
                     return a.rank > 0 && b.rank <= 0;
                   });
  auto top = std::min(k, results.size());
  auto better = [](const deliberation_result& a, const deliberation_result& b) {
    if (a.score != b.score)
      return a.score > b.score;
    auto pa = checks_passed(a.checks);
    auto pb = checks_passed(b.checks);
    if (pa != pb)
      return pa > pb;
    auto va = a.checks.policy.violations.size();
    auto vb = b.checks.policy.violations.size();
    if (va != vb)
      return va < vb;
    return a.proposal.author_id < b.proposal.author_id;
  };
  auto best = std::min_element(results.begin(), results.begin() + top, better);
  selection sel;
  sel.mode = "rule";
  sel.winner_id = best->proposal.author_id;
  for (size_t i = 0; i < top; ++i)
    sel.considered.push_back(results[i].proposal.author_id);
  auto& r = sel.rationale;
  r = "Selected ";
  r += best->proposal.author_id;
  r += " with score ";
  r += format_score(best->score);
  r += " and ";
  r += std::to_string(checks_passed(best->checks));
  r += "/";
  r += std::to_string(checks_total(best->checks));
  r += " checks passed, the best among the top ";
  r += std::to_string(top);
  r += " of ";
  r += std::to_string(results.size());
  r += " (";
  for (size_t i = 0; i < top; ++i) {
    if (i > 0)
      r += ", ";
    r += results[i].proposal.author_id;
    r += ' ';
    r += format_score(results[i].score);
  }
  r += ")";
  auto ties = std::count_if(results.begin(), results.begin() + top,
                            [&](const deliberation_result& x) {
                              return x.score == best->score;
                            });
  if (ties > 1)
    r += "; ties broken by checks passed, fewer policy violations, then "
         "author id";
  if (!best->checks.policy.passed)
    r += "; note: its policy check failed";
  r += '.';
  return sel;
}

namespace {

struct architect_state {
  static inline const char* name = "architect";
};

architect_actor::behavior_type
architect(architect_actor::stateful_pointer<architect_state>) {
  return {
    [](atom::select, std::vector<deliberation_result>& results,
       const constraints& cons) -> caf::result<selection> {
      auto sel = select_rule_based(std::move(results), cons);
      if (!sel)
        return std::move(sel.error());
      return std::move(*sel);
    },
  };
}

} // namespace

architect_actor spawn_architect(caf::actor_system& sys) {
  return sys.spawn(architect);
}

} // namespace orch
