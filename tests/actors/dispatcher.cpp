// DISPATCHER: tasks from the memory TASK QUEUE through a real ORCHESTRATOR
// with scripted councils; a recording EVENT SINK checks what it is told.

#include <algorithm>
#include <future>
#include <map>
#include <mutex>

#include <boost/test/unit_test.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "llm_fixture.hpp"
#include "messages/events.hpp"
#include "runtime/supervisor.hpp"

using namespace orch;
using namespace orch::test;
using namespace std::chrono_literals;

namespace {

/// What the recording sink saw, shared with the test thread.
struct record {
  std::mutex mtx;
  std::vector<outbound_event> events;
  std::promise<void> plan_done;
  bool done = false;
};

struct recording_state {
  static inline const char* name = "recording-sink";
  std::shared_ptr<record> rec;
  task_queue_actor queue;
};

event_sink_actor::behavior_type
recording_sink(event_sink_actor::stateful_pointer<recording_state> self,
               std::shared_ptr<record> rec, task_queue_actor queue) {
  self->state.rec = std::move(rec);
  self->state.queue = std::move(queue);
  auto keep = [=](const outbound_event& ev) {
    auto& r = *self->state.rec;
    std::lock_guard<std::mutex> guard{r.mtx};
    r.events.push_back(ev);
    if (ev.subject == subject::plan_completed && !r.done) {
      r.done = true;
      r.plan_done.set_value();
    }
  };
  return {
    [=](atom::publish,
        std::vector<outbound_event>& evs) -> caf::result<int32_t> {
      std::vector<std::string> keys;
      for (auto& ev : evs) {
        keep(ev);
        if (ev.outbox)
          keys.push_back(ev.idempotency_key);
      }
      if (!keys.empty())
        self->request(self->state.queue, 5s, atom::outbox_v, keys)
          .then([](int32_t) {}, [](caf::error&) {});
      return static_cast<int32_t>(evs.size());
    },
    [=](atom::progress, outbound_event& ev) { keep(ev); },
  };
}

struct dispatcher_fixture {
  threaded_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  config conf;
  service svc;
  task_queue_actor queue;
  std::shared_ptr<record> rec = std::make_shared<record>();
  dispatcher_actor dispatcher;
  event_sink_actor sink;

  explicit dispatcher_fixture(std::string progress = "phase") {
    conf.councils = {{"DEV", 3}, {"QA", 2}};
    auto s = start_service(sys, conf);
    BOOST_REQUIRE(s);
    svc = *s;
    task_queue_settings qs;
    qs.max_attempts = 2;
    qs.backoff_base_ms = 10;
    queue = spawn_memory_queue(sys, qs);
    sink = sys.spawn(recording_sink, rec, queue);
    dispatcher_settings ds;
    ds.worker = "test-dispatcher";
    ds.max_in_flight = 4;
    ds.lease_ms = 5000;
    ds.idle_poll_ms = 50;
    ds.progress = std::move(progress);
    dispatcher = spawn_dispatcher(sys, ds, queue, svc.orchestrator, sink);
  }

  ~dispatcher_fixture() {
    self->send_exit(dispatcher, caf::exit_reason::user_shutdown);
    self->send_exit(sink, caf::exit_reason::user_shutdown);
    self->send_exit(queue, caf::exit_reason::user_shutdown);
    stop_service(sys, svc);
  }

