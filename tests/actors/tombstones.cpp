// The memory queue's tombstone table against a plain map of the same
// entries: lookups after many more additions than it holds (wrapping the
// ring, deleting from the middle of probe runs), state updates, misses.

#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/tombstones.hpp"


BOOST_AUTO_TEST_SUITE(tombstones)

BOOST_AUTO_TEST_CASE(holds_exactly_the_latest_entries) {
  for (size_t capacity : {1u, 2u, 7u, 100u, 5000u}) {
    orch::tombstones t{capacity};
    std::deque<std::string> order;
    std::vector<std::string> all;
    std::map<std::string, uint8_t> want;
    std::mt19937_64 rng{capacity};
    for (int i = 0; i < 20'000; ++i) {
      auto id = "plan-" + std::to_string(rng() % 1000) + "/T"
                + std::to_string(i);
      auto state = static_cast<uint8_t>(rng() % 4);
      t.add(id, state);
      order.push_back(id);
      all.push_back(id);
      want[id] = state;
      if (order.size() > capacity) {
        want.erase(order.front());
        order.pop_front();
      }
      BOOST_REQUIRE_EQUAL(t.size(), want.size());
      if (i % 97 == 0 || i > 19'900)
        for (auto& [k, v] : want) {
          auto got = t.find(k);
          BOOST_REQUIRE_MESSAGE(got && *got == v,
                                k << " lost at step " << i << ", capacity "
                                  << capacity);
        }
    }
    // Everything that left is gone; what was never added is not there.
    for (auto& id : all)
      if (want.count(id) == 0)
        BOOST_REQUIRE_MESSAGE(!t.find(id), id << " still there");
    for (int i = 0; i < 1000; ++i)
      BOOST_REQUIRE(!t.find("never-" + std::to_string(i)));
  }
}

BOOST_AUTO_TEST_CASE(adding_an_id_again_updates_its_state) {
  orch::tombstones t{3};
  t.add("a", 0);
  t.add("a", 1);
  BOOST_CHECK_EQUAL(t.size(), 1u);
  BOOST_CHECK_EQUAL(*t.find("a"), 1);
  BOOST_CHECK(!t.find("b"));
  orch::tombstones none{0};
  none.add("a", 1);
  BOOST_CHECK(!none.find("a"));
}

BOOST_AUTO_TEST_SUITE_END()
