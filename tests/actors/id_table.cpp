// The memory queue's table of tasks against a plain map of the same ids:
// random inserts, duplicate inserts and erasures (which shift probe runs
// back), with every entry's address checked to stay where it was made.

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/id_table.hpp"

namespace {

struct item {
  std::string id;
  int value = 0;

  item(std::string i, int v) : id(std::move(i)), value(v) {
  }
};

struct item_id {
  std::string_view operator()(const item& x) const {
    return x.id;
  }
};

using table = orch::id_table<item, item_id>;

/// Adds {id, value} unless the id is there; the entry and whether it is new.
std::pair<item*, bool> add(table& t, std::string id, int value) {
  std::string_view key = id;
  // The key's characters move with the id, as in enqueue.
  return t.try_emplace(key, std::move(id), value);
}

} // namespace

BOOST_AUTO_TEST_SUITE(id_table)

BOOST_AUTO_TEST_CASE(agrees_with_a_map_through_inserts_and_erasures) {
  table t;
  std::map<std::string, item*> want;
  std::mt19937_64 rng{7};
  for (int step = 0; step < 60'000; ++step) {
    auto id = "plan-" + std::to_string(rng() % 50) + "/T"
              + std::to_string(rng() % 4000);
    auto found = want.find(id);
    if (rng() % 3 == 0 && found != want.end()) {
      t.erase(found->second);
      want.erase(found);
    } else {
      auto [at, added] = add(t, id, step);
      BOOST_REQUIRE_EQUAL(added, found == want.end());
      if (added)
        want.emplace(id, at);
      else // a duplicate leaves the first entry where it is
        BOOST_REQUIRE_EQUAL(at, found->second);
      BOOST_REQUIRE_EQUAL(at->id, id);
    }
    BOOST_REQUIRE_EQUAL(t.size(), want.size());
    if (step % 499 == 0)
      for (auto& [k, p] : want)
        BOOST_REQUIRE_MESSAGE(t.find(k) == p, k << " lost at step " << step);
  }
  for (auto& [k, p] : want)
    BOOST_REQUIRE_EQUAL(t.find(k), p);
  for (int i = 0; i < 4000; ++i) {
    auto id = "plan-0/T" + std::to_string(i);
    BOOST_REQUIRE_EQUAL(t.find(id) != nullptr, want.count(id) == 1);
  }
  size_t seen = 0;
  t.for_each([&](const item& x) {
    ++seen;
    BOOST_REQUIRE_EQUAL(want.at(x.id), &x);
  });
  BOOST_CHECK_EQUAL(seen, want.size());
}

BOOST_AUTO_TEST_CASE(empties_and_fills_again) {
  table t;
  BOOST_CHECK(t.find("a") == nullptr);
  std::vector<item*> all;
  for (int i = 0; i < 1000; ++i)
    all.push_back(add(t, "t" + std::to_string(i), i).first);
  for (auto* p : all)
    t.erase(p);
  BOOST_CHECK_EQUAL(t.size(), 0u);
  for (int i = 0; i < 1000; ++i)
    BOOST_REQUIRE(t.find("t" + std::to_string(i)) == nullptr);
  auto [x, added] = add(t, "t5", 5);
  BOOST_CHECK(added);
  BOOST_CHECK_EQUAL(t.find("t5"), x);
  BOOST_CHECK_EQUAL(x->value, 5);
  // A duplicate does not run its fill: the first entry keeps its value.
  auto [y, again] = add(t, "t5", 6);
  BOOST_CHECK(!again);
  BOOST_CHECK_EQUAL(y, x);
  BOOST_CHECK_EQUAL(x->value, 5);
}

BOOST_AUTO_TEST_SUITE_END()
