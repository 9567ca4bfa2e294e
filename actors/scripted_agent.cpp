// AGENT with the `scripted` backend: deterministic, no LLM. Proposals derive
// from the task text, the role, the requirements, the agent's index and its
// diversity seed; critiques name what a proposal lacks against the rubric and
// requirements; revisions incorporate the critiques they receive.

#include "actors/scripted.hpp"
#include "actors/constraints_cache.hpp"
#include "actors/lanes.hpp"
#include "actors/needle_set.hpp"
#include "messages/hash.hpp"
#include "messages/json_codec.hpp"

#include <algorithm>
#include <cctype>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace orch {

namespace {

// Calls `f` with every rubric keyword: words of five letters or more.
template<class F>
void for_each_keyword(std::string_view rubric, F f) {
  size_t i = 0;
  while (i < rubric.size()) {
    while (i < rubric.size()
           && !std::isalpha(static_cast<unsigned char>(rubric[i])))
      ++i;
    auto start = i;
    while (i < rubric.size()
           && std::isalpha(static_cast<unsigned char>(rubric[i])))
      ++i;
    if (i - start >= 5)
      f(rubric.substr(start, i - start));
  }
}

// First line of `x`, at most `max` characters.
std::string_view headline(std::string_view x, size_t max = 72) {
  auto nl = x.find('\n');
  if (nl != std::string_view::npos)
    x = x.substr(0, nl);
  return x.substr(0, std::min(max, x.size()));
}

struct role_playbook {
  const char* focus;
  const char* steps[6];
};

const role_playbook& playbook_for(const std::string& role) {
  static const role_playbook dev{
    "implementation",
    {"Define the interfaces and data model", "Implement the core logic",
     "Handle errors and edge cases explicitly", "Write unit tests first",
     "Refactor for readability", "Document the public API"}};
  static const role_playbook qa{
    "verification",
    {"Derive test cases from the acceptance criteria",
     "Cover boundary values and invalid input", "Automate the regression suite",
     "Add an end-to-end scenario", "Measure coverage and close gaps",
     "Report defects with reproduction steps"}};
  static const role_playbook architect{
    "architecture",
    {"Identify components and their boundaries", "Choose the data flow",
     "Record the decision and its alternatives",
     "Define non-functional requirements", "Plan for failure modes",
     "Review security boundaries"}};
  static const role_playbook devops{
    "delivery",
    {"Containerise the service", "Define the deployment manifests",
     "Add health and readiness probes", "Wire metrics and alerts",
     "Automate the rollout with a rollback path", "Manage secrets safely"}};
  static const role_playbook data{
    "data",
    {"Model the schema", "Write the migration", "Validate data quality",
     "Index for the access patterns", "Plan backfill and retention",
     "Document lineage"}};
  static const role_playbook generic{
    "delivery",
    {"Clarify the scope", "Break the work into steps", "Implement the steps",
     "Verify the result", "Document the outcome", "Hand over"}};
  if (role == "DEV")
    return dev;
  if (role == "QA")
    return qa;
  if (role == "ARCHITECT")
    return architect;
  if (role == "DEVOPS")
    return devops;
  if (role == "DATA")
    return data;
  return generic;
}

/// What a critique looks for in a proposal: the requirements, the rubric
/// keywords, "test" and "risk", as one needle set (one pass over the text).
struct critique_needles {
  needle_set set;
  /// Needle of each requirement; npos for an empty one (always present).
  std::vector<size_t> requirement_ids;
  std::vector<std::string> keywords;
  size_t keyword_base = 0;
  size_t test = 0;
  size_t risk = 0;
};

/// The needles for `c`, made once and kept for the last few constraints
/// seen on this thread (a deliberation's critiques share one task).
const critique_needles& needles_for(const constraints& c) {
  thread_local constraints_cache<critique_needles, 8> cache;
  return cache.get(c, [&] {
    critique_needles n;
    for (auto& req : c.requirements)
      n.requirement_ids.push_back(req.empty() ? needle_set::npos
                                              : n.set.add(req));
    n.keyword_base = n.set.size();
    for_each_keyword(c.rubric, [&](std::string_view word) {
      n.keywords.emplace_back(word);
      n.set.add(word);
    });
    n.test = n.set.add("test");
    n.risk = n.set.add("risk");
    n.set.build();
    return n;
  });
}

const char* approaches[] = {
  "an incremental approach",       "a test-first approach",
  "a minimal-change approach",     "a layered approach",
  "a risk-driven approach",        "a contract-first approach",
  "an observability-led approach", "a performance-aware approach",
};

} // namespace

