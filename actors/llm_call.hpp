#pragma once

// One chat completion through the LLM client: builds the request body,
// parses `choices[0].message.content` and the usage, and asks again after an
// empty or malformed reply. Shared by `vllm` agents and the `llm` architect.

#include <functional>
#include <memory>
#include <string>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include "actors/actors.hpp"
#include "actors/prompts.hpp"

namespace orch {

/// A parsed model answer.
struct llm_answer {
  std::string content;
  llm_usage usage;
};

/// Extracts the answer from a chat-completions body. A body that is not a
/// chat completion (not JSON, no choices) is the endpoint's fault, an
/// `unavailable` error (the task waits for the endpoint); missing or empty
/// content is the model's, `agent_failed`. Both name the problem.
caf::expected<llm_answer> parse_chat_completion(const std::string& body);

/// A sampling temperature with its JSON text, written once: an agent asks
/// with the same one every time, and formatting a double per request was
/// ~1% of a request's work (callgrind, llm_concurrency). Not finite: 0.
struct sampling_temperature {
  sampling_temperature(double t);
  double value;
  std::string json;
};

/// The parts of a request body around its two messages' texts: up to the
/// system message's text, between it and the user message's, and after.
void chat_body_head(std::string& out, const vllm_settings& cfg);
void chat_body_next(std::string& out);
void chat_body_tail(std::string& out, const vllm_settings& cfg,
                    const sampling_temperature& temperature);

/// The request body for a system and a user message that `system` and
/// `user` write (functions of a prompt_writer) straight into it, escaped as
/// they go: no prompt is built first and escaped after, and the prompts'
/// fixed texts are escaped once. `room`: the prompts' size, about.
template<class System, class User>
std::string chat_completion_body(const vllm_settings& cfg,
                                 const sampling_temperature& temperature,
                                 size_t room, System system, User user) {
  std::string out;
  // With room for an escape every 8 bytes (a prompt's new lines).
  out.reserve(room + room / 8 + cfg.model.size() + 160);
  chat_body_head(out, cfg);
  prompt_writer w{out, true};
  system(w);
  chat_body_next(out);
  user(w);
  chat_body_tail(out, cfg, temperature);
  return out;
}

/// The request body for a system and a user message.
std::string chat_completion_body(const vllm_settings& cfg,
                                 const std::string& system,
                                 const std::string& user,
                                 const sampling_temperature& temperature);

namespace detail {

template<class Self>
void ask_attempt(Self* self, llm_client_actor client, int32_t reasks_left,
                 std::shared_ptr<llm_request> req,
                 std::shared_ptr<llm_usage> usage,
                 std::function<void(caf::expected<llm_answer>)> done) {
  self->request(client, caf::infinite, atom::complete_v, *req)
    .then(
      [=](llm_reply& reply) {
        usage->calls += 1;
        usage->retries += reply.retries;
        usage->latency_ms += reply.latency_ms;
        auto answer = parse_chat_completion(reply.body);
        if (answer) {
          add_usage(*usage, answer->usage);
          answer->usage = *usage;
          done(std::move(answer));
          return;
        }
        if (reasks_left > 0) {
          usage->retries += 1;
          ask_attempt(self, client, reasks_left - 1, req, usage, done);
          return;
        }
        done(std::move(answer.error()));
      },
      [=](caf::error& err) { done(std::move(err)); });
}

} // namespace detail

/// Asks the model from within `self` and calls `done` once with the answer
/// or the final error. Usage counts every attempt, re-asks included.
/// `cfg.url` is the chat-completions URL itself (chat_completions_url,
/// made once by the caller: building it was ~2% of a request's work).
/// `body`: a chat completion request (chat_completion_body).
template<class Self>
void ask_model(Self* self, const llm_client_actor& client,
               const vllm_settings& cfg, std::string body,
               std::function<void(caf::expected<llm_answer>)> done) {
  auto req = std::make_shared<llm_request>();
  req->url = cfg.url;
  req->api_key = cfg.api_key;
  req->timeout_ms = cfg.timeout_ms;
  req->body = std::move(body);
  detail::ask_attempt(self, client, cfg.max_reasks, std::move(req),
                      std::make_shared<llm_usage>(), std::move(done));
}

template<class Self>
void ask_model(Self* self, const llm_client_actor& client,
               const vllm_settings& cfg, const std::string& system,
               const std::string& user,
               const sampling_temperature& temperature,
               std::function<void(caf::expected<llm_answer>)> done) {
  ask_model(self, client, cfg,
            chat_completion_body(cfg, system, user, temperature),
            std::move(done));
}

} // namespace orch