  void add(std::vector<task_spec> xs) {
    self->request(queue, 5s, atom::add_v, std::move(xs))
      .receive([](int32_t) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
    self->send(dispatcher, atom::wake_v);
  }

  std::vector<outbound_event> await_plan() {
    auto f = rec->plan_done.get_future();
    BOOST_REQUIRE(f.wait_for(60s) == std::future_status::ready);
    // Let the outbox clean-up of the last events arrive.
    std::this_thread::sleep_for(200ms);
    std::lock_guard<std::mutex> guard{rec->mtx};
    return rec->events;
  }

  std::vector<outbound_event> outbox() {
    std::vector<outbound_event> out;
    self->request(queue, 5s, atom::outbox_v)
      .receive([&](std::vector<outbound_event>& x) { out = x; },
               [](caf::error&) {});
    return out;
  }
};

task_spec task(std::string id, std::string role,
               std::vector<std::string> deps = {}) {
  task_spec t;
  t.plan_id = "plan-d";
  t.story_id = "story-d";
  t.task_id = "plan-d/" + id;
  t.role = std::move(role);
  t.description = "Implement " + id + " with input validation";
  t.constraints.requirements = {"input validation"};
  for (auto& d : deps)
    t.dependencies.push_back("plan-d/" + d);
  trace_context tc;
  tc.correlation_id = "corr-d";
  tc.traceparent = "00-trace";
  stamp_trace(t, tc);
  return t;
}

std::string task_of(const outbound_event& ev) {
  auto p = nlohmann::json::parse(ev.payload);
  return p.value("task_id", "");
}

size_t count(const std::vector<outbound_event>& evs, const std::string& subj) {
  return std::count_if(evs.begin(), evs.end(),
                       [&](auto& e) { return e.subject == subj; });
}

} // namespace

BOOST_AUTO_TEST_SUITE(dispatcher)

BOOST_AUTO_TEST_CASE(runs_a_plan_in_order_and_tells_the_sink_every_step) {
  dispatcher_fixture f;
  f.add({task("a", "DEV"), task("b", "QA", {"a"}), task("c", "DEV", {"a"}),
         task("d", "QA", {"b", "c"})});
  auto evs = f.await_plan();
  BOOST_CHECK_EQUAL(count(evs, subject::task_dispatched), 4u);
  BOOST_CHECK_EQUAL(count(evs, subject::completed), 4u);
  BOOST_CHECK_EQUAL(count(evs, subject::task_completed), 4u);
  BOOST_CHECK_EQUAL(count(evs, subject::plan_completed), 1u);
  // Dependencies first; traces carried; keys deterministic.
  std::map<std::string, size_t> completed_at, dispatched_at;
  std::map<std::string, std::vector<std::string>> statuses;
  for (size_t i = 0; i < evs.size(); ++i) {
    auto& e = evs[i];
    BOOST_CHECK_EQUAL(e.correlation_id, "corr-d");
    BOOST_CHECK_EQUAL(e.traceparent, "00-trace");
    if (e.subject == subject::completed) {
      completed_at[task_of(e)] = i;
      BOOST_CHECK_EQUAL(e.idempotency_key,
                        "deliberation.completed:" + task_of(e));
    }
    if (e.subject == subject::task_dispatched)
      dispatched_at[task_of(e)] = i;
    if (e.subject == subject::progress) {
      auto p = nlohmann::json::parse(e.payload);
      statuses[task_of(e)].push_back(p.value("status", ""));
    }
  }
  BOOST_CHECK_LT(completed_at["plan-d/a"], dispatched_at["plan-d/b"]);
  BOOST_CHECK_LT(completed_at["plan-d/a"], dispatched_at["plan-d/c"]);
  BOOST_CHECK_LT(completed_at["plan-d/b"], dispatched_at["plan-d/d"]);
  BOOST_CHECK_LT(completed_at["plan-d/c"], dispatched_at["plan-d/d"]);
  // Phase granularity: each status once per task, in order.
  BOOST_CHECK_EQUAL(statuses.size(), 4u);
  for (auto& [id, xs] : statuses) {
    auto sorted = xs;
    std::sort(sorted.begin(), sorted.end());
    BOOST_CHECK(std::adjacent_find(sorted.begin(), sorted.end())
                == sorted.end());
    BOOST_CHECK_EQUAL(xs.front(), "generating");
  }
  auto done = nlohmann::json::parse(evs.back().payload);
  BOOST_CHECK_EQUAL(evs.back().subject, subject::plan_completed);
  BOOST_CHECK_EQUAL(done.value("status", ""), "completed");
  // Every outbox event was delivered and dropped.
  BOOST_CHECK(f.outbox().empty());
}

BOOST_AUTO_TEST_CASE(a_task_that_cannot_run_fails_after_its_attempts) {
  dispatcher_fixture f;
  // No council for DATA: every attempt fails; the dependent is blocked.
  f.add({task("x", "DATA"), task("y", "DEV", {"x"})});
  auto evs = f.await_plan();
  BOOST_CHECK_EQUAL(count(evs, subject::failed), 2u); // one per attempt
  BOOST_CHECK_EQUAL(count(evs, subject::task_failed), 1u);
  BOOST_CHECK_EQUAL(count(evs, subject::task_completed), 0u);
  auto done = nlohmann::json::parse(evs.back().payload);
  BOOST_CHECK_EQUAL(done.value("status", ""), "failed");
  BOOST_CHECK_EQUAL(done["counts"].value("FAILED", 0), 1);
  BOOST_CHECK_EQUAL(done["counts"].value("BLOCKED", 0), 1);
  BOOST_CHECK(f.outbox().empty());
}

BOOST_AUTO_TEST_CASE(progress_granularity_step_and_off) {
  size_t step_events = 0;
  {
    dispatcher_fixture f{"step"};
    f.add({task("a", "DEV")});
    step_events = count(f.await_plan(), subject::progress);
  }
  size_t phase_events = 0;
  {
    dispatcher_fixture f{"phase"};
    f.add({task("a", "DEV")});
    phase_events = count(f.await_plan(), subject::progress);
  }
  dispatcher_fixture f{"off"};
  f.add({task("a", "DEV")});
  BOOST_CHECK_EQUAL(count(f.await_plan(), subject::progress), 0u);
  BOOST_CHECK_GT(step_events, phase_events);
  BOOST_CHECK_GE(phase_events, 4u);
}

BOOST_AUTO_TEST_SUITE_END()
