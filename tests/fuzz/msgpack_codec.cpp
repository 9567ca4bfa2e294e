// The msgpack codec of every wire type. The first byte picks the type, the
// rest is the map. Properties: decoding never throws or crashes; what
// decodes encodes, and that encoding decodes again to the same bytes; the
// JSON encoding of what decoded (strings may hold any bytes here) never
// throws and decodes again.

#include "messages/json_codec.hpp"
#include "messages/msgpack_codec.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace orch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto bytes = reinterpret_cast<const char*>(data) + 1;
  fuzz::with_wire_type(data[0], [&](auto t) {
    using T = typename decltype(t)::type;
    auto x = from_msgpack<T>(bytes, size - 1);
    if (!x)
      return;
    auto once = to_msgpack(*x);
    auto y = from_msgpack<T>(once);
    fuzz::require(static_cast<bool>(y), "a msgpack encoding decodes");
    fuzz::require(to_msgpack(*y) == once, "msgpack encoding is stable");
    auto text = to_json(*x);
    fuzz::require(static_cast<bool>(from_json<T>(text)),
                  "the JSON encoding of a msgpack value decodes", text);
  });
  return 0;
}
