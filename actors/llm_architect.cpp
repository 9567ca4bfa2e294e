// ARCHITECT in `llm` mode: the model chooses among the top k; a reply that
// does not parse (or names no candidate) falls back to the rule-based choice
// with the reason recorded in the rationale.

#include <algorithm>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/architect.hpp"
#include "actors/llm_call.hpp"
#include "actors/prompts.hpp"

namespace orch {

caf::expected<std::pair<std::string, std::string>>
parse_architect_answer(const std::string& text,
                       const std::vector<std::string>& candidates) {
  auto find_line = [&](const std::string& key) -> std::optional<std::string> {
    size_t pos = 0;
    while (pos < text.size()) {
      auto nl = text.find('\n', pos);
      auto line = text.substr(pos, nl == std::string::npos ? std::string::npos
                                                           : nl - pos);
      pos = nl == std::string::npos ? text.size() : nl + 1;
      auto b = line.find_first_not_of(" \t*#");
      if (b != std::string::npos && line.compare(b, key.size(), key) == 0) {
        auto value = line.substr(b + key.size());
        auto vb = value.find_first_not_of(" \t");
        auto ve = value.find_last_not_of(" \t\r*.");
        if (vb == std::string::npos)
          return std::string{};
        return value.substr(vb, ve - vb + 1);
      }
    }
    return std::nullopt;
  };
  auto winner = find_line("WINNER:");
  if (!winner || winner->empty())
    return caf::make_error(ec::agent_failed,
                           "answer has no line \"WINNER: <id>\"");
  if (std::find(candidates.begin(), candidates.end(), *winner)
      == candidates.end())
    return caf::make_error(ec::agent_failed,
                           "answer names '" + *winner
                             + "', which is not among the candidates");
  auto rationale = find_line("RATIONALE:");
  return std::make_pair(*winner, rationale ? *rationale : std::string{});
}

namespace {

struct llm_architect_state {
  static inline const char* name = "llm-architect";
  vllm_settings cfg;
  llm_client_actor client;
};

architect_actor::behavior_type
llm_architect(architect_actor::stateful_pointer<llm_architect_state> self,
              vllm_settings cfg, llm_client_actor client) {
  self->state.cfg = std::move(cfg);
  // ask_model posts to cfg.url as it is.
  self->state.cfg.url = chat_completions_url(self->state.cfg.url);
  self->state.client = std::move(client);
  return {
    [=](atom::select, std::vector<deliberation_result>& results,
        const constraints& cons) -> caf::result<selection> {
      // The rule-based choice fixes the candidates (top k by rank) and is
      // the fallback.
      auto rule = select_rule_based(results, cons);
      if (!rule)
        return std::move(rule.error());
      std::vector<deliberation_result> top;
      for (auto& r : results)
        if (std::find(rule->considered.begin(), rule->considered.end(),
                      r.proposal.author_id)
            != rule->considered.end())
          top.push_back(r);
      std::sort(top.begin(), top.end(),
                [](auto& a, auto& b) { return a.rank < b.rank; });
      auto rp = self->make_response_promise<selection>();
      auto fallback = *rule;
      auto& st = self->state;
      ask_model(self, st.client, st.cfg, architect_system_prompt(),
                architect_prompt(top, cons), 0.0,
                [=](caf::expected<llm_answer> answer) mutable {
                  auto sel = fallback;
                  auto why = std::string{};
                  if (answer) {
                    auto parsed = parse_architect_answer(answer->content,
                                                         sel.considered);
                    if (parsed) {
                      sel.mode = "llm";
                      sel.winner_id = parsed->first;
                      sel.rationale = parsed->second.empty()
                                        ? "chosen by the model"
                                        : parsed->second;
                      rp.deliver(std::move(sel));
                      return;
                    }
                    why = render(parsed.error());
                  } else {
                    why = render(answer.error());
                  }
                  sel.mode = "rule-fallback";
                  sel.rationale = "LLM architect fell back to rules (" + why
                                  + "). " + sel.rationale;
                  rp.deliver(std::move(sel));
                });
      return rp;
    },
  };
}

} // namespace

architect_actor spawn_llm_architect(caf::actor_system& sys,
                                    vllm_settings settings,
                                    llm_client_actor client) {
  return sys.spawn(llm_architect, std::move(settings), std::move(client));
}

} // namespace orch
