// The fixture of the TASK QUEUE contract's tests: a queue of either
// backend (memory; Redis on the test server of the ctest fixture `redis`)
// with a clock the test moves, and helpers that make tasks and read
// answers. Included by tests/actors/task_queue*.cpp.

#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include "bridges/redis_queue.hpp"
#include "messages/events.hpp"
#include "llm_fixture.hpp"

namespace orch::test::queue {

using namespace std::chrono_literals;

struct memory_backend {
  static task_queue_actor make(caf::actor_system& sys, task_queue_settings s) {
    return spawn_memory_queue(sys, std::move(s));
  }
};

template<class Backend>
struct queue_fixture {
  threaded_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::shared_ptr<std::atomic<int64_t>> now
    = std::make_shared<std::atomic<int64_t>>(1'000'000);
  task_queue_actor q;

  /// `adjust` changes the settings before the queue starts (retention).
  explicit queue_fixture(
    const std::function<void(task_queue_settings&)>& adjust = {}) {
    task_queue_settings s;
    s.max_attempts = 3;
    s.backoff_base_ms = 100;
    s.backoff_max_ms = 1000;
    s.sweep_interval_ms = 0;
    auto clock = now;
    s.clock = [clock] { return clock->load(); };
    if (adjust)
      adjust(s);
    q = Backend::make(sys, std::move(s));
  }

  ~queue_fixture() {
    self->send_exit(q, caf::exit_reason::user_shutdown);
  }

  template<class T, class... Ts>
  T must(Ts&&... xs) {
    return test::must<T>(self, q, std::forward<Ts>(xs)...);
  }

  template<class T, class... Ts>
  caf::error must_fail(Ts&&... xs) {
    caf::error err;
    self->request(q, 5s, std::forward<Ts>(xs)...)
      .receive([&](T&) {}, [&](caf::error& e) { err = std::move(e); });
    return err;
  }

  int32_t add(std::vector<task_spec> xs) {
    return must<int32_t>(atom::add_v, std::move(xs));
  }

  std::vector<queued_task> lease(std::string worker, int32_t n = 1,
                                 int32_t ttl = 1000) {
    return must<std::vector<queued_task>>(atom::lease_v, std::move(worker), ttl,
                                          n);
  }

  queued_task status(std::string id) {
    return must<queued_task>(atom::status_v, std::move(id));
  }

  queued_task complete(std::string id, std::string worker) {
    return must<queued_task>(atom::complete_v, std::move(id), std::move(worker),
                             std::string{"{}"});
  }

  /// Completes ids, all leased to `worker`, in one batch without results.
  std::vector<caf::error> complete_all(const std::vector<std::string>& ids,
                                       const std::string& worker) {
    std::vector<task_completion> done(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      done[i].task_id = ids[i];
      done[i].worker = worker;
    }
    return must<std::vector<caf::error>>(atom::complete_v, std::move(done));
  }

  queued_task fail(std::string id, std::string worker) {
    return must<queued_task>(atom::fail_v, std::move(id), std::move(worker),
                             std::string{"boom"});
  }
};

inline task_spec t(std::string id, int32_t priority = 0,
                   std::vector<std::string> deps = {}) {
  task_spec x;
  x.task_id = std::move(id);
  x.role = "DEV";
  x.description = "do " + x.task_id;
  x.priority = priority;
  x.dependencies = std::move(deps);
  return x;
}

/// A task of the plan its id starts with ("p/a" is in plan "p").
inline task_spec planned(std::string id) {
  auto x = t(std::move(id));
  x.plan_id = x.task_id.substr(0, x.task_id.find('/'));
  return x;
}

inline std::vector<std::string> ids(const std::vector<queued_task>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.task.task_id);
  return out;
}

inline std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

/// An outbox event with key `key` (and condition `when`).
inline outbound_event ev(std::string key, std::string when = "") {
  outbound_event e;
  e.subject = "orchestration.test";
  e.idempotency_key = std::move(key);
  e.payload = "{\"k\":1}";
  e.correlation_id = "corr";
  e.traceparent = "00-tp";
  e.when = std::move(when);
  return e;
}

/// The events' keys, sorted.
inline std::vector<std::string> keys_of(const std::vector<outbound_event>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.idempotency_key);
  std::sort(out.begin(), out.end());
  return out;
}

struct redis_backend {
  static task_queue_actor make(caf::actor_system& sys, task_queue_settings s) {
    static int instance = 0;
    redis_queue_settings rs;
    rs.url = test::redis_test_url();
    // A fresh key space per test.
    rs.prefix = "test:" + std::to_string(::getpid()) + ":"
                + std::to_string(++instance);
    rs.queue = std::move(s);
    auto q = spawn_redis_queue(sys, std::move(rs));
    if (!q)
      BOOST_FAIL(render(q.error()));
    await_queue(sys, *q, std::chrono::seconds(5));
    return *q;
  }
};

using backends = boost::mpl::list<memory_backend, redis_backend>;

} // namespace orch::test::queue
