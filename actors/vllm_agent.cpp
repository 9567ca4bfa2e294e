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

#include "actors/lanes.hpp"
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

sampling_temperature::sampling_temperature(double t)
  : value(std::isfinite(t) ? t : 0.0) {
  // Shortest form that reads back as the same double; JSON has no NaN/inf.
  char num[32];
  auto [end, ec] = std::to_chars(num, num + sizeof(num), value);
  json.assign(num, ec == std::errc{} ? end : num);
}

void chat_body_head(std::string& out, const vllm_settings& cfg) {
  // Written directly: building a JSON document to dump it cost the client
  // more than the rest of the request's own code (perf, llm_concurrency).
  out += "{\"model\":";
  append_json_string(out, cfg.model);
  out += ",\"messages\":[{\"role\":\"system\",\"content\":\"";
}

void chat_body_next(std::string& out) {
  out += "\"},{\"role\":\"user\",\"content\":\"";
}

void chat_body_tail(std::string& out, const vllm_settings& cfg,
                    const sampling_temperature& temperature) {
  out += "\"}],\"temperature\":";
  out += temperature.json;
  out += ",\"max_tokens\":";
  out += std::to_string(cfg.max_tokens);
  out += '}';
}

std::string chat_completion_body(const vllm_settings& cfg,
                                 const std::string& system,
                                 const std::string& user,
                                 const sampling_temperature& temperature) {
  return chat_completion_body(
    cfg, temperature, system.size() + user.size(),
    [&](prompt_writer& w) { w.text(system); },
    [&](prompt_writer& w) { w.text(user); });
}

namespace {

/// Reads a chat completion and checks its syntax in the same pass: any
/// value the reader does not want goes through `check_value`, and each
/// step checks the punctuation it passes. A text is a reply only when the
/// whole of it is JSON, so the answer's errors come after the last byte.
struct reply_reader {
  std::string_view in;
  size_t i = 0;

  bool at(char c) const {
    return i < in.size() && in[i] == c;
  }

  void space() {
    // Mostly there is none: a call only when there may be (or a byte order
    // mark at the start).
    if (i != 0 && i < in.size() && static_cast<unsigned char>(in[i]) > ' ')
      return;
    json_scan::skip_space(in, i);
  }

  bool value() {
    return json_scan::check_value(in, i);
  }

  /// Calls `f(key)` for each member of the object at `in[i]` with `i` at
  /// its value, which `f` reads or checks (false: not JSON); moves `i` past
  /// the object.
  template <class F>
  bool members(F f) {
    ++i;
    space();
    if (at('}')) {
      ++i;
      return true;
    }
    // A key is a view of the reply unless it has escapes.
    std::string buf;
    std::string_view key;
    for (;;) {
      if (!at('"') || !json_scan::read_string_view(in, i, buf, key))
        return false;
      space();
      if (!at(':'))
        return false;
      ++i;
      space();
      if (!f(key))
        return false;
      space();
      if (at(',')) {
        ++i;
        space();
      } else if (at('}')) {
        ++i;
        return true;
      } else {
        return false;
      }
    }
  }

  /// A count of usage: an unsigned integer up to 2^40, else nothing (0).
  bool token_count(int64_t& n) {
    auto start = i;
    if (!value())
      return false;
    auto token = in.substr(start, i - start);
    n = 0;
    if (token.size() > 13
        || token.find_first_not_of("0123456789") != std::string_view::npos)
      return true;
    int64_t x = 0;
    for (char c : token)
      x = x * 10 + (c - '0');
    n = x <= (int64_t{1} << 40) ? x : 0;
    return true;
  }
};

enum class choice_state { none, not_array, empty, no_content, content };

/// The `choices` value at `r.in[r.i]`: whether its first element has a
/// string choices[0].message.content (then in `content`).
bool read_choices(reply_reader& r, choice_state& state, std::string& content) {
  if (!r.at('[')) {
    state = choice_state::not_array;
    return r.value();
  }
  ++r.i;
  r.space();
  if (r.at(']')) {
    ++r.i;
    state = choice_state::empty;
    return true;
  }
  state = choice_state::no_content;
  bool ok = true;
  if (r.at('{')) {
    // A key that comes twice counts with its last value, as in nlohmann.
    ok = r.members([&](std::string_view key) {
      if (key != "message")
        return r.value();
      state = choice_state::no_content;
      if (!r.at('{'))
        return r.value();
      return r.members([&](std::string_view key) {
        if (key != "content")
          return r.value();
        if (!r.at('"')) {
          state = choice_state::no_content;
          return r.value();
        }
        state = choice_state::content;
        return json_scan::read_string(r.in, r.i, content);
      });
    });
  } else {
    ok = r.value();
  }
  if (!ok)
    return false;
  // The other choices.
  for (;;) {
    r.space();
    if (r.at(']')) {
      ++r.i;
      return true;
    }
    if (!r.at(','))
      return false;
    ++r.i;
    r.space();
    if (!r.value())
      return false;
  }
}

} // namespace

