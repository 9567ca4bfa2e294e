// The `orchestrator` command line, run as a child process.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "tests/llm_stub/llm_stub.hpp"

using namespace orch;

namespace {

test::process_result orchestrator(std::vector<std::string> args,
                                  std::vector<std::string> env = {}) {
  args.insert(args.begin(), ORCH_BINARY);
  return test::run_process(std::move(args), std::move(env),
                           std::chrono::seconds(60));
}

/// The JSON document in `output` (stderr lines come first).
nlohmann::json json_in(const std::string& output) {
  auto pos = output.find("\n{");
  auto text = output.substr(pos == std::string::npos ? 0 : pos + 1);
  return nlohmann::json::parse(text.substr(0, text.rfind('}') + 1));
}

} // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(deliberate_prints_json_outcome) {
  auto res = orchestrator({"deliberate", "--role", "DEV", "--agents", "3",
                           "--rounds", "1", "--json", "--requirement",
                           "rate limiting", "Add a login endpoint"});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.output);
  auto doc = json_in(res.output);
  BOOST_CHECK(!doc["task_id"].get<std::string>().empty());
  BOOST_CHECK(!doc["execution_id"].get<std::string>().empty());
  BOOST_CHECK(doc["duration_ms"].is_number_integer());
  auto& results = doc["results"];
  BOOST_REQUIRE_EQUAL(results.size(), 3u);
  for (size_t i = 0; i < results.size(); ++i) {
    auto& r = results[i];
    BOOST_CHECK_EQUAL(r["rank"].get<int>(), static_cast<int>(i + 1));
    BOOST_CHECK(r["proposal"]["author_id"].is_string());
    BOOST_CHECK_EQUAL(r["proposal"]["author_role"].get<std::string>(), "DEV");
    BOOST_CHECK(r["proposal"]["content"].is_string());
    BOOST_CHECK_EQUAL(r["proposal"]["revisions"].size(), 1u);
    BOOST_CHECK(r["checks"]["policy"].is_object());
    BOOST_CHECK(r["score"].is_number());
  }
  BOOST_CHECK_EQUAL(doc["winner_id"], results[0]["proposal"]["author_id"]);
  // Progress went to stderr, before the JSON.
  BOOST_CHECK_NE(res.output.find("generating"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(deliberate_prints_a_ranked_table) {
  auto res = orchestrator(
    {"deliberate", "--role", "qa", "--agents", "2", "Test the login endpoint"});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.output);
  BOOST_CHECK_NE(res.output.find("rank  author"), std::string::npos);
  BOOST_CHECK_NE(res.output.find("agent-qa-001"), std::string::npos);
  BOOST_CHECK_NE(res.output.find("agent-qa-002"), std::string::npos);
  BOOST_CHECK_NE(res.output.find("# QA proposal by"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(councils_lists_the_configured_councils) {
  auto res = orchestrator({"councils"}, {"COUNCILS=DEV:2,QA:1"});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.output);
  BOOST_CHECK_NE(res.output.find("council-dev"), std::string::npos);
  BOOST_CHECK_NE(res.output.find("agent-qa-001"), std::string::npos);
  BOOST_CHECK_EQUAL(res.output.find("council-data"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_configuration_stops_with_a_message) {
  auto res = orchestrator({"councils"}, {"COUNCILS=DEV:zero"});
  BOOST_CHECK_EQUAL(res.exit_code, 2);
  BOOST_CHECK_NE(res.output.find("COUNCILS"), std::string::npos);
  res = orchestrator({"councils"}, {"AGENT_TYPE=psychic"});
  BOOST_CHECK_EQUAL(res.exit_code, 2);
  BOOST_CHECK_NE(res.output.find("AGENT_TYPE"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_role_and_blank_task_fail_clearly) {
  auto res = orchestrator({"deliberate", "--role", "QA", "Do it"},
                          {"COUNCILS=DEV:2"});
  BOOST_CHECK_EQUAL(res.exit_code, 1);
  BOOST_CHECK_NE(res.output.find("orch.not_found"), std::string::npos);
  res = orchestrator({"deliberate", "--role", "DEV", "  "});
  BOOST_CHECK_EQUAL(res.exit_code, 2);
  BOOST_CHECK_NE(res.output.find("blank"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(deliberate_with_vllm_agents) {
  orch::test::llm_stub_server stub{{}};
  BOOST_REQUIRE(stub.start());
  auto res = orchestrator({"deliberate", "--role", "DEV", "--agents", "2",
                           "--rounds", "1", "--json", "Add a search box"},
                          {"AGENT_TYPE=vllm", "VLLM_URL=" + stub.url(),
                           "VLLM_MODEL=stub-model"});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.output);
  auto doc = json_in(res.output);
  BOOST_REQUIRE_EQUAL(doc["results"].size(), 2u);
  auto content = doc["results"][0]["proposal"]["content"].get<std::string>();
  BOOST_CHECK_NE(content.find("Response to:"), std::string::npos);
  BOOST_CHECK_EQUAL(doc["usage"]["calls"].get<int>(), 6);
  // generate, critique and revise for each of the two agents.
  BOOST_CHECK_EQUAL(stub.request_count(), 6u);
}

BOOST_AUTO_TEST_CASE(run_executes_a_plan_in_dependency_order) {
  for (auto ext : {"yaml", "md", "json"}) {
    auto out = std::string{"/tmp/orch-cli-run-"} + ext + ".json";
    auto res = orchestrator(
      {"run", std::string{ORCH_SOURCE_DIR} + "/examples/login-feature." + ext,
       "--out", out, "--max-in-flight", "4"});
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.output);
    BOOST_CHECK_NE(res.output.find("9 of 9 tasks completed"),
                   std::string::npos);
    std::ifstream in{out};
    auto doc = nlohmann::json::parse(in);
    BOOST_CHECK_EQUAL(doc["plan_id"], "PLAN-LOGIN-1");
    BOOST_REQUIRE_EQUAL(doc["tasks"].size(), 9u);
    // Every task started only after all of its dependencies completed
    // (progress lines on stderr, in order).
    for (auto& t : doc["tasks"]) {
      BOOST_CHECK_EQUAL(t["state"], "COMPLETED");
      BOOST_CHECK(!t["outcome"]["winner_id"].get<std::string>().empty());
      auto id = t["task_id"].get<std::string>();
      auto started = res.output.find("started " + id + " ");
      BOOST_REQUIRE(started != std::string::npos);
      for (auto& dep : t["dependencies"]) {
        auto done = res.output.find("completed " + dep.get<std::string>());
        BOOST_CHECK_MESSAGE(done < started, id << " started before " << dep);
      }
    }
    std::remove(out.c_str());
  }
}

BOOST_AUTO_TEST_CASE(run_executes_the_second_example_plan) {
  auto res = orchestrator(
    {"run", std::string{ORCH_SOURCE_DIR} + "/examples/orders-pipeline.md"});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.output);
  BOOST_CHECK_NE(res.output.find("7 of 7 tasks completed"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(run_rejects_an_invalid_plan) {
  auto path = std::string{"/tmp/orch-cli-bad-plan.yaml"};
  {
    std::ofstream out{path};
    out << "plan_id: P\ntasks:\n"
           "  - {task_id: A, role: DEV, description: a, dependencies: [B]}\n"
           "  - {task_id: B, role: DEV, description: b, dependencies: [A]}\n";
  }
  auto res = orchestrator({"run", path});
  BOOST_CHECK_EQUAL(res.exit_code, 2);
  BOOST_CHECK_NE(res.output.find("dependency cycle: A -> B -> A"),
                 std::string::npos);
  std::remove(path.c_str());
}

BOOST_AUTO_TEST_CASE(help_and_version) {
  auto res = orchestrator({"--version"});
  BOOST_CHECK_EQUAL(res.exit_code, 0);
  BOOST_CHECK_NE(res.output.find(ORCH_VERSION), std::string::npos);
  for (auto cmd : {"deliberate", "councils", "run"}) {
    res = orchestrator({cmd, "--help"});
    BOOST_CHECK_EQUAL(res.exit_code, 0);
    BOOST_CHECK_NE(res.output.find("Usage"), std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(one_shot_commands_fail_fast_when_a_dependency_is_down) {
  auto plan = std::string{ORCH_SOURCE_DIR} + "/examples/login-feature.yaml";
  auto t0 = std::chrono::steady_clock::now();
  auto run = orchestrator({"run", plan}, {"REDIS_URL=redis://127.0.0.1:1"});
  BOOST_CHECK_EQUAL(run.exit_code, 1);
  BOOST_CHECK_MESSAGE(run.output.find("Redis at redis://127.0.0.1:1 is "
                                      "unreachable")
                        != std::string::npos,
                      run.output);
  auto submit = orchestrator({"submit", plan, "--follow"},
                             {"NATS_URL=nats://127.0.0.1:1"});
  BOOST_CHECK_EQUAL(submit.exit_code, 1);
  BOOST_CHECK_MESSAGE(submit.output.find("NATS at nats://127.0.0.1:1 is "
                                         "unreachable")
                        != std::string::npos,
                      submit.output);
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_CHECK_LT(std::chrono::duration_cast<std::chrono::seconds>(took).count(),
                 30);
}

BOOST_AUTO_TEST_CASE(serve_rejects_bad_configuration_with_a_message) {
  auto res = orchestrator({"serve"}, {"PROGRESS_EVENTS=sometimes"});
  BOOST_CHECK_EQUAL(res.exit_code, 2);
  BOOST_CHECK_NE(res.output.find("PROGRESS_EVENTS='sometimes' is unknown"),
                 std::string::npos);
  res = orchestrator({"serve"}, {"NATS_URL=http://x"});
  BOOST_CHECK_EQUAL(res.exit_code, 2);
  BOOST_CHECK_NE(res.output.find("NATS_URL must look like nats://"),
                 std::string::npos);
  res = orchestrator({"submit", "/nonexistent/plan.yaml"});
  BOOST_CHECK_EQUAL(res.exit_code, 2);
}

BOOST_AUTO_TEST_SUITE_END()
