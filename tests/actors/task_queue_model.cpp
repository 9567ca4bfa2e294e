// The two TASK QUEUE backends side by side. Random operations (enqueues
// with dependencies, leases, completions one by one and in batches, with
// outbox events or without, failures, cancels, releases, extensions,
// deliveries of events, time passing) go to a memory queue and a Redis
// queue at once, and every answer, and every task's record, the counts of
// each plan and the outbox between them, must be the same in both. The contract's cases
// (task_queue.cpp) check chosen paths; this walks the paths between them.

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "queue_fixture.hpp"

using namespace orch;
using namespace orch::test;
using namespace orch::test::queue;
using namespace std::chrono_literals;

namespace {

std::string show(int32_t x) {
  return std::to_string(x);
}

std::string show(const queued_task& x) {
  return caf::deep_to_string(x);
}

std::string show(const std::vector<queued_task>& xs) {
  std::string out;
  for (auto& x : xs)
    out += show(x) + '\n';
  return out;
}

std::string show(const caf::error& e) {
  return e ? render(e) : std::string{"ok"};
}

std::string show(const std::vector<caf::error>& xs) {
  std::string out;
  for (auto& x : xs)
    out += show(x) + '\n';
  return out;
}

std::string show(bool x) {
  return x ? "true" : "false";
}

/// Events of the outbox, in the order of their keys (the queue promises
/// none).
std::string show(const std::vector<outbound_event>& xs) {
  std::vector<std::string> each;
  for (auto& x : xs)
    each.push_back(caf::deep_to_string(x));
  std::sort(each.begin(), each.end());
  std::string out;
  for (auto& x : each)
    out += x + '\n';
  return out;
}

std::string show(const std::map<std::string, int64_t>& xs) {
  std::string out;
  for (auto& [k, v] : xs)
    out += k + '=' + std::to_string(v) + ' ';
  return out;
}

/// One backend's answer: as text (a value or the error), and the value.
template<class T>
struct answer {
  std::string text;
  std::optional<T> value;
};

template<class T, class Fixture, class... Ts>
answer<T> ask_one(Fixture& f, const Ts&... xs) {
  answer<T> out;
  f.self->request(f.q, 10s, xs...)
    .receive(
      [&](T& x) {
        out.text = show(x);
        out.value = std::move(x);
      },
      [&](caf::error& e) { out.text = "error: " + render(e); });
  return out;
}

/// Settings both queues of a walk start with.
using adjust_fn = std::function<void(task_queue_settings&)>;

/// A memory queue and a Redis queue with clocks that move together.
struct twin {
  explicit twin(const adjust_fn& adjust) : m{adjust}, r{adjust} {
  }

  queue_fixture<memory_backend> m;
  queue_fixture<redis_backend> r;
  /// Where the walk is, for the message of a difference.
  std::string at;

  void advance(int64_t ms) {
    *m.now += ms;
    *r.now += ms;
  }

