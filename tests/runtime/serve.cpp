// `orchestrator serve` end to end: a private nats-server per test, the real
// binary as a child process, plans published to planning.plan.approved and
// the events read back from the ORCHESTRATOR_EVENTS stream.

#include <algorithm>
#include <map>
#include <set>

#include <boost/test/unit_test.hpp>
#include <httplib.h>

#include "bridges/nats_consumers.hpp"
#include "service_util.hpp"
#include "test_util.hpp"
#include "tests/llm_stub/llm_stub.hpp"

using namespace orch;
using namespace orch::test;
using json = nlohmann::json;
using std::chrono::seconds;

namespace {

/// One test's world: a scratch directory and a nats-server.
struct service_fixture {
  scratch_dir dir;
  nats_server nats{dir.path};
  nats_link_ptr link = client(nats.url());
  int serves = 0;

  /// Starts `orchestrator serve` with extra environment.
  child serve(std::vector<std::string> env = {}) {
    env.push_back("NATS_URL=" + nats.url());
    env.push_back("LOG_LEVEL=info");
    return start_serve(std::move(env), dir.path + "/serve-"
                                         + std::to_string(++serves) + ".log");
  }

  static std::string unique(const std::string& base) {
    return base + "-" + std::to_string(getpid()) + "-"
           + std::to_string(now_ms() % 100000);
  }
};

/// Task id -> how often `subj` names it.
std::map<std::string, int> per_task(const std::vector<seen_event>& evs,
                                    const std::string& subj,
                                    const std::string& plan) {
  std::map<std::string, int> out;
  for (auto& ev : of(evs, subj, plan))
    ++out[ev.payload().value("task_id", "")];
  return out;
}

/// The login-like graph of five tasks.
std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>
five_tasks() {
  return {{"T1", "ARCHITECT", {}},
          {"T2", "DEV", {"T1"}},
          {"T3", "DEV", {"T1"}},
          {"T4", "QA", {"T2", "T3"}},
          {"T5", "DEVOPS", {"T4"}}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(serve)

BOOST_FIXTURE_TEST_CASE(plan_of_five_tasks_runs_in_dependency_order,
                        service_fixture) {
  auto proc = serve();
  auto plan = unique("P5");
  publish(*link, subject::plan_approved_in, plan_payload(plan, five_tasks()),
          false, "corr-five", "00-abc-def-01");
  auto evs = await_plan(*link, plan, seconds(60));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), proc.output());
  auto completed = of(evs, subject::completed, plan);
  BOOST_REQUIRE_EQUAL(completed.size(), 5u);
  for (auto& ev : completed) {
    auto& p = ev.payload();
    BOOST_CHECK(!p.value("winner_id", "").empty());
    BOOST_CHECK(!p["decisions"].empty());
    BOOST_CHECK(!p["results"].empty());
    BOOST_CHECK_EQUAL(p.value("plan_id", ""), plan);
    BOOST_CHECK_EQUAL(p.value("story_id", ""), "story-" + plan);
    // correlation_id and traceparent pass from the plan to its events.
    BOOST_CHECK_EQUAL(ev.envelope.value("correlation_id", ""), "corr-five");
    BOOST_CHECK_EQUAL(ev.headers["traceparent"], "00-abc-def-01");
    BOOST_CHECK(!ev.headers["Nats-Msg-Id"].empty());
  }
  // Dependency order: a task is dispatched only after its dependencies'
  // deliberation.completed.
  std::map<std::string, size_t> done_at;
  std::map<std::string, size_t> dispatched_at;
  for (size_t i = 0; i < evs.size(); ++i) {
    if (!evs[i].envelope.is_object())
      continue;
    auto id = evs[i].payload().value("task_id", "");
    if (evs[i].subject == subject::completed)
      done_at[id] = i;
    if (evs[i].subject == subject::task_dispatched && !dispatched_at.count(id))
      dispatched_at[id] = i;
  }
  for (auto& [id, role, deps] : five_tasks())
    for (auto& d : deps) {
      auto task = plan + "/" + id;
      auto dep = plan + "/" + d;
      BOOST_REQUIRE(done_at.count(dep) && dispatched_at.count(task));
      BOOST_CHECK_LT(done_at[dep], dispatched_at[task]);
    }
  // The rest of the table.
  auto approved = of(evs, subject::plan_approved, plan);
  BOOST_REQUIRE_EQUAL(approved.size(), 1u);
  BOOST_CHECK_EQUAL(approved[0].payload()["task_ids"].size(), 5u);
  BOOST_CHECK_EQUAL(of(evs, subject::task_dispatched, plan).size(), 5u);
  BOOST_CHECK_EQUAL(of(evs, subject::task_completed, plan).size(), 5u);
  auto progress = per_task(evs, subject::progress, plan);
  BOOST_CHECK_EQUAL(progress.size(), 5u);
  for (auto& [id, n] : progress)
    BOOST_CHECK_GE(n, 4); // generating, reviewing, revising, scoring, ...
  auto done = of(evs, subject::plan_completed, plan);
  BOOST_CHECK_EQUAL(done[0].payload().value("status", ""), "completed");
  // A story transition becomes orchestration.phase.changed.
  publish(*link, subject::story_transitioned,
          {{"story_id", "story-" + plan},
           {"from_phase", "DESIGN"},
           {"to_phase", "BUILD"},
           {"timestamp", 1764000000.0}});
  bool phase = false;
  for (int i = 0; i < 50 && !phase; ++i) {
    for (auto& ev : stream_events(*link))
      phase |= ev.subject == subject::phase_changed
               && ev.payload().value("to_phase", "") == "BUILD";
    if (!phase)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_CHECK(phase);
  proc.signal(SIGTERM);
  BOOST_CHECK_EQUAL(proc.wait(seconds(20)), 0);
}

BOOST_FIXTURE_TEST_CASE(bad_input_is_dead_lettered_and_the_consumer_goes_on,
                        service_fixture) {
  auto proc = serve({"MAX_PAYLOAD=4096"});
  auto subj = subject::plan_approved_in;
  struct bad {
    std::string bytes;
    std::map<std::string, std::string> headers;
    std::string reason;
  };
  auto plan_with = [&](json p) { return json{{"event_type", subj},
                                             {"payload", std::move(p)}}
                                   .dump(); };
  auto good = plan_payload("x", five_tasks());
  auto missing = good;
  missing.erase("story_id");
  auto wrong_type = good;
  wrong_type["tasks"][0]["priority"] = "high";
  auto unknown_role = good;
  unknown_role["tasks"][0]["role"] = "ASTRONAUT";
  auto cycle = good;
  cycle["tasks"][0]["dependencies"] = {"T5"};
  auto unknown_dep = good;
  unknown_dep["tasks"][1]["dependencies"] = {"T99"};
  auto big = good;
  big["plan"] = std::string(5000, 'x');
  std::vector<bad> cases{
    {"{not json", {}, "not valid JSON"},
    {"\xc1\xc1\xc1", {{"Content-Type", "application/msgpack"}},
     "not valid msgpack"},
    {plan_with(missing), {}, "story_id"},
    {plan_with(wrong_type), {}, "priority"},
    {plan_with(unknown_role), {}, "ASTRONAUT"},
    {plan_with(cycle), {}, "cycle"},
    {plan_with(unknown_dep), {}, "T99"},
    {plan_with(big), {}, "MAX_PAYLOAD"},
  };
  for (auto& c : cases)
    publish_raw(*link, subj, c.bytes, c.headers);
  // A good plan after them still completes.
  auto plan = unique("after-bad");
  publish(*link, subj, plan_payload(plan, five_tasks()));
  auto evs = await_plan(*link, plan, seconds(60));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), proc.output());
  std::vector<seen_event> dead;
  for (auto& ev : evs)
    if (ev.subject == subject::dead_letter)
      dead.push_back(ev);
  BOOST_REQUIRE_EQUAL(dead.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    auto it = std::find_if(dead.begin(), dead.end(), [&](const seen_event& d) {
      return d.payload().value("data_base64", "") == base64(cases[i].bytes);
    });
    BOOST_REQUIRE_MESSAGE(it != dead.end(), "case " << i << " not dead-lettered");
    auto& p = it->payload();
    auto reason = p.value("reason", "");
    BOOST_CHECK_MESSAGE(reason.find(cases[i].reason) != std::string::npos,
                        "case " << i << ": reason '" << reason
                                << "' does not name " << cases[i].reason);
    BOOST_CHECK_EQUAL(p.value("original_subject", ""), subj);
    BOOST_CHECK_EQUAL(p.value("data_base64", ""), base64(cases[i].bytes));
    BOOST_CHECK(p["headers"].contains("Nats-Msg-Id"));
  }
  BOOST_CHECK_EQUAL(of(evs, subject::completed, plan).size(), 5u);
  proc.signal(SIGTERM);
  BOOST_CHECK_EQUAL(proc.wait(seconds(20)), 0);
}

