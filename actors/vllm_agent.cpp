// AGENT with the `vllm` backend: prompts per role and phase to any
// OpenAI-compatible chat-completions endpoint, through the LLM client.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <nlohmann/json.hpp>

#include "actors/llm_call.hpp"
#include "actors/prompts.hpp"
#include "messages/json_codec.hpp"

namespace orch {

// -- model calls --------------------------------------------------------------

std::string chat_completions_url(const std::string& base) {
  static constexpr std::string_view full = "/chat/completions";
  std::string url = base;
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  if (url.size() >= full.size()
      && url.compare(url.size() - full.size(), full.size(), full) == 0)
    return url;
  if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v1") == 0)
    return url + std::string{full};
  return url + "/v1" + std::string{full};
}

std::string chat_completion_body(const vllm_settings& cfg,
                                 const std::string& system,
                                 const std::string& user, double temperature) {
  // Written directly: building a JSON document to dump it cost the client
  // more than the rest of the request's own code (perf, llm_concurrency).
  std::string out;
  out.reserve(system.size() + user.size() + cfg.model.size() + 160);
  out += "{\"model\":";
  append_json_string(out, cfg.model);
  out += ",\"messages\":[{\"role\":\"system\",\"content\":";
  append_json_string(out, system);
  out += "},{\"role\":\"user\",\"content\":";
  append_json_string(out, user);
  out += "}],\"temperature\":";
  char num[32];
  // Shortest form that reads back as the same double; JSON has no NaN/inf.
  auto t = std::isfinite(temperature) ? temperature : 0.0;
  auto [end, ec] = std::to_chars(num, num + sizeof(num), t);
  out.append(num, ec == std::errc{} ? end : num);
  out += ",\"max_tokens\":";
  out += std::to_string(cfg.max_tokens);
  out += '}';
  return out;
}

caf::expected<llm_answer> parse_chat_completion(const std::string& body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded())
    return caf::make_error(
      ec::unavailable, "model reply is not JSON: "
                         + body.substr(0, std::min<size_t>(80, body.size())));
  if (!doc.is_object() || !doc.contains("choices") || !doc["choices"].is_array()
      || doc["choices"].empty())
    return caf::make_error(ec::unavailable, "model reply has no choices");
  auto& choice = doc["choices"][0];
  if (!choice.is_object() || !choice.contains("message")
      || !choice["message"].is_object()
      || !choice["message"].contains("content")
      || !choice["message"]["content"].is_string())
    return caf::make_error(ec::agent_failed,
                           "model reply has no choices[0].message.content");
  llm_answer out;
  out.content = choice["message"]["content"].get<std::string>();
  if (is_blank(out.content))
    return caf::make_error(ec::agent_failed, "model reply content is empty");
  if (doc.contains("usage") && doc["usage"].is_object()) {
    // Token counts: non-negative integers that fit, else not counted.
    auto count = [&](const char* k, int64_t& x) {
      auto& u = doc["usage"];
      if (u.contains(k) && u[k].is_number_unsigned()
          && u[k].get<uint64_t>() <= uint64_t{1} << 40)
        x = static_cast<int64_t>(u[k].get<uint64_t>());
    };
    count("prompt_tokens", out.usage.prompt_tokens);
    count("completion_tokens", out.usage.completion_tokens);
  }
  return out;
}

// -- the agent ----------------------------------------------------------------

namespace {

struct vllm_agent_state {
  static inline const char* name = "vllm-agent";
  agent_spec spec;
  vllm_settings cfg;
  llm_client_actor client;
  double temperature = 0.7;
  uint64_t proposals = 0;
};

using vllm_agent_ptr = agent_actor::stateful_pointer<vllm_agent_state>;


agent_actor::behavior_type vllm_agent(vllm_agent_ptr self, agent_spec spec,
                                      vllm_settings cfg,
                                      llm_client_actor client) {
  auto& st = self->state;
  st.spec = std::move(spec);
  st.cfg = std::move(cfg);
  st.client = std::move(client);
  st.temperature = diverse_temperature(st.cfg.temperature, st.spec.index);
  return {
    [=](atom::generate, const task_ref& task) -> caf::result<proposal> {
      auto& st = self->state;
      auto rp = self->make_response_promise<proposal>();
      auto id = st.spec.agent_id + "/" + std::to_string(++st.proposals);
      ask_model(self, st.client, st.cfg, system_prompt(st.spec, *task),
                generate_prompt(*task), st.temperature,
                [=](caf::expected<llm_answer> answer) mutable {
                  if (!answer) {
                    rp.deliver(std::move(answer.error()));
                    return;
                  }
                  auto& st = self->state;
                  proposal p;
                  p.id = id;
                  p.author_id = st.spec.agent_id;
                  p.author_role = st.spec.role;
                  p.content = std::move(answer->content);
                  p.created_at_ms = now_ms();
                  p.usage = answer->usage;
                  rp.deliver(std::move(p));
                });
      return rp;
    },
    [=](atom::critique, const task_ref& task, const proposal_ref& target,
        int32_t round) -> caf::result<critique> {
      auto& st = self->state;
      auto rp = self->make_response_promise<critique>();
      critique base;
      base.critic_id = st.spec.agent_id;
      base.proposal_id = target->id;
      base.target_author_id = target->author_id;
      base.round = round;
      ask_model(self, st.client, st.cfg, system_prompt(st.spec, *task),
                critique_prompt(*task, *target), st.temperature,
                [=](caf::expected<llm_answer> answer) mutable {
                  if (!answer) {
                    rp.deliver(std::move(answer.error()));
                    return;
                  }
                  auto c = base;
                  c.issues = list_items(answer->content);
                  c.content = std::move(answer->content);
                  c.usage = answer->usage;
                  rp.deliver(std::move(c));
                });
      return rp;
    },
    [=](atom::revise, const task_ref& task, proposal_ref& own,
        const std::vector<critique>& feedback) -> caf::result<proposal> {
      auto& st = self->state;
      auto rp = self->make_response_promise<proposal>();
      auto prompt = revise_prompt(*task, *own, feedback);
      // The proposal waits for the answer in the callback, its only holder
      // once the request is gone (moved into the revision, not copied).
      ask_model(self, st.client, st.cfg, system_prompt(st.spec, *task),
                std::move(prompt), st.temperature,
                [=, own = std::move(own)](
                  caf::expected<llm_answer> answer) mutable {
                  if (!answer) {
                    rp.deliver(std::move(answer.error()));
                    return;
                  }
                  auto p = own.take();
                  p.revisions.push_back(std::move(p.content));
                  p.content = std::move(answer->content);
                  p.created_at_ms = now_ms();
                  p.usage = answer->usage;
                  rp.deliver(std::move(p));
                });
      return rp;
    },
    [=](atom::info) -> caf::result<agent_spec> { return self->state.spec; },
  };
}

} // namespace

agent_actor spawn_vllm_agent(caf::actor_system& sys, agent_spec spec,
                             vllm_settings settings, llm_client_actor client) {
  spec.backend = "vllm";
  return sys.spawn(vllm_agent, std::move(spec), std::move(settings),
                   std::move(client));
}

} // namespace orch
