// The reserve of 2 MiB blocks the memory queue's pools take from: the
// blocks are zeroed, aligned and distinct; after a take the reserve's
// thread makes blocks ready, never more than it was allowed, and the next
// takes are served from them.

#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/huge_pages.hpp"
#include "actors/page_reserve.hpp"

namespace {

/// Waits (up to 10 s) until `pred` holds; whether it did.
template<class Pred>
bool eventually(Pred pred) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

bool zeroed(const void* p) {
  static const std::vector<unsigned char> zeros(orch::huge_page_size, 0);
  return std::memcmp(p, zeros.data(), orch::huge_page_size) == 0;
}

} // namespace

BOOST_AUTO_TEST_SUITE(page_reserve)

BOOST_AUTO_TEST_CASE(takes_are_served_from_blocks_made_ready_before) {
  orch::page_reserve r{3};
  BOOST_CHECK_EQUAL(r.ready(), 0u); // nothing mapped before the first take
  std::vector<void*> taken;
  taken.push_back(r.take());
  BOOST_CHECK_EQUAL(r.hits(), 0u);
  // One taken: one kept ready.
  BOOST_REQUIRE(eventually([&] { return r.ready() == 1; }));
  taken.push_back(r.take());
  BOOST_CHECK_EQUAL(r.hits(), 1u);
  BOOST_REQUIRE(eventually([&] { return r.ready() == 2; }));
  for (int i = 0; i < 6; ++i) {
    BOOST_REQUIRE(eventually([&] { return r.ready() > 0; }));
    taken.push_back(r.take());
  }
  BOOST_CHECK_EQUAL(r.hits(), 7u);
  // Capped at three, however many were taken.
  BOOST_REQUIRE(eventually([&] { return r.ready() == 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  BOOST_CHECK_EQUAL(r.ready(), 3u);
  std::set<void*> distinct(taken.begin(), taken.end());
  BOOST_CHECK_EQUAL(distinct.size(), taken.size());
  for (auto* b : taken) {
    BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(b) % orch::huge_page_size,
                      0u);
    BOOST_CHECK(zeroed(b));
    std::memset(b, 0xab, orch::huge_page_size); // writable, all of it
    orch::unmap_huge(b, orch::huge_page_size);
  }
}

BOOST_AUTO_TEST_CASE(a_reserve_of_none_maps_on_the_callers_thread) {
  orch::page_reserve r{0};
  auto* b = r.take();
  BOOST_CHECK(zeroed(b));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  BOOST_CHECK_EQUAL(r.ready(), 0u);
  BOOST_CHECK_EQUAL(r.hits(), 0u);
  orch::unmap_huge(b, orch::huge_page_size);
}

BOOST_AUTO_TEST_SUITE_END()
