// `orchestrator serve` under faults: nats-server restarted mid-plan, serve
// killed with SIGKILL and started again (Redis queue), two replicas sharing
// the work, SIGTERM mid-plan, and `remote` agents served by the example
// worker, one of which never answers. Agents are `vllm` agents against the
// project's OpenAI-compatible test server with a fixed latency, so that
// plans take long enough to be interrupted.

#include <map>

#include <boost/test/unit_test.hpp>

#include "service_util.hpp"
#include "test_util.hpp"
#include "tests/llm_stub/llm_stub.hpp"

using namespace orch;
using namespace orch::test;
using json = nlohmann::json;
using std::chrono::seconds;

namespace {

struct fault_fixture {
  scratch_dir dir;
  nats_server nats{dir.path};
  nats_link_ptr link = client(nats.url());
  llm_stub_server stub{{}};
  std::string prefix = "faults-" + std::to_string(getpid()) + "-"
                       + std::to_string(now_ms() % 1000000);
  int serves = 0;

  fault_fixture() {
    BOOST_REQUIRE(stub.start());
    stub.set_latency_ms(300);
  }

  child serve(std::vector<std::string> env = {}, bool redis = true) {
    env.push_back("NATS_URL=" + nats.url());
    env.push_back("AGENT_TYPE=vllm");
    env.push_back("VLLM_URL=" + stub.url());
    env.push_back("VLLM_MODEL=stub-model");
    env.push_back("LEASE_SECONDS=2");
    if (redis) {
      env.push_back("REDIS_URL=" + redis_test_url());
      env.push_back("REDIS_PREFIX=" + prefix);
    }
    return start_serve(std::move(env), dir.path + "/serve-"
                                         + std::to_string(++serves) + ".log");
  }

  /// Waits until the stream has at least n events of `subj` for the plan.
  void await_count(const std::string& subj, const std::string& plan, size_t n) {
    for (int i = 0; i < 600; ++i) {
      if (of(stream_events(*link), subj, plan).size() >= n)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    BOOST_FAIL("no " << n << " " << subj << " events for " << plan);
  }
};

plan_tasks chain(int n, const std::string& role = "DEV") {
  plan_tasks out;
  for (int i = 1; i <= n; ++i) {
    std::vector<std::string> deps;
    if (i > 2)
      deps.push_back("T" + std::to_string(i - 2));
    out.emplace_back("T" + std::to_string(i), role, deps);
  }
  return out;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + 1))
    ++n;
  return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(serve_faults)

BOOST_FIXTURE_TEST_CASE(nats_restart_mid_plan_loses_nothing, fault_fixture) {
  auto proc = serve({}, false);
  auto plan = "restart-" + prefix;
  publish(*link, subject::plan_approved_in, plan_payload(plan, chain(6)));
  await_count(subject::task_completed, plan, 1);
  nats.stop();
  std::this_thread::sleep_for(seconds(1));
  nats.start();
  auto evs = await_plan(*link, plan, seconds(120));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), proc.output());
  check_once(evs, plan, 6);
  proc.signal(SIGTERM);
  BOOST_CHECK_EQUAL(proc.wait(seconds(30)), 0);
}

BOOST_FIXTURE_TEST_CASE(serve_killed_and_started_again_completes_each_task_once,
                        fault_fixture) {
  auto first = serve();
  auto plan = "kill-" + prefix;
  publish(*link, subject::plan_approved_in, plan_payload(plan, chain(6)));
  await_count(subject::task_completed, plan, 1);
  first.signal(SIGKILL);
  BOOST_CHECK_EQUAL(first.wait(seconds(10)), 128 + SIGKILL);
  // Killed mid-plan, or what follows proves nothing (and `second` would be
  // stopped while it starts).
  BOOST_REQUIRE_MESSAGE(
    of(stream_events(*link), subject::plan_completed, plan).empty(),
    "the plan completed before serve was killed");
  auto second = serve();
  auto evs = await_plan(*link, plan, seconds(120));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), second.output());
  check_once(evs, plan, 6);
  auto done = of(evs, subject::plan_completed, plan);
  BOOST_CHECK_EQUAL(done[0].payload().value("status", ""), "completed");
  second.signal(SIGTERM);
  BOOST_CHECK_EQUAL(second.wait(seconds(30)), 0);
}

