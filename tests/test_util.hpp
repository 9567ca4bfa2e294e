#pragma once

// Small helpers shared by the test suites.

#include <string>

#include <caf/expected.hpp>

#include "messages/messages.hpp"

namespace orch::test {

/// The rendered error of `x`, or "ok" when it holds a value. Safe to
/// evaluate either way (Boost.Test builds the message of passing checks).
template<class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{"ok"} : render(x.error());
}

} // namespace orch::test