std::string scripted_generate(const agent_spec& spec, const task_spec& task) {
  auto h = fnv1a(task.description, spec.diversity_seed * 0x9e3779b97f4a7c15ull
                                     + static_cast<uint64_t>(spec.index) + 1);
  const auto& book = playbook_for(task.role);
  auto approach = approaches[(h >> 7) % std::size(approaches)];
  // Each agent covers the requirements its variant reaches: a deterministic
  // subset, so that proposals differ and critiques have something to name.
  std::vector<const std::string*> covered;
  for (auto& req : task.constraints.requirements)
    if ((fnv1a(req, h) % 3) != 0)
      covered.push_back(&req);
  auto first_step = (h >> 13) % 6;
  auto num_steps = 3 + (h >> 17) % 3;
  std::string out;
  out.reserve(512 + task.description.size() * 2);
  out += "# ";
  out += task.role;
  out += " proposal by ";
  out += spec.agent_id;
  out += "\n\nTake ";
  out += approach;
  out += " to ";
  out += book.focus;
  out += " for: ";
  out += headline(task.description, 200);
  out += "\n\n## Plan\n";
  for (size_t i = 0; i < num_steps; ++i) {
    out += std::to_string(i + 1);
    out += ". ";
    out += book.steps[(first_step + i) % 6];
    out += '\n';
  }
  if (!covered.empty()) {
    out += "\n## Requirements\n";
    for (auto* req : covered) {
      out += "- ";
      out += *req;
      out += '\n';
    }
  }
  // Quality goals: the rubric keywords this variant thinks of.
  std::string goals;
  for_each_keyword(task.constraints.rubric, [&](std::string_view word) {
    if (fnv1a(word, h) % 2 == 0) {
      goals += goals.empty() ? "" : ", ";
      goals.append(word.data(), word.size());
    }
  });
  if (!goals.empty()) {
    out += "\n## Quality goals\n";
    out += goals;
    out += '\n';
  }
  if ((h >> 23) % 2 == 0)
    out += "\n## Risks\n- Regressions in adjacent modules; mitigate with "
           "tests.\n";
  out += "\n```json\n{\"task\": ";
  append_json_string(out, task.task_id);
  out += ", \"role\": ";
  append_json_string(out, task.role);
  out += ", \"variant\": ";
  out += std::to_string(h % 1000);
  out += ", \"steps\": ";
  out += std::to_string(num_steps);
  out += "}\n```\n";
  return out;
}

critique scripted_critique(const agent_spec& spec, const task_spec& task,
                           const proposal& target, int32_t round) {
  critique result;
  result.critic_id = spec.agent_id;
  result.proposal_id = target.id;
  result.target_author_id = target.author_id;
  result.round = round;
  auto& needles = needles_for(task.constraints);
  std::vector<size_t> first;
  needles.set.scan(target.content, first);
  auto absent = [&](size_t id) {
    return id != needle_set::npos && first[id] == needle_set::npos;
  };
  auto& requirements = task.constraints.requirements;
  for (size_t k = 0; k < requirements.size(); ++k)
    if (absent(needles.requirement_ids[k]))
      result.issues.push_back("missing requirement: " + requirements[k]);
  for (size_t k = 0; k < needles.keywords.size(); ++k) {
    if (!absent(needles.keyword_base + k))
      continue;
    std::string issue = "rubric not addressed: ";
    issue += to_lower(needles.keywords[k]);
    if (std::find(result.issues.begin(), result.issues.end(), issue)
        == result.issues.end())
      result.issues.push_back(std::move(issue));
  }
  if (absent(needles.test))
    result.issues.emplace_back("no verification step");
  if (absent(needles.risk))
    result.issues.emplace_back("risks not discussed");
  std::string& c = result.content;
  c = "Review by ";
  c += spec.agent_id;
  c += " of ";
  c += target.author_id;
  c += " (round ";
  c += std::to_string(round);
  c += "): ";
  if (result.issues.empty()) {
    c += "no gaps found against the rubric and requirements.";
  } else {
    c += std::to_string(result.issues.size());
    c += " gap(s): ";
    for (size_t j = 0; j < result.issues.size(); ++j) {
      if (j > 0)
        c += "; ";
      c += result.issues[j];
    }
    c += '.';
  }
  return result;
}

