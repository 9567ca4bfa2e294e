// The pool the memory queue's entries live in: objects over several
// blocks keep their contents and addresses, freed slots are reused before
// new memory is taken, alignment holds, and every object made is destroyed
// exactly once.

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/block_pool.hpp"

namespace {

int alive = 0;

/// 1 KiB, aligned to a cache line, with a string that may own heap memory.
struct alignas(64) thing {
  explicit thing(int v) : value(v), text("value " + std::to_string(v)) {
    ++alive;
    for (auto& b : pad)
      b = static_cast<unsigned char>(v);
  }
  ~thing() {
    --alive;
  }
  int value;
  std::string text;
  unsigned char pad[1024 - 64];
};

using pool = orch::block_pool<thing>;

bool intact(const thing& x, int v) {
  if (x.value != v || x.text != "value " + std::to_string(v))
    return false;
  for (auto b : x.pad)
    if (b != static_cast<unsigned char>(v))
      return false;
  return true;
}

} // namespace

BOOST_AUTO_TEST_SUITE(block_pool)

BOOST_AUTO_TEST_CASE(objects_over_many_blocks_keep_their_contents) {
  {
    pool p;
    std::map<thing*, int> live;
    std::mt19937 rng{11};
    // ~10,000 KiB at the peak: five or six blocks of 2 MiB.
    for (int step = 0; step < 40'000; ++step) {
      if (!live.empty() && (rng() % 3 == 0 || live.size() >= 10'000)) {
        auto i = live.begin();
        std::advance(i, static_cast<long>(rng() % live.size()));
        BOOST_REQUIRE(intact(*i->first, i->second));
        p.destroy(i->first);
        live.erase(i);
      } else {
        auto* x = p.make(step);
        BOOST_REQUIRE_EQUAL(reinterpret_cast<uintptr_t>(x) % alignof(thing),
                            0u);
        BOOST_REQUIRE_MESSAGE(live.emplace(x, step).second,
                              "address handed out twice at step " << step);
      }
    }
    for (auto& [x, v] : live)
      BOOST_REQUIRE(intact(*x, v));
    BOOST_CHECK_EQUAL(alive, static_cast<int>(live.size()));
    auto peak_kib = 10'000 * sizeof(thing) / 1024;
    BOOST_CHECK_GE(p.blocks(), peak_kib / 2048);
    BOOST_CHECK_LE(p.blocks(), peak_kib / 2048 + 2);
    for (auto& [x, v] : live)
      p.destroy(x);
    BOOST_CHECK_EQUAL(alive, 0);
  }
}

BOOST_AUTO_TEST_CASE(freed_slots_are_taken_before_new_memory) {
  pool p;
  std::vector<thing*> xs;
  for (int i = 0; i < 100; ++i)
    xs.push_back(p.make(i));
  BOOST_CHECK_EQUAL(p.blocks(), 1u);
  std::set<thing*> freed{xs.begin(), xs.begin() + 50};
  for (int i = 0; i < 50; ++i)
    p.destroy(xs[i]);
  // The next 50 objects land exactly in the 50 freed slots.
  std::set<thing*> reused;
  for (int i = 0; i < 50; ++i)
    reused.insert(p.make(1000 + i));
  BOOST_CHECK(reused == freed);
  BOOST_CHECK_EQUAL(p.blocks(), 1u);
  for (auto* x : reused)
    p.destroy(x);
  for (int i = 50; i < 100; ++i) {
    BOOST_REQUIRE(intact(*xs[i], i));
    p.destroy(xs[i]);
  }
  BOOST_CHECK_EQUAL(alive, 0);
}

BOOST_AUTO_TEST_SUITE_END()
