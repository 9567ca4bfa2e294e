#pragma once

/// @file
/// What the project's OpenAI-compatible test server (llm_stub.hpp) answers:
/// requests parsed and checked, the deterministic assistant text, and the
/// JSON bodies of completions, the model list and errors. No I/O: the
/// server (llm_stub.cpp) does the HTTP, the timers and the faults.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace orch::test::stub {

/// A parsed chat-completion request, or the reason it is malformed.
struct chat_request {
  std::string error;
  std::string model;
  nlohmann::json temperature;
  std::vector<std::pair<std::string, std::string>> messages; // role, text
};

/// Parses a chat-completion request body; `error` says what is malformed.
chat_request parse_chat(const std::string& body);

/// The deterministic assistant text for a well-formed request: the user
/// message's headline and its "- " lines, the model and the temperature;
/// for an architect's request (its system prompt asks for a winner),
/// "WINNER: <the first candidate's id>".
std::string reply_text(const chat_request& req, const std::string& model);

/// Words in `s` (runs of non-space): the server's token count.
size_t count_words(std::string_view s);

/// A chat.completion body with the assistant's `text` and its usage.
std::string completion_body(uint64_t id, const std::string& model,
                            const std::string& text, size_t prompt_tokens);

/// The /v1/models body: one model.
std::string models_body(const std::string& model);

/// An OpenAI-style error body.
std::string error_body(const std::string& message, const std::string& type);

} // namespace orch::test::stub
