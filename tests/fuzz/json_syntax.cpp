// The JSON syntax check the scorer's lint runs on a proposal's JSON blocks
// (text a model wrote) against nlohmann's parser: same verdict on every
// input without a NUL byte or a number too large for a double, false for
// every input with a NUL byte, and never a crash, whatever the nesting.

#include <nlohmann/json.hpp>

#include "messages/json_codec.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  // nlohmann's lexer takes a NUL byte for the end of the input; JSON has
  // no place for one.
  auto want = text.find('\0') == std::string_view::npos
              && nlohmann::json::accept(text.begin(), text.end());
  auto got = orch::is_json(text);
  if (got && !want) {
    // nlohmann also rejects a number beyond a double's range; JSON's
    // grammar has no such limit.
    try {
      auto doc = nlohmann::json::parse(text.begin(), text.end());
      static_cast<void>(doc);
    } catch (const nlohmann::json::out_of_range& ex) {
      if (ex.id == 406)
        return 0;
    } catch (const nlohmann::json::exception&) {
    }
  }
  orch::fuzz::require(got == want,
                      want ? "is_json rejects what nlohmann accepts"
                           : "is_json accepts what nlohmann rejects",
                      text);
  return 0;
}
