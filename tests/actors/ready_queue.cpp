// The memory queue's READY order against a std::set of (priority, seq):
// new tasks, tasks ready again after a lease (older seqs, out of order),
// removals (cancelled while READY), and a removed seq pushed again.

#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/ready_queue.hpp"

namespace {

struct task {
  int32_t priority = 0;
  int64_t seq = 0;
};

/// The order the queue promises: higher priority, then lower seq.
using model = std::set<std::pair<int32_t, int64_t>>; // (-priority, seq)

} // namespace

BOOST_AUTO_TEST_SUITE(ready_queue)

BOOST_AUTO_TEST_CASE(pops_in_priority_then_seq_order_like_a_set) {
  for (int priorities : {1, 3, 20}) {
    std::mt19937_64 rng{static_cast<uint64_t>(priorities)};
    std::map<int64_t, task> tasks; // by seq; addresses stay
    orch::ready_queue<task> q;
    model want;
    std::vector<int64_t> leased; // popped, may come back
    int64_t next_seq = 0;
    for (int step = 0; step < 50'000; ++step) {
      auto op = rng() % 10;
      if (op < 4) { // a new task
        auto seq = ++next_seq;
        auto& t = tasks[seq];
        t = task{static_cast<int32_t>(rng() % priorities) - 5, seq};
        q.push(t.priority, t.seq, &t);
        want.emplace(-t.priority, t.seq);
      } else if (op < 6 && !leased.empty()) { // ready again (retry, release)
        auto i = rng() % leased.size();
        auto& t = tasks.at(leased[i]);
        leased.erase(leased.begin() + static_cast<ptrdiff_t>(i));
        q.push(t.priority, t.seq, &t);
        want.emplace(-t.priority, t.seq);
      } else if (op < 7 && !want.empty()) { // removed while READY
        auto it = want.begin();
        std::advance(it, static_cast<ptrdiff_t>(rng() % want.size()));
        q.remove(it->second);
        if (rng() % 2 == 0) // and sometimes made ready again
          leased.push_back(it->second);
        want.erase(it);
      } else { // leased
        auto* got = q.pop();
        if (want.empty()) {
          BOOST_REQUIRE(got == nullptr);
          continue;
        }
        BOOST_REQUIRE(got != nullptr);
        BOOST_REQUIRE_EQUAL(-got->priority, want.begin()->first);
        BOOST_REQUIRE_EQUAL(got->seq, want.begin()->second);
        want.erase(want.begin());
        leased.push_back(got->seq);
      }
      BOOST_REQUIRE_EQUAL(q.size(), want.size());
      BOOST_REQUIRE_EQUAL(q.empty(), want.empty());
    }
    while (!want.empty()) {
      auto* got = q.pop();
      BOOST_REQUIRE(got != nullptr);
      BOOST_REQUIRE_EQUAL(got->seq, want.begin()->second);
      want.erase(want.begin());
    }
    BOOST_CHECK(q.pop() == nullptr);
  }
}

BOOST_AUTO_TEST_CASE(a_removed_item_never_comes_out) {
  task a{0, 1}, b{0, 2}, c{7, 3};
  orch::ready_queue<task> q;
  q.push(0, 1, &a);
  q.push(0, 2, &b);
  q.push(7, 3, &c);
  q.remove(3);
  q.remove(1);
  BOOST_CHECK_EQUAL(q.size(), 1u);
  BOOST_CHECK_EQUAL(q.pop(), &b);
  BOOST_CHECK(q.pop() == nullptr);
  BOOST_CHECK(q.empty());
}

BOOST_AUTO_TEST_SUITE_END()