BOOST_FIXTURE_TEST_CASE(a_plan_published_twice_runs_once, service_fixture) {
  auto proc = serve();
  auto plan = unique("twice");
  publish(*link, subject::plan_approved_in, plan_payload(plan, five_tasks()));
  publish(*link, subject::plan_approved_in, plan_payload(plan, five_tasks()));
  auto evs = await_plan(*link, plan, seconds(60));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), proc.output());
  // Let a second run, if any, show itself.
  std::this_thread::sleep_for(seconds(1));
  evs = stream_events(*link);
  for (auto subj : {subject::completed, subject::task_completed}) {
    auto n = per_task(evs, subj, plan);
    BOOST_CHECK_EQUAL(n.size(), 5u);
    for (auto& [id, k] : n)
      BOOST_CHECK_MESSAGE(k == 1, id << " has " << k << " " << subj);
  }
  BOOST_CHECK_EQUAL(of(evs, subject::task_dispatched, plan).size(), 5u);
  proc.signal(SIGTERM);
  BOOST_CHECK_EQUAL(proc.wait(seconds(20)), 0);
}

BOOST_FIXTURE_TEST_CASE(msgpack_in_and_out, service_fixture) {
  auto proc = serve({"EVENT_FORMAT=msgpack"});
  auto plan = unique("mp");
  publish(*link, subject::plan_approved_in, plan_payload(plan, five_tasks()),
          true);
  auto evs = await_plan(*link, plan, seconds(60));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), proc.output());
  auto completed = of(evs, subject::completed, plan);
  BOOST_REQUIRE_EQUAL(completed.size(), 5u);
  for (auto& ev : completed)
    BOOST_CHECK_EQUAL(ev.headers["Content-Type"], "application/msgpack");
  proc.signal(SIGTERM);
  BOOST_CHECK_EQUAL(proc.wait(seconds(20)), 0);
}

