// Chat-completion replies of an OpenAI-compatible endpoint, as the vllm
// agents and the LLM architect parse them (one pass to check the syntax,
// one to pick the fields). Properties: never throws or crashes; a parsed
// answer has non-blank content and non-negative usage; and the answer is
// the one a reading through nlohmann's document gives (the reader the
// project had before, kept here as the reference): the same content and
// counts, or the same error. Not compared: text with a NUL byte or a
// number beyond a double (see json_syntax).

#include <nlohmann/json.hpp>

#include "actors/llm_call.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace orch;

namespace {

caf::expected<llm_answer> reference(const std::string& body) {
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

bool beyond_double(const std::string& body) {
  try {
    auto doc = nlohmann::json::parse(body);
    static_cast<void>(doc);
  } catch (const nlohmann::json::out_of_range& ex) {
    return ex.id == 406;
  } catch (const nlohmann::json::exception&) {
  }
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto answer = parse_chat_completion(body);
  if (answer) {
    fuzz::require(answer->content.find_first_not_of(" \t\r\n")
                    != std::string::npos,
                  "content is not blank", answer->content);
    fuzz::require(answer->usage.prompt_tokens >= 0
                    && answer->usage.completion_tokens >= 0,
                  "usage is not negative");
  }
  if (body.find('\0') != std::string::npos)
    return 0;
  auto want = reference(body);
  if (!want && !answer && render(want.error()) == render(answer.error()))
    return 0;
  if (!want && beyond_double(body))
    return 0;
  fuzz::require(static_cast<bool>(want) == static_cast<bool>(answer),
                want ? "rejects what the reference reads"
                     : "reads what the reference rejects",
                body);
  if (!want) {
    fuzz::require(render(want.error()) == render(answer.error()),
                  "the reference's error", body);
    return 0;
  }
  fuzz::require(want->content == answer->content, "the reference's content",
                body);
  fuzz::require(want->usage.prompt_tokens == answer->usage.prompt_tokens
                  && want->usage.completion_tokens
                       == answer->usage.completion_tokens,
                "the reference's counts", body);
  return 0;
}