proposal scripted_revise(const agent_spec& spec, const task_spec& task,
                         proposal own, const std::vector<critique>& feedback) {
  proposal result = std::move(own);
  result.revisions.push_back(result.content);
  auto& c = result.content;
  c += "\n## Revision ";
  c += std::to_string(result.revisions.size());
  c += '\n';
  // Agents differ in diligence: each round one addresses at most 1 to 3 of
  // the issues it was given, so proposals converge over rounds at different
  // speeds and the checks can tell them apart.
  auto capacity
    = 1 + static_cast<size_t>(fnv1a(spec.agent_id, spec.diversity_seed) % 3);
  size_t addressed = 0;
  for (auto& cr : feedback) {
    for (auto& issue : cr.issues) {
      if (addressed == capacity)
        break;
      ++addressed;
      c += "- Addressed (";
      c += cr.critic_id;
      c += "): ";
      static constexpr std::string_view req_prefix = "missing requirement: ";
      static constexpr std::string_view rubric_prefix
        = "rubric not addressed: ";
      std::string_view iv = issue;
      if (iv.substr(0, req_prefix.size()) == req_prefix) {
        c += "now covers ";
        c += iv.substr(req_prefix.size());
      } else if (iv.substr(0, rubric_prefix.size()) == rubric_prefix) {
        c += "explains how the plan meets ";
        c += iv.substr(rubric_prefix.size());
      } else if (issue == "no verification step") {
        c += "adds a test plan that verifies each step";
      } else if (issue == "risks not discussed") {
        c += "adds a risk list with mitigations";
      } else {
        c += issue;
      }
      c += '\n';
    }
  }
  if (addressed == 0)
    c += "- Tightened wording; reviewers found no gaps.\n";
  result.created_at_ms = now_ms();
  (void) task;
  return result;
}

std::string scripted_style(const agent_spec& spec) {
  auto i = spec.params.find("style");
  return i == spec.params.end() ? std::string{"full"} : i->second;
}

std::string brief_generate(const agent_spec& spec, const task_spec& task) {
  std::string out;
  out.reserve(spec.agent_id.size() + task.task_id.size() + 16);
  out += spec.agent_id;
  out += ": solution for ";
  out += task.task_id;
  return out;
}

critique brief_critique(const agent_spec& spec, const proposal& target,
                        int32_t round) {
  critique result;
  result.critic_id = spec.agent_id;
  result.proposal_id = target.id;
  result.target_author_id = target.author_id;
  result.round = round;
  result.content = spec.agent_id;
  result.content += ": looks right";
  return result;
}

proposal brief_revise(proposal own) {
  proposal result = std::move(own);
  result.revisions.push_back(result.content);
  result.content += " (revised)";
  result.created_at_ms = now_ms();
  return result;
}

namespace {

struct scripted_agent_state {
  static inline const char* name = "scripted-agent";
  agent_spec spec;
  /// Style `brief`: one-line texts, for measuring the engine's own cost.
  bool brief = false;
  /// Numbers the agent's proposals (one copy per engine lane numbers
  /// every count-th, from its index: copies never repeat an id).
  lane_counter proposals;
};

agent_actor::behavior_type
scripted_agent(agent_actor::stateful_pointer<scripted_agent_state> self,
               agent_spec spec, lane in) {
  self->state.brief = scripted_style(spec) == "brief";
  self->state.proposals = lane_counter{in};
  self->state.spec = std::move(spec);
  return {
    // Handlers answer with the value itself: a caf::result<T> made from a
    // T moves it twice on its way into the reply (a proposal is five
    // strings).
    [=](atom::generate, const task_ref& task) -> proposal {
      auto& st = self->state;
      proposal p;
      p.id = st.spec.agent_id;
      p.id += '/';
      p.id += std::to_string(st.proposals.next());
      p.author_id = st.spec.agent_id;
      p.author_role = st.spec.role;
      p.content = st.brief ? brief_generate(st.spec, *task)
                           : scripted_generate(st.spec, *task);
      p.created_at_ms = now_ms();
      return p;
    },
    [=](atom::critique, const task_ref& task, const proposal_ref& target,
        int32_t round) -> critique {
      auto& st = self->state;
      return st.brief ? brief_critique(st.spec, *target, round)
                      : scripted_critique(st.spec, *task, *target, round);
    },
    [=](atom::revise, const task_ref& task, proposal_ref& own,
        const std::vector<critique>& feedback) -> proposal {
      // The deliberation hands its proposal over with the request: moved
      // out when nobody else holds it, copied otherwise.
      auto& st = self->state;
      return st.brief ? brief_revise(own.take())
                      : scripted_revise(st.spec, *task, own.take(), feedback);
    },
    [=](atom::info) -> caf::result<agent_spec> { return self->state.spec; },
  };
}

} // namespace

agent_actor spawn_scripted_agent(caf::actor_system& sys, agent_spec spec,
                                 lane in) {
  spec.backend = "scripted";
  return spawn_in_lane(sys, in, scripted_agent, std::move(spec), in);
}

} // namespace orch