BOOST_FIXTURE_TEST_CASE(http_health_readiness_status_and_metrics,
                        service_fixture) {
  auto port = free_port();
  auto proc = serve({"HTTP_PORT=" + std::to_string(port)});
  httplib::Client http{"127.0.0.1", port};
  http.set_connection_timeout(2, 0);
  http.set_read_timeout(10, 0);
  auto get = [&](const std::string& path) {
    for (int i = 0; i < 100; ++i) {
      if (auto res = http.Get(path.c_str()))
        return std::make_pair(res->status, res->body);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::make_pair(0, std::string{});
  };
  auto alive = get("/healthz");
  BOOST_REQUIRE_MESSAGE(alive.first == 200, proc.output());
  // Ready once NATS, the queue and the councils are.
  auto ready = get("/readyz");
  for (int i = 0; i < 50 && ready.first != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ready = get("/readyz");
  }
  BOOST_CHECK_EQUAL(ready.first, 200);
  // Some work for the counters.
  auto plan = unique("http");
  publish(*link, subject::plan_approved_in, plan_payload(plan, five_tasks()));
  publish_raw(*link, subject::plan_approved_in, "{broken");
  BOOST_REQUIRE(!await_plan(*link, plan, seconds(60)).empty());
  auto status = json::parse(get("/status").second, nullptr, false);
  BOOST_REQUIRE(status.is_object());
  BOOST_CHECK_EQUAL(status.value("ready", false), true);
  BOOST_CHECK_EQUAL(status["nats"].value("connected", false), true);
  BOOST_CHECK_EQUAL(status["councils"].size(), 5u);
  BOOST_CHECK_GE(status["queue"]["tasks"].value("COMPLETED", 0), 5);
  BOOST_CHECK_GE(status["stats"].value("total_orchestrations", 0), 5);
  auto metrics = get("/metrics");
  BOOST_CHECK_EQUAL(metrics.first, 200);
  auto& text = metrics.second;
  for (auto needle :
       {"# TYPE orchestrator_deliberations_total counter",
        "orchestrator_ready 1",
        "orchestrator_queue_tasks{state=\"COMPLETED\"} 5",
        "orchestrator_tasks_in_flight 0",
        "orchestrator_nats_connected 1",
        "orchestrator_dead_letters_total 1",
        "orchestrator_nats_messages_settled_total{action=\"term\","
        "subject=\"planning.plan.approved\"} 1",
        "orchestrator_nats_messages_published_total{subject=\"orchestration."
        "deliberation.completed\"} 5",
        "# TYPE orchestrator_deliberation_duration_seconds histogram",
        "orchestrator_deliberation_duration_seconds_bucket{le=\"+Inf\"} 5",
        "orchestrator_deliberation_duration_seconds_count 5",
        "orchestrator_agent_calls_total{backend=\"scripted\",outcome=\"ok\"} 15",
        "orchestrator_deliberation_duration_quantile_seconds{quantile=\"0.99\"}"})
    BOOST_CHECK_MESSAGE(text.find(needle) != std::string::npos,
                        "no '" << needle << "' in\n" << text);
  // Errors are JSON with the right status.
  auto missing = http.Get("/nope");
  BOOST_REQUIRE(missing);
  BOOST_CHECK_EQUAL(missing->status, 404);
  BOOST_CHECK(json::parse(missing->body, nullptr, false).contains("error"));
  auto wrong = http.Post("/healthz", "{}", "application/json");
  BOOST_REQUIRE(wrong);
  BOOST_CHECK_EQUAL(wrong->status, 405);
  // NATS goes away: not ready, with the reason; back: ready again.
  nats.stop();
  auto down = get("/readyz");
  for (int i = 0; i < 50 && down.first != 503; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    down = get("/readyz");
  }
  BOOST_CHECK_EQUAL(down.first, 503);
  BOOST_CHECK_NE(down.second.find("NATS"), std::string::npos);
  nats.start();
  auto up = get("/readyz");
  for (int i = 0; i < 100 && up.first != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    up = get("/readyz");
  }
  BOOST_CHECK_EQUAL(up.first, 200);
  proc.signal(SIGTERM);
  BOOST_CHECK_EQUAL(proc.wait(seconds(20)), 0);
}

BOOST_FIXTURE_TEST_CASE(workers_pull_tasks_over_http, service_fixture) {
  auto port = free_port();
  auto proc = serve({"HTTP_PORT=" + std::to_string(port), "DISPATCH=false",
                     "LEASE_SECONDS=1"});
  httplib::Client http{"127.0.0.1", port};
  http.set_connection_timeout(2, 0);
  for (int i = 0; i < 100 && !http.Get("/healthz"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto plan = unique("pull");
  publish(*link, subject::plan_approved_in,
          plan_payload(plan, {{"T1", "DEV", {}}, {"T2", "QA", {"T1"}}}));
  auto next = [&](const std::string& worker) {
    for (int i = 0; i < 100; ++i) {
      auto res = http.Get(("/work/next?worker_id=" + worker).c_str());
      if (res && res->status == 200)
        return json::parse(res->body);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return json{};
  };
  auto post = [&](const char* path, const json& body) {
    auto res = http.Post(path, body.dump(), "application/json");
    return res ? res->status : 0;
  };
  // w1 takes T1 (only it is ready) and completes it.
  auto t1 = next("w1");
  BOOST_REQUIRE(t1.is_object());
  BOOST_CHECK_EQUAL(t1["task"].value("task_id", ""), plan + "/T1");
  BOOST_CHECK_EQUAL(post("/work/complete", {{"task_id", plan + "/T1"},
                                            {"worker_id", "w1"},
                                            {"result", {{"answer", 42}}}}),
                    200);
  // w1 takes T2 and goes quiet: after its lease another worker gets it.
  auto t2 = next("w1");
  BOOST_CHECK_EQUAL(t2["task"].value("task_id", ""), plan + "/T2");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto again = next("w2");
  BOOST_CHECK_EQUAL(again["task"].value("task_id", ""), plan + "/T2");
  BOOST_CHECK_EQUAL(again.value("attempts", 0), 2);
  BOOST_CHECK_EQUAL(post("/work/complete",
                         {{"task_id", plan + "/T2"}, {"worker_id", "w1"}}),
                    409);
  BOOST_CHECK_EQUAL(post("/work/complete",
                         {{"task_id", plan + "/T2"}, {"worker_id", "w2"}}),
                    200);
  // Nothing left: 204; bad requests: 4xx with a JSON error.
  auto none = http.Get("/work/next?worker_id=w3");
  BOOST_REQUIRE(none);
  BOOST_CHECK_EQUAL(none->status, 204);
  BOOST_CHECK_EQUAL(http.Get("/work/next")->status, 400);
  BOOST_CHECK_EQUAL(post("/work/complete", {{"task_id", "x"}}), 400);
  auto broken = http.Post("/work/complete", "{nope", "application/json");
  BOOST_REQUIRE(broken);
  BOOST_CHECK_EQUAL(broken->status, 400);
  BOOST_CHECK(json::parse(broken->body, nullptr, false).contains("error"));
  BOOST_CHECK_EQUAL(post("/work/complete", {{"task_id", "nope/T9"},
                                            {"worker_id", "w1"}}),
                    404);
  auto huge = http.Post("/work/complete", std::string(2 << 20, 'x'),
                        "application/json");
  BOOST_CHECK(!huge || huge->status == 413);
  // The events went out, the plan finished, the workers are listed.
  auto evs = await_plan(*link, plan, seconds(30));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), proc.output());
  auto done = of(evs, subject::task_completed, plan);
  BOOST_REQUIRE_EQUAL(done.size(), 2u);
  BOOST_CHECK_EQUAL(done[0].payload().value("agent_id", ""), "w1");
  BOOST_CHECK_EQUAL(done[1].payload().value("agent_id", ""), "w2");
  auto workers = json::parse(http.Get("/workers")->body);
  BOOST_CHECK_EQUAL(workers["workers"].size(), 3u);
  auto queue = json::parse(http.Get("/queue")->body);
  BOOST_CHECK_GE(queue["tasks"].value("COMPLETED", 0), 2);
  proc.signal(SIGTERM);
  BOOST_CHECK_EQUAL(proc.wait(seconds(20)), 0);
}

BOOST_AUTO_TEST_CASE(provision_creates_the_streams_and_durables) {
  scratch_dir dir;
  auto monitor = free_port();
  nats_server nats{dir.path, {"-m", std::to_string(monitor)}};
  child prov({ORCH_BINARY, "provision", "--timeout", "20"},
             {"NATS_URL=" + nats.url()}, dir.path + "/provision.log");
  BOOST_REQUIRE_MESSAGE(prov.wait(seconds(30)) == 0, prov.output());
  // The server's own view: every stream and durable of the contract.
  httplib::Client http{"127.0.0.1", monitor};
  auto res = http.Get("/jsz?consumers=true");
  BOOST_REQUIRE(res && res->status == 200);
  auto jsz = json::parse(res->body, nullptr, false);
  std::set<std::string> streams;
  std::set<std::string> durables;
  for (auto& acc : jsz["account_details"])
    for (auto& st : acc["stream_detail"]) {
      streams.insert(st.value("name", ""));
      for (auto& c : st.value("consumer_detail", json::array()))
        durables.insert(c.value("name", ""));
    }
  for (auto name : {"PLANNING_EVENTS", "ORCHESTRATOR_EVENTS"})
    BOOST_CHECK_MESSAGE(streams.count(name) == 1, name << ": " << res->body);
  for (auto& spec : default_consumers())
    BOOST_CHECK_MESSAGE(durables.count(spec.durable) == 1, spec.durable);
  // Twice is fine (a hook that runs again on upgrade).
  child again({ORCH_BINARY, "provision", "--timeout", "20"},
              {"NATS_URL=" + nats.url()}, dir.path + "/again.log");
  BOOST_CHECK_EQUAL(again.wait(seconds(30)), 0);
  // No NATS within the limit: exit 1 with the reason.
  child none({ORCH_BINARY, "provision", "--timeout", "1"},
             {"NATS_URL=nats://127.0.0.1:" + std::to_string(free_port())},
             dir.path + "/none.log");
  BOOST_CHECK_EQUAL(none.wait(seconds(30)), 1);
  BOOST_CHECK_NE(none.output().find("provision failed"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
