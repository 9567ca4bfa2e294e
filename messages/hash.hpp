#pragma once

// FNV-1a, the one non-cryptographic hash of the project: stable across runs
// and builds (std::hash is not), for deterministic variants and scores.

#include <cstdint>
#include <string_view>

namespace orch {

/// 64-bit FNV-1a of `x`, continuing from `h` (the FNV offset basis by
/// default; another value seeds a different sequence).
inline uint64_t fnv1a(std::string_view x,
                      uint64_t h = 1469598103934665603ull) {
  for (auto c : x) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

} // namespace orch
