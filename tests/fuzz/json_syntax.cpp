// The JSON syntax check the scorer's lint runs on a proposal's JSON blocks
// (text a model wrote) against nlohmann's parser: same verdict on every
// input without a NUL byte, false for every input with one, and never a
// crash, whatever the nesting.

#include <nlohmann/json.hpp>

#include "messages/json_codec.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  // nlohmann's lexer takes a NUL byte for the end of the input; JSON has
  // no place for one.
  auto want = text.find('\0') == std::string_view::npos
              && nlohmann::json::accept(text.begin(), text.end());
  orch::fuzz::require(orch::is_json(text) == want,
                      want ? "is_json rejects what nlohmann accepts"
                           : "is_json accepts what nlohmann rejects",
                      text);
  return 0;
}
