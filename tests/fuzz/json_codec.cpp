// The JSON codec of every wire type. The first byte picks the type, the
// rest is the document. Properties: decoding never throws or crashes; what
// decodes encodes, and that encoding decodes again to the same encoding
// (the codec is stable after one round); the msgpack encoding of it decodes
// too.

#include "messages/json_codec.hpp"
#include "messages/msgpack_codec.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace orch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};
  fuzz::with_wire_type(data[0], [&](auto t) {
    using T = typename decltype(t)::type;
    auto x = from_json<T>(text);
    if (!x)
      return;
    auto once = to_json(*x);
    auto y = from_json<T>(once);
    fuzz::require(static_cast<bool>(y), "a JSON encoding decodes", once);
    fuzz::require(to_json(*y) == once, "JSON encoding is stable", once);
    auto packed = to_msgpack(*x);
    auto z = from_msgpack<T>(packed);
    fuzz::require(static_cast<bool>(z), "the msgpack encoding decodes", once);
    fuzz::require(to_json(*z) == once, "msgpack keeps what JSON had",
                  once + "\n" + to_json(*z));
  });
  return 0;
}
