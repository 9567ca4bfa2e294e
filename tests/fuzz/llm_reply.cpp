// Chat-completion replies of an OpenAI-compatible endpoint, as the vllm
// agents and the LLM architect parse them. Properties: never throws or
// crashes; a parsed answer has non-blank content and non-negative usage.

#include "actors/llm_call.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace orch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto answer = parse_chat_completion(body);
  if (!answer)
    return 0;
  fuzz::require(answer->content.find_first_not_of(" \t\r\n")
                  != std::string::npos,
                "content is not blank", answer->content);
  fuzz::require(answer->usage.prompt_tokens >= 0
                  && answer->usage.completion_tokens >= 0,
                "usage is not negative");
  return 0;
}
