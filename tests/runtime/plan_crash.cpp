// `orchestrator run` against Redis: killed with SIGKILL in the middle of a
// plan, a new process finishes the plan; two processes running the same
// plan at once share it and both see it end. Every task completes once.

#include <cstdlib>
#include <fstream>
#include <map>

#include <boost/test/unit_test.hpp>
#include <unistd.h>

#include "child_process.hpp"
#include "test_util.hpp"
#include "tests/llm_stub/llm_stub.hpp"

using namespace orch;
using namespace std::chrono_literals;

namespace {

/// Counts lines "completed <id>" per task id in progress output.
std::map<std::string, int> completions(const std::string& output) {
  std::map<std::string, int> out;
  size_t pos = 0;
  static const std::string key = " completed ";
  while ((pos = output.find(key, pos)) != std::string::npos) {
    pos += key.size();
    auto end = output.find_first_of(" \n", pos);
    ++out[output.substr(pos, end - pos)];
  }
  return out;
}

/// The environment of `orchestrator run` with vllm agents against `stub` and
/// the Redis queue of the ctest fixture under `prefix`.
std::vector<std::string> run_env(const test::llm_stub_server& stub,
                                 const std::string& prefix) {
  return {"AGENT_TYPE=vllm", "VLLM_URL=" + stub.url(), "VLLM_MODEL=stub-model",
          "REDIS_URL=" + test::redis_test_url(), "REDIS_PREFIX=" + prefix};
}

} // namespace

BOOST_AUTO_TEST_SUITE(plan_crash)

BOOST_AUTO_TEST_CASE(killed_run_resumes_and_completes_each_task_once) {
  // Slow agents: every model call takes 400 ms, so the plan takes seconds.
  test::llm_stub_server stub{{}};
  BOOST_REQUIRE(stub.start());
  stub.set_latency_ms(400);
  auto env = run_env(stub, "crash-" + std::to_string(getpid()));
  std::vector<std::string> argv{
    ORCH_BINARY, "run",
    std::string{ORCH_SOURCE_DIR} + "/examples/login-feature.yaml",
    "--lease-seconds", "2"};
  // First process: SIGKILLed mid-plan, as soon as its first task completed
  // (not at a fixed time: a sanitizer build on a slow machine takes over a
  // second to start).
  test::scratch_dir dir;
  test::child first{argv, env, dir.path + "/first.log"};
  BOOST_REQUIRE(first.running());
  auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (completions(first.output()).empty()
         && std::chrono::steady_clock::now() < limit && first.wait(50ms) == -1)
    ;
  BOOST_REQUIRE_MESSAGE(first.running(), first.output()); // not ended itself
  first.kill_now();
  auto done_first = completions(first.output());
  BOOST_TEST_MESSAGE("first run completed " << done_first.size()
                                            << " tasks before SIGKILL");
  BOOST_CHECK_GT(done_first.size(), 0u);
  BOOST_CHECK_LT(done_first.size(), 9u);
  // Second process: picks up the state in Redis and finishes.
  auto second = test::run_process(argv, env, std::chrono::seconds(120));
  BOOST_REQUIRE_MESSAGE(second.exit_code == 0, second.output);
  BOOST_CHECK_NE(second.output.find("9 of 9 tasks completed"),
                 std::string::npos);
  auto done_second = completions(second.output);
  // Events are delivered at least once: when the SIGKILL fell between the
  // first process printing a completion and the outbox dropping its event,
  // the second process publishes (and prints) that event again at its
  // start. A task completed twice would be one the second process leased
  // and ran again, so it would have been started there.
  auto republished = [&](const std::string& id) {
    return second.output.find("started " + id + " ") == std::string::npos
           && second.output.find("republishes") != std::string::npos;
  };
  // Together, every task completed exactly once: none lost, none twice.
  size_t distinct = done_second.size();
  for (auto& [id, n] : done_first) {
    BOOST_CHECK_EQUAL(n, 1);
    if (done_second.count(id) == 0)
      ++distinct;
    else
      BOOST_CHECK_MESSAGE(republished(id),
                          id << " completed by both processes");
  }
  BOOST_CHECK_EQUAL(distinct, 9u);
  for (auto& [id, n] : done_second)
    BOOST_CHECK_EQUAL(n, 1);
}

BOOST_AUTO_TEST_CASE(two_runs_share_a_plan_and_both_see_it_end) {
  // Each process completes some of the tasks; the one that does not
  // complete the last one learns from the queue that nothing is open.
  test::llm_stub_server stub{{}};
  BOOST_REQUIRE(stub.start());
  stub.set_latency_ms(100);
  auto env = run_env(stub, "shared-" + std::to_string(getpid()));
  std::vector<std::string> argv{
    ORCH_BINARY, "run",
    std::string{ORCH_SOURCE_DIR} + "/examples/login-feature.yaml"};
  test::scratch_dir dir;
  test::child a(argv, env, dir.path + "/a.log");
  test::child b(argv, env, dir.path + "/b.log");
  auto rc_a = a.wait(std::chrono::seconds(60));
  auto rc_b = b.wait(std::chrono::seconds(30));
  BOOST_CHECK_MESSAGE(rc_a == 0, a.output());
  BOOST_CHECK_MESSAGE(rc_b == 0, b.output());
  auto done_a = completions(a.output());
  auto done_b = completions(b.output());
  BOOST_CHECK_EQUAL(done_a.size() + done_b.size(), 9u);
  for (auto& [id, n] : done_a) {
    BOOST_CHECK_EQUAL(n, 1);
    BOOST_CHECK_MESSAGE(done_b.count(id) == 0, id << " completed twice");
  }
  for (auto* out : {&a, &b})
    BOOST_CHECK_NE(out->output().find("9 of 9 tasks completed"),
                   std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
