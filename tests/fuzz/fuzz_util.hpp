#pragma once

// Shared by the libFuzzer targets in tests/fuzz/: a check that aborts (so
// libFuzzer records the input as a crash) and a dispatch over every wire
// type. Each target defines LLVMFuzzerTestOneInput; built with clang and
// -fsanitize=fuzzer by scripts/fuzz.sh, and with the normal build into
// fuzz_replay, which runs the corpus in tests/fuzz/corpus as a regression
// test.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "messages/wire_types.hpp"

namespace orch::fuzz {

/// Aborts with `what` when `ok` is false: a property of the decoder broke.
inline void require(bool ok, const char* what, std::string_view detail = {}) {
  if (ok)
    return;
  std::string text{detail};
  std::fprintf(stderr, "fuzz property violated: %s\n%s\n", what,
               text.c_str());
  std::abort();
}

template<class T>
struct tag {
  using type = T;
};

/// Calls f(tag<T>{}) for the wire type number `k` (modulo their count).
template<class F>
void with_wire_type(uint8_t k, F&& f) {
  int i = 0;
  int want = 0;
#define ORCH_FUZZ_COUNT(type) ++want;
  ORCH_WIRE_TYPES(ORCH_FUZZ_COUNT)
#undef ORCH_FUZZ_COUNT
  want = k % want;
#define ORCH_FUZZ_CASE(type)                                                   \
  if (i++ == want)                                                             \
    f(tag<type>{});
  ORCH_WIRE_TYPES(ORCH_FUZZ_CASE)
#undef ORCH_FUZZ_CASE
}

} // namespace orch::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
