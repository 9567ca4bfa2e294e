#pragma once

// Small helpers shared by the test suites.

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/test/unit_test.hpp>

#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/messages.hpp"

namespace orch::test {

/// The whole content of the file at `path` ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The rendered error of `x`, or "ok" when it holds a value. Safe to
/// evaluate either way (Boost.Test builds the message of passing checks).
template<class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{"ok"} : render(x.error());
}

/// The answer of `dest` to `xs` (within 5 s) as a `T`; an error fails the
/// test.
template<class T, class Handle, class... Ts>
T must(caf::scoped_actor& self, const Handle& dest, Ts&&... xs) {
  caf::expected<T> out{caf::make_error(ec::internal, "unset")};
  self->request(dest, std::chrono::seconds(5), std::forward<Ts>(xs)...)
    .receive([&](T& x) { out = std::move(x); },
             [&](caf::error& e) { out = std::move(e); });
  if (!out)
    BOOST_FAIL(render(out.error()));
  return std::move(*out);
}

/// The URL of the redis-server of the ctest fixture `redis`, or of
/// REDIS_TEST_URL; fails the test when there is none.
inline std::string redis_test_url() {
  if (auto url = std::getenv("REDIS_TEST_URL"))
    return url;
  if (auto file = std::getenv("ORCH_REDIS_URL_FILE")) {
    std::ifstream in{file};
    std::string url;
    if (std::getline(in, url))
      return url;
  }
  BOOST_FAIL("no redis-server: run through ctest (fixture redis) or set "
             "REDIS_TEST_URL");
  return {};
}

} // namespace orch::test