  /// Sends the same request to both; checks that they answer the same and
  /// returns the memory queue's value.
  template<class T, class... Ts>
  std::optional<T> ask(const Ts&... xs) {
    auto a = ask_one<T>(m, xs...);
    auto b = ask_one<T>(r, xs...);
    BOOST_TEST_INFO(at);
    BOOST_REQUIRE_EQUAL(a.text, b.text);
    return a.value;
  }
};

std::string id_of(int k) {
  return "k" + std::to_string(k);
}

/// Task k's plan: three plans share the tasks.
std::string plan_of(int k) {
  return "p" + std::to_string(k % 3);
}

/// Events a completion or failure of `id` in `plan` may carry: none, or
/// one always recorded, one only when a failure is final and the plan's
/// marker (recorded when no task of the plan is open after it).
std::vector<outbound_event> events_for(const std::string& id,
                                       const std::string& plan, int step,
                                       int pick) {
  if (pick != 0)
    return {};
  std::vector<outbound_event> out;
  for (auto when : {"", "final"})
    out.push_back(
      ev(std::string{"e-"} + when + id + "-" + std::to_string(step), when));
  task_spec any;
  any.plan_id = plan;
  any.story_id = "s-" + plan;
  out.push_back(plan_done_marker(any));
  return out;
}

/// The plan of a task id "k<n>".
std::string plan_of(const std::string& id) {
  return plan_of(std::stoi(id.substr(1)));
}

/// `steps` random operations on tasks k0..k(universe - 1); every few steps
/// (and at the end) each task's record, the counts and the list are
/// compared as well.
void walk(uint32_t seed, int steps, int universe,
          const adjust_fn& adjust = {}) {
  twin q{adjust};
  std::mt19937 rng{seed};
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::string> workers{"w1", "w2", "w3"};
  // Leases as the answers told them (some ended since: then the calls on
  // them fail, in both).
  std::map<std::string, std::string> leased;
  auto any_leased = [&]() -> std::pair<std::string, std::string> {
    if (leased.empty())
      return {id_of(pick(universe)), workers[pick(3)]};
    auto i = leased.begin();
    std::advance(i, pick(static_cast<int>(leased.size())));
    return *i;
  };
  auto compare_all = [&] {
    for (int k = 0; k < universe; ++k)
      q.ask<queued_task>(atom::status_v, id_of(k));
    q.ask<std::map<std::string, int64_t>>(atom::counts_v);
    q.ask<std::vector<queued_task>>(atom::list_v, std::string{});
    for (int p = 0; p < 3; ++p) {
      q.ask<std::map<std::string, int64_t>>(atom::counts_v, plan_of(p));
      q.ask<bool>(atom::finished_v, plan_of(p));
      q.ask<std::vector<outbound_event>>(atom::outbox_v, plan_of(p));
    }
    auto box = q.ask<std::vector<outbound_event>>(atom::outbox_v);
    // Events delivered now and then leave the outbox.
    if (box && !box->empty() && pick(2) == 0) {
      std::vector<std::string> keys;
      for (auto& e : *box)
        if (pick(2) == 0)
          keys.push_back(e.idempotency_key);
      keys.push_back("no-such-key");
      q.ask<int32_t>(atom::outbox_v, keys);
    }
  };
  for (int step = 0; step < steps; ++step) {
    auto op = pick(12);
    q.at = "seed " + std::to_string(seed) + ", step " + std::to_string(step)
           + ", operation " + std::to_string(op);
    switch (op) {
      case 0:
      case 1: { // enqueue 1-4 tasks; a task depends only on lower numbers
        std::vector<task_spec> xs;
        for (int n = 1 + pick(4); n > 0; --n) {
          auto k = pick(universe);
          std::set<std::string> deps;
          for (int d = k == 0 ? 0 : pick(3); d > 0; --d)
            deps.insert(id_of(pick(k)));
          xs.push_back(t(id_of(k), pick(3), {deps.begin(), deps.end()}));
          xs.back().plan_id = plan_of(k);
        }
        q.ask<int32_t>(atom::add_v, xs);
        break;
      }
      case 2:
      case 3: { // lease
        auto& w = workers[pick(3)];
        auto got = q.ask<std::vector<queued_task>>(
          atom::lease_v, w, static_cast<int32_t>(50 + pick(400)),
          static_cast<int32_t>(1 + pick(3)));
        if (got)
          for (auto& x : *got)
            leased[x.task.task_id] = w;
        break;
      }
      case 4: { // complete one, now and then by a worker that does not hold it
        auto [id, w] = any_leased();
        if (pick(5) == 0)
          w = workers[pick(3)];
        auto evs = events_for(id, plan_of(id), step, pick(3));
        if (evs.empty())
          q.ask<queued_task>(atom::complete_v, id, w, "r-" + id);
        else
          q.ask<queued_task>(atom::complete_v, id, w, "r-" + id, evs);
        leased.erase(id);
        break;
      }
      case 5: { // fail one
        auto [id, w] = any_leased();
        q.ask<queued_task>(atom::fail_v, id, w,
                           "boom " + std::to_string(step),
                           events_for(id, plan_of(id), step, pick(3)));
        leased.erase(id);
        break;
      }
      case 6: { // complete 1-3 in one batch, with one unknown now and then
        std::vector<task_completion> xs;
        for (int n = 1 + pick(3); n > 0; --n) {
          auto [id, w] = any_leased();
          xs.push_back(task_completion{
            id, w, "b-" + id, events_for(id, plan_of(id), step, pick(4))});
          leased.erase(id);
        }
        if (pick(4) == 0)
          xs.push_back(task_completion{"zz", "w1", "", {}});
        q.ask<std::vector<caf::error>>(atom::complete_v, xs);
        break;
      }
      case 7: { // cancel any task
        auto id = id_of(pick(universe));
        q.ask<queued_task>(atom::cancel_v, id);
        leased.erase(id);
        break;
      }
      case 8: { // release one
        auto [id, w] = any_leased();
        q.ask<queued_task>(atom::release_v, id, w);
        leased.erase(id);
        break;
      }
      case 9: { // extend one
        auto [id, w] = any_leased();
        q.ask<queued_task>(atom::extend_v, id, w,
                           static_cast<int32_t>(50 + pick(400)));
        break;
      }
      default: // time passes: leases end, backoffs are over
        q.advance(pick(400));
    }
    if (step % 5 == 4)
      compare_all();
  }
  q.at = "seed " + std::to_string(seed) + ", the end";
  compare_all();
}

} // namespace

BOOST_AUTO_TEST_SUITE(task_queue_model)

// 40 walks of 150 steps over 12 tasks: a small set, so that tasks meet
// every state (a dependency failed, a lease ended, a task cancelled while
// others wait for it). Other walks: WALK_FROM and WALK_TO (the seeds),
// WALK_U (the number of tasks).
BOOST_AUTO_TEST_CASE(both_backends_answer_alike) {
  int from = getenv("WALK_FROM") ? atoi(getenv("WALK_FROM")) : 1;
  int to = getenv("WALK_TO") ? atoi(getenv("WALK_TO")) : 40;
  int u = getenv("WALK_U") ? atoi(getenv("WALK_U")) : 12;
  for (int seed = from; seed <= to; ++seed)
    walk(static_cast<uint32_t>(seed), 150, u);
}

// The same with retention: finished tasks leave both queues past 3 or
// after 600 ms, and only the latest 4 tombstones stay, so that tasks are
// enqueued again after they left, dependencies meet tombstones of both
// kinds (COMPLETED, and not), a plan counts tasks that left while any of
// its own is kept, and a dependency outlives dependents that left.
BOOST_AUTO_TEST_CASE(both_backends_answer_alike_with_retention) {
  int from = getenv("WALK_FROM") ? atoi(getenv("WALK_FROM")) : 1;
  int to = getenv("WALK_TO") ? atoi(getenv("WALK_TO")) : 40;
  int u = getenv("WALK_U") ? atoi(getenv("WALK_U")) : 12;
  for (int seed = from; seed <= to; ++seed)
    walk(static_cast<uint32_t>(seed), 150, u, [](task_queue_settings& s) {
      s.retain_ms = 600;
      s.retain_max = 3;
      s.tombstones_max = 4;
    });
}

BOOST_AUTO_TEST_SUITE_END()