caf::expected<llm_answer> parse_chat_completion(const std::string& body) {
  // One pass reads the fields and checks the syntax: nlohmann built a
  // document of every token, a seventh of the client's CPU per request
  // (perf, llm_concurrency), and a syntax check before the reading passed
  // the content twice. The fuzz target llm_reply holds this to nlohmann's
  // answers.
  llm_answer out;
  auto choices = choice_state::none;
  reply_reader r{body};
  r.space();
  bool ok = true;
  if (r.at('{'))
    ok = r.members([&](std::string_view key) {
      if (key == "choices")
        return read_choices(r, choices, out.content);
      if (key != "usage")
        return r.value();
      out.usage = llm_usage{};
      if (!r.at('{'))
        return r.value();
      return r.members([&](std::string_view key) {
        if (key == "prompt_tokens")
          return r.token_count(out.usage.prompt_tokens);
        if (key == "completion_tokens")
          return r.token_count(out.usage.completion_tokens);
        return r.value();
      });
    });
  else
    ok = r.value();
  if (ok) {
    r.space();
    ok = r.i == r.in.size();
  }
  if (!ok)
    return caf::make_error(
      ec::unavailable, "model reply is not JSON: "
                         + body.substr(0, std::min<size_t>(80, body.size())));
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
  sampling_temperature temperature{0.7};
  /// Numbers the agent's proposals (see lane_counter).
  lane_counter proposals;
};

using vllm_agent_ptr = agent_actor::stateful_pointer<vllm_agent_state>;

/// A request body with the agent's system prompt for `task` and the user
/// prompt `user` writes, of about `user_room` bytes.
template<class User>
std::string agent_body(const vllm_agent_state& st, const task_spec& task,
                       size_t user_room, User user) {
  return chat_completion_body(
    st.cfg, st.temperature, system_prompt_room(st.spec, task) + user_room,
    [&](prompt_writer& w) { write_system_prompt(w, st.spec, task); }, user);
}


agent_actor::behavior_type vllm_agent(vllm_agent_ptr self, agent_spec spec,
                                      vllm_settings cfg,
                                      llm_client_actor client, lane in) {
  auto& st = self->state;
  st.proposals = lane_counter{in};
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
      auto id = st.spec.agent_id + "/" + std::to_string(st.proposals.next());
      ask_model(self, st.client, st.cfg,
                agent_body(st, *task, generate_prompt_room(*task),
                           [&](prompt_writer& w) {
                             write_generate_prompt(w, *task);
                           }),
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
      ask_model(self, st.client, st.cfg,
                agent_body(st, *task, critique_prompt_room(*task, *target),
                           [&](prompt_writer& w) {
                             write_critique_prompt(w, *task, *target);
                           }),
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
      auto body = agent_body(st, *task,
                             revise_prompt_room(*task, *own, feedback),
                             [&](prompt_writer& w) {
                               write_revise_prompt(w, *task, *own, feedback);
                             });
      // The proposal waits for the answer in the callback, its only holder
      // once the request is gone (moved into the revision, not copied).
      ask_model(self, st.client, st.cfg, std::move(body),
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
                             vllm_settings settings, llm_client_actor client,
                             lane in) {
  spec.backend = "vllm";
  return spawn_in_lane(sys, in, vllm_agent, std::move(spec),
                       std::move(settings), std::move(client), in);
}

} // namespace orch
