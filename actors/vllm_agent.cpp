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

#include "actors/llm_call.hpp"
#include "actors/prompts.hpp"
#include "messages/json_codec.hpp"
#include "messages/json_scan.hpp"

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
  // With room for an escape every 16 bytes (a prompt's new lines), so
  // that the body is not moved as it grows.
  auto text = system.size() + user.size();
  out.reserve(text + text / 16 + cfg.model.size() + 160);
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

namespace {

/// A count of usage: an unsigned integer up to 2^40, else nothing (0).
int64_t token_count(std::string_view in, size_t& i) {
  auto start = i;
  json_scan::skip_value(in, i);
  auto token = in.substr(start, i - start);
  if (token.empty() || token.size() > 13
      || token.find_first_not_of("0123456789") != std::string_view::npos)
    return 0;
  int64_t n = 0;
  for (char c : token)
    n = n * 10 + (c - '0');
  return n <= (int64_t{1} << 40) ? n : 0;
}

/// Calls `f(key)` for each member of the object at `in[i]` with `i` at
/// its value, which `f` reads or skips; moves `i` past the object.
template <class F>
void each_member(std::string_view in, size_t& i, F f) {
  using namespace json_scan;
  std::string key;
  ++i;
  skip_space(in, i);
  while (i < in.size() && in[i] == '"') {
    read_string(in, i, key);
    skip_space(in, i);
    ++i; // ':'
    skip_space(in, i);
    f(key);
    skip_space(in, i);
    if (i < in.size() && in[i] == ',') {
      ++i;
      skip_space(in, i);
    }
  }
  if (i < in.size())
    ++i; // '}'
}

enum class choice_state { none, not_array, empty, no_content, content };

/// The `choices` value at `in[i]`: whether its first element has a string
/// choices[0].message.content (then in `content`).
choice_state read_choices(std::string_view in, size_t& i, std::string& content) {
  using namespace json_scan;
  if (in[i] != '[') {
    skip_value(in, i);
    return choice_state::not_array;
  }
  ++i;
  skip_space(in, i);
  if (in[i] == ']') {
    ++i;
    return choice_state::empty;
  }
  auto state = choice_state::no_content;
  if (in[i] == '{') {
    // A key that comes twice counts with its last value, as in nlohmann.
    each_member(in, i, [&](const std::string& key) {
      if (key != "message") {
        skip_value(in, i);
        return;
      }
      state = choice_state::no_content;
      if (in[i] != '{') {
        skip_value(in, i);
        return;
      }
      each_member(in, i, [&](const std::string& key) {
        if (key != "content") {
          skip_value(in, i);
        } else if (in[i] == '"') {
          read_string(in, i, content);
          state = choice_state::content;
        } else {
          skip_value(in, i);
          state = choice_state::no_content;
        }
      });
    });
  } else {
    skip_value(in, i);
  }
  // The other choices.
  skip_space(in, i);
  while (i < in.size() && in[i] == ',') {
    ++i;
    skip_space(in, i);
    skip_value(in, i);
    skip_space(in, i);
  }
  if (i < in.size())
    ++i; // ']'
  return state;
}

} // namespace

caf::expected<llm_answer> parse_chat_completion(const std::string& body) {
  // One pass checks the syntax, one more picks the fields: nlohmann built
  // a document of every token, a seventh of the client's CPU per request
  // (perf, llm_concurrency). The fuzz target llm_reply holds the two to
  // the same answers.
  using namespace json_scan;
  std::string_view in = body;
  if (!is_json(in))
    return caf::make_error(
      ec::unavailable, "model reply is not JSON: "
                         + body.substr(0, std::min<size_t>(80, body.size())));
  llm_answer out;
  auto choices = choice_state::none;
  size_t i = 0;
  skip_space(in, i);
  if (in[i] == '{')
    each_member(in, i, [&](const std::string& key) {
      if (key == "choices") {
        choices = read_choices(in, i, out.content);
      } else if (key == "usage") {
        out.usage = llm_usage{};
        if (in[i] != '{') {
          skip_value(in, i);
          return;
        }
        each_member(in, i, [&](const std::string& key) {
          if (key == "prompt_tokens")
            out.usage.prompt_tokens = token_count(in, i);
          else if (key == "completion_tokens")
            out.usage.completion_tokens = token_count(in, i);
          else
            skip_value(in, i);
        });
      } else {
        skip_value(in, i);
      }
    });
  if (choices == choice_state::none || choices == choice_state::not_array
      || choices == choice_state::empty)
    return caf::make_error(ec::unavailable, "model reply has no choices");
  if (choices != choice_state::content)
    return caf::make_error(ec::agent_failed,
                           "model reply has no choices[0].message.content");
  if (is_blank(out.content))
    return caf::make_error(ec::agent_failed, "model reply content is empty");
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
  // ask_model posts to cfg.url as it is: made once here, not per request.
  st.cfg.url = chat_completions_url(st.cfg.url);
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
