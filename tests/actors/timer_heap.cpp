// The memory queue's heap of leases and retries against a std::set of
// (time, item): random inserts (some of items already in, which move),
// erasures (some of items not in) and pops, with many equal times, checking
// after every step that both agree on the earliest time and on each item's
// membership, and that every item knows its place.

#include <map>
#include <random>
#include <set>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/timer_heap.hpp"

namespace {

struct item {
  size_t slot = static_cast<size_t>(-1);
};

using heap = orch::timer_heap<item, &item::slot>;

} // namespace

BOOST_AUTO_TEST_SUITE(timer_heap)

BOOST_AUTO_TEST_CASE(agrees_with_a_set_through_inserts_erasures_and_pops) {
  std::mt19937_64 rng{7};
  std::vector<item> items(300);
  heap h;
  std::set<std::pair<int64_t, item*>> want;
  std::map<item*, int64_t> time_of;
  size_t pops = 0;
  size_t moves = 0;
  for (int step = 0; step < 100000; ++step) {
    auto* x = &items[rng() % items.size()];
    auto op = rng() % 10;
    if (op < 5) {
      auto t = static_cast<int64_t>(rng() % 50);
      if (auto i = time_of.find(x); i != time_of.end()) {
        want.erase({i->second, x});
        ++moves;
      }
      h.insert(t, x);
      want.emplace(t, x);
      time_of[x] = t;
    } else if (op < 8) {
      h.erase(x);
      if (auto i = time_of.find(x); i != time_of.end()) {
        want.erase({i->second, x});
        time_of.erase(i);
      }
    } else if (!want.empty()) {
      auto [t, y] = h.top();
      BOOST_REQUIRE_EQUAL(t, want.begin()->first);
      BOOST_REQUIRE(want.count({t, y}) == 1);
      h.pop();
      want.erase({t, y});
      time_of.erase(y);
      BOOST_REQUIRE(y->slot == heap::npos);
      ++pops;
    }
    BOOST_REQUIRE_EQUAL(h.size(), want.size());
    BOOST_REQUIRE_EQUAL(h.empty(), want.empty());
    if (!want.empty())
      BOOST_REQUIRE_EQUAL(h.top().first, want.begin()->first);
    BOOST_REQUIRE_EQUAL(x->slot != heap::npos, time_of.count(x) == 1);
  }
  // Drained, the heap gives the times in order.
  int64_t last = -1;
  while (!h.empty()) {
    auto [t, y] = h.top();
    BOOST_REQUIRE_GE(t, last);
    last = t;
    h.pop();
    BOOST_REQUIRE(y->slot == heap::npos);
  }
  BOOST_TEST(pops > 10000u);
  BOOST_TEST(moves > 10000u);
}

BOOST_AUTO_TEST_SUITE_END()