BOOST_FIXTURE_TEST_CASE(two_replicas_share_the_work, fault_fixture) {
  auto a = serve({"MAX_IN_FLIGHT=2", "WORKER_ID=replica-a"});
  auto b = serve({"MAX_IN_FLIGHT=2", "WORKER_ID=replica-b"});
  auto plan = "pair-" + prefix;
  publish(*link, subject::plan_approved_in,
          plan_payload(plan, independent(10)));
  auto evs = await_plan(*link, plan, seconds(120));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), a.output() << b.output());
  check_once(evs, plan, 10);
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  BOOST_CHECK_EQUAL(a.wait(seconds(30)), 0);
  BOOST_CHECK_EQUAL(b.wait(seconds(30)), 0);
  auto by_a = count_of(a.output(), "dispatcher completes task_id=");
  auto by_b = count_of(b.output(), "dispatcher completes task_id=");
  BOOST_TEST_MESSAGE("replica a completed " << by_a << ", b " << by_b);
  BOOST_CHECK_GT(by_a, 0u);
  BOOST_CHECK_GT(by_b, 0u);
  BOOST_CHECK_EQUAL(by_a + by_b, 10u);
}

BOOST_FIXTURE_TEST_CASE(two_replicas_one_killed_mid_plan_lose_nothing,
                        fault_fixture) {
  auto a = serve({"MAX_IN_FLIGHT=2", "WORKER_ID=replica-a"});
  auto b = serve({"MAX_IN_FLIGHT=2", "WORKER_ID=replica-b"});
  auto plan = "kill-one-" + prefix;
  publish(*link, subject::plan_approved_in,
          plan_payload(plan, independent(12)));
  await_count(subject::task_completed, plan, 2);
  a.signal(SIGKILL);
  BOOST_CHECK_EQUAL(a.wait(seconds(10)), 128 + SIGKILL);
  // b takes over: a's unacknowledged messages come back from JetStream,
  // its leases expire (LEASE_SECONDS=2), its outbox is published by b —
  // plan.completed included when a finished the plan's last task and died
  // before publishing it (the plan's marker in the outbox).
  auto evs = await_plan(*link, plan, seconds(150));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), b.output());
  check_once(evs, plan, 12);
  BOOST_CHECK(of(evs, subject::task_failed, plan).empty());
  auto done = of(evs, subject::plan_completed, plan);
  BOOST_REQUIRE_EQUAL(done.size(), 1u);
  BOOST_CHECK_EQUAL(done[0].payload().value("status", ""), "completed");
  BOOST_CHECK_GT(count_of(b.output(), "dispatcher completes task_id="), 0u);
  b.signal(SIGTERM);
  BOOST_CHECK_EQUAL(b.wait(seconds(30)), 0);
}

BOOST_FIXTURE_TEST_CASE(sigterm_mid_plan_exits_zero_and_loses_nothing,
                        fault_fixture) {
  auto first = serve({"DRAIN_TIMEOUT=1"});
  auto plan = "term-" + prefix;
  publish(*link, subject::plan_approved_in, plan_payload(plan, chain(6)));
  await_count(subject::task_dispatched, plan, 1);
  first.signal(SIGTERM);
  BOOST_CHECK_EQUAL(first.wait(seconds(20)), 0);
  BOOST_CHECK_NE(first.output().find("serve stopped"), std::string::npos);
  auto second = serve();
  auto evs = await_plan(*link, plan, seconds(120));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), second.output());
  check_once(evs, plan, 6);
  second.signal(SIGTERM);
  BOOST_CHECK_EQUAL(second.wait(seconds(30)), 0);
}

BOOST_FIXTURE_TEST_CASE(remote_agents_answer_through_a_worker_process,
                        fault_fixture) {
  child worker({"/usr/bin/python3",
                std::string{ORCH_SOURCE_DIR} + "/examples/remote-worker/worker.py",
                "--nats", nats.url(), "--silent", "agent-dev-003"},
               {}, dir.path + "/worker.log");
  auto proc = serve({"AGENT_TYPE=remote", "COUNCILS=DEV:3",
                     "REMOTE_AGENT_TIMEOUT=2"},
                    false);
  auto plan = "remote-" + prefix;
  publish(*link, subject::plan_approved_in, plan_payload(plan, chain(2)));
  auto evs = await_plan(*link, plan, seconds(60));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), proc.output() << worker.output());
  auto completed = of(evs, subject::completed, plan);
  BOOST_REQUIRE_EQUAL(completed.size(), 2u);
  for (auto& ev : completed) {
    auto& results = ev.payload()["results"];
    BOOST_CHECK_EQUAL(results.size(), 2u); // agent-dev-003 never answered
    for (auto& r : results) {
      auto author = r["proposal"].value("author_id", "");
      BOOST_CHECK_NE(author, "agent-dev-003");
      BOOST_CHECK_NE(r["proposal"].value("content", "").find("example-worker"),
                     std::string::npos);
    }
  }
  proc.signal(SIGTERM);
  BOOST_CHECK_EQUAL(proc.wait(seconds(30)), 0);
}

BOOST_AUTO_TEST_SUITE_END()
