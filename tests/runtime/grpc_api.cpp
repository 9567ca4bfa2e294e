// The gRPC API from a client that knows only the proto file: Python's grpc
// from Debian with stubs generated from proto/ at test time, against a real
// `orchestrator serve`. Also: the proto is the contract, byte for byte.

#include <fstream>
#include <memory>
#include <sstream>

#include <boost/test/unit_test.hpp>
#include <httplib.h>

#include "bridges/grpc_client.hpp"
#include "service_util.hpp"
#include "test_util.hpp"
#include "tests/llm_stub/llm_stub.hpp"

using namespace orch;
using namespace orch::test;
using std::chrono::seconds;

namespace {

/// Python stubs generated from proto/ alone, in `dir`/stubs.
std::string python_stubs(const std::string& dir) {
  auto stubs = dir + "/stubs";
  child mk({"/bin/mkdir", "-p", stubs}, {}, dir + "/mkdir.log");
  BOOST_REQUIRE_EQUAL(mk.wait(seconds(10)), 0);
  child gen({"/usr/bin/protoc", "-I", std::string{ORCH_SOURCE_DIR} + "/proto",
             "--python_out=" + stubs, "--grpc_out=" + stubs,
             "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
             "fleet_orchestrator_v1.proto"},
            {}, dir + "/protoc.log");
  BOOST_REQUIRE_MESSAGE(gen.wait(seconds(60)) == 0, gen.output());
  return stubs;
}

/// Waits until GetDeliberationResult says the task left IN_PROGRESS.
caf::expected<deliberation_outcome> settled(grpc_client& client,
                                            const std::string& task_id) {
  caf::expected<deliberation_outcome> r{caf::make_error(ec::internal, "")};
  for (int i = 0; i < 100; ++i) {
    r = client.result(task_id);
    if (r && r->status != "in_progress" && r->status != "pending")
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return r;
}

/// `serve` with `vllm` agents that the test LLM server answers after a
/// fixed latency, COUNCILS=DEV:2, one gRPC deliberation at a time, and a
/// client once the service is healthy.
struct slow_service {
  scratch_dir dir;
  nats_server nats{dir.path};
  llm_stub_server stub{{}};
  int port = free_port();
  std::string target = "127.0.0.1:" + std::to_string(port);
  child serve;
  std::unique_ptr<grpc_client> client;

  explicit slow_service(int latency_ms) {
    BOOST_REQUIRE(stub.start());
    stub.set_latency_ms(latency_ms);
    serve = start_serve({"NATS_URL=" + nats.url(),
                         "GRPC_PORT=" + std::to_string(port),
                         "AGENT_TYPE=vllm", "VLLM_URL=" + stub.url(),
                         "VLLM_MODEL=stub-model", "COUNCILS=DEV:2",
                         "GRPC_MAX_DELIBERATIONS=1"},
                        dir.path + "/serve.log");
    client = make_grpc_client(target);
    BOOST_REQUIRE_MESSAGE(healthy(*client), serve.output());
  }
};

/// Every model call takes 300 ms.
struct calls_of_300_ms : slow_service {
  calls_of_300_ms() : slow_service(300) {
  }
};

/// Every model call takes 1 s: a deliberation of two agents and one round
/// makes six calls in about 3 s.
struct calls_of_1_s : slow_service {
  calls_of_1_s() : slow_service(1000) {
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(grpc_api)

BOOST_AUTO_TEST_CASE(proto_is_the_contract) {
  auto ours = slurp(std::string{ORCH_SOURCE_DIR}
                    + "/proto/fleet_orchestrator_v1.proto");
  auto contract = slurp(std::string{ORCH_SOURCE_DIR}
                        + "/../shared/contracts/fleet_orchestrator_v1.proto");
  BOOST_REQUIRE_MESSAGE(!contract.empty(),
                        "../shared/contracts/fleet_orchestrator_v1.proto is "
                        "missing beside the checkout");
  BOOST_CHECK_MESSAGE(ours == contract,
                      "proto/fleet_orchestrator_v1.proto drifted from the "
                      "contract in ../shared/contracts/");
}

BOOST_AUTO_TEST_CASE(an_independent_python_client) {
  scratch_dir dir;
  nats_server nats{dir.path};
  auto port = free_port();
  auto serve = start_serve(
    {"NATS_URL=" + nats.url(), "GRPC_PORT=" + std::to_string(port)},
    dir.path + "/serve.log");
  // Stubs from the proto file alone.
  auto stubs = python_stubs(dir.path);
  child client({"/usr/bin/python3",
                std::string{ORCH_SOURCE_DIR} + "/tests/grpc/client.py", stubs,
                "127.0.0.1:" + std::to_string(port)},
               {}, dir.path + "/client.log");
  auto rc = client.wait(seconds(120));
  BOOST_TEST_MESSAGE(client.output());
  BOOST_CHECK_MESSAGE(rc == 0, client.output() << "\n--- serve:\n"
                                               << serve.output());
  BOOST_CHECK_NE(client.output().find("OK "), std::string::npos);
  // A client with nothing but reflection and health stubs (Debian's
  // grpc-proto files, copied flat so that no local `grpc` package shadows
  // the module).
  auto flat = dir.path + "/refl";
  child cp({"/bin/sh", "-c",
            "mkdir -p " + flat
              + " && cp /usr/share/grpc-proto/grpc/reflection/v1alpha/"
                "reflection.proto /usr/share/grpc-proto/grpc/health/v1/"
                "health.proto "
              + flat},
           {}, dir.path + "/cp.log");
  BOOST_REQUIRE_MESSAGE(cp.wait(seconds(10)) == 0, cp.output());
  child gen2({"/usr/bin/protoc", "-I", flat, "--python_out=" + flat,
              "--grpc_out=" + flat,
              "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
              "reflection.proto", "health.proto"},
             {}, dir.path + "/protoc2.log");
  BOOST_REQUIRE_MESSAGE(gen2.wait(seconds(60)) == 0, gen2.output());
  child refl({"/usr/bin/python3",
              std::string{ORCH_SOURCE_DIR} + "/tests/grpc/reflect.py", flat,
              "127.0.0.1:" + std::to_string(port)},
             {}, dir.path + "/reflect.log");
  BOOST_CHECK_MESSAGE(refl.wait(seconds(60)) == 0, refl.output());
  BOOST_CHECK_NE(refl.output().find("OK reflection and health"),
                 std::string::npos);
  serve.signal(SIGTERM);
  BOOST_CHECK_EQUAL(serve.wait(seconds(20)), 0);
}

BOOST_AUTO_TEST_CASE(the_cli_as_a_client) {
  scratch_dir dir;
  nats_server nats{dir.path};
  auto port = free_port();
  auto http_port = free_port();
  auto server = "127.0.0.1:" + std::to_string(port);
  auto serve = start_serve({"NATS_URL=" + nats.url(),
                            "HTTP_PORT=" + std::to_string(http_port),
                            "GRPC_PORT=" + std::to_string(port)},
                           dir.path + "/serve.log");
  int n = 0;
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), ORCH_BINARY);
    child c(std::move(args), {"ORCHESTRATOR_SERVER=" + server},
            dir.path + "/cli-" + std::to_string(++n) + ".log");
    auto rc = c.wait(seconds(60));
    return std::make_pair(rc, c.output());
  };
  auto st = cli({"status"});
  for (int i = 0; i < 50 && st.first != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    st = cli({"status"});
  }
  BOOST_REQUIRE_MESSAGE(st.first == 0, st.second);
  BOOST_CHECK_NE(st.second.find("healthy"), std::string::npos);
  auto made = cli({"councils", "create", "sec", "--agents", "2"});
  BOOST_CHECK_MESSAGE(made.first == 0, made.second);
  auto list = cli({"councils", "list", "--json"});
  BOOST_CHECK_NE(list.second.find("council-sec"), std::string::npos);
  auto reg = cli({"agents", "register", "agent-sec-x", "--role", "SEC"});
  BOOST_CHECK_MESSAGE(reg.first == 0, reg.second);
  auto again = cli({"agents", "register", "agent-sec-x", "--role", "SEC"});
  BOOST_CHECK_EQUAL(again.first, 1);
  BOOST_CHECK_NE(again.second.find("already_exists"), std::string::npos);
  auto del = cli({"councils", "delete", "SEC"});
  BOOST_CHECK_MESSAGE(del.first == 0, del.second);
  auto gone = cli({"councils", "delete", "SEC"});
  BOOST_CHECK_EQUAL(gone.first, 1);
  BOOST_CHECK_NE(gone.second.find("orch.not_found: no council for role SEC"),
                 std::string::npos);
  // deliberate --server: progress on stderr from the stream, the same JSON
  // outcome as the local mode on stdout.
  auto d = cli({"deliberate", "--server", server, "--role", "QA", "--json",
                "--task-id", "cli-1",
                "Write tests for login"});
  BOOST_REQUIRE_MESSAGE(d.first == 0, d.second);
  BOOST_CHECK_NE(d.second.find("[100%] complete"), std::string::npos);
  auto doc = nlohmann::json::parse(d.second.substr(d.second.find("\n{") + 1),
                                   nullptr, false);
  BOOST_REQUIRE(doc.is_object());
  BOOST_CHECK_EQUAL(doc.value("task_id", ""), "cli-1");
  BOOST_CHECK_EQUAL(doc["results"].size(), 3u);
  // gRPC calls are counted by method and code in /metrics.
  httplib::Client http{"127.0.0.1", http_port};
  auto metrics = http.Get("/metrics");
  BOOST_REQUIRE(metrics);
  for (auto needle :
       {"orchestrator_grpc_requests_total{code=\"ALREADY_EXISTS\","
        "method=\"RegisterAgent\"} 1",
        "orchestrator_grpc_requests_total{code=\"NOT_FOUND\","
        "method=\"DeleteCouncil\"} 1",
        "orchestrator_grpc_requests_total{code=\"OK\","
        "method=\"StreamDeliberation\"} 1"})
    BOOST_CHECK_MESSAGE(metrics->body.find(needle) != std::string::npos,
                        "no '" << needle << "' in\n" << metrics->body);
  auto none = cli({"status", "--server", "127.0.0.1:1"});
  BOOST_CHECK_EQUAL(none.first, 1);
  BOOST_CHECK_NE(none.second.find("unavailable"), std::string::npos);
  serve.signal(SIGTERM);
  BOOST_CHECK_EQUAL(serve.wait(seconds(20)), 0);
}

BOOST_FIXTURE_TEST_CASE(deadline_cap_and_readiness_codes, calls_of_300_ms) {
  task_spec t;
  t.role = "DEV";
  t.description = "Add a health endpoint";
  // The client's deadline is the call's limit: DEADLINE_EXCEEDED.
  auto late = client->deliberate(t, std::chrono::milliseconds(200));
  BOOST_REQUIRE(!late);
  BOOST_CHECK(code_of(late.error()) == ec::timeout);
  // Let that deliberation finish (its slot comes back).
  std::this_thread::sleep_for(std::chrono::seconds(2));
  // At the cap (1), a second deliberation at once is RESOURCE_EXHAUSTED.
  caf::expected<deliberation_outcome> first{caf::make_error(ec::internal, "")};
  std::thread th{[&] {
    first = make_grpc_client(target)->deliberate(t, std::chrono::seconds(30));
  }};
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto second = client->deliberate(t, std::chrono::seconds(30));
  th.join();
  BOOST_CHECK_MESSAGE(first, test::why(first));
  BOOST_REQUIRE(!second);
  BOOST_CHECK_NE(render(second.error()).find("GRPC_MAX_DELIBERATIONS"),
                 std::string::npos);
  // Not ready (NATS gone): UNAVAILABLE with the reason.
  nats.stop();
  std::string why;
  for (int i = 0; i < 50; ++i) {
    auto r = client->deliberate(t, std::chrono::seconds(30));
    if (!r && render(r.error()).find("unavailable") != std::string::npos) {
      why = render(r.error());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  BOOST_CHECK_NE(why.find("NATS"), std::string::npos);
  serve.signal(SIGTERM);
  BOOST_CHECK_EQUAL(serve.wait(seconds(30)), 0);
}

BOOST_FIXTURE_TEST_CASE(cancel_and_deadline_end_the_deliberation,
                        calls_of_1_s) {
  task_spec t;
  t.role = "DEV";
  t.description = "Add a health endpoint";
  t.constraints.rounds = 1;
  // A stream cancelled at its first update (while generating): the
  // deliberation stops and no model call starts after that: the two
  // generate calls (already sent, maybe still arriving) are all the stub
  // ever sees, no critique.
  t.task_id = "t-cancel";
  auto cancelled = client->stream(
    t, [](const deliberation_update&) { return false; }, seconds(0));
  BOOST_REQUIRE(!cancelled);
  BOOST_CHECK_MESSAGE(code_of(cancelled.error()) == ec::cancelled,
                      render(cancelled.error()));
  auto r = settled(*client, "t-cancel");
  BOOST_REQUIRE_MESSAGE(r, test::why(r));
  BOOST_CHECK_EQUAL(r->status, "failed");
  BOOST_CHECK_MESSAGE(r->error.find("cancelled") != std::string::npos,
                      r->error);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  BOOST_CHECK_LE(stub.request_count(), 2u);
  // The client's deadline (1.5 s) is the deliberation's limit: the call
  // is DEADLINE_EXCEEDED, the stored status TIMEOUT, and no model call
  // starts after it: two generates at 0 s, two critiques at 1 s, and no
  // revision (due at 2 s).
  stub.reset();
  t.task_id = "t-deadline";
  auto late = client->deliberate(t, std::chrono::milliseconds(1500));
  BOOST_REQUIRE(!late);
  BOOST_CHECK_MESSAGE(code_of(late.error()) == ec::timeout,
                      render(late.error()));
  r = settled(*client, "t-deadline");
  BOOST_REQUIRE_MESSAGE(r, test::why(r));
  BOOST_CHECK_EQUAL(r->status, "timeout");
  BOOST_CHECK_MESSAGE(r->error.find("limit of 1") != std::string::npos,
                      r->error);
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  BOOST_CHECK_LE(stub.request_count(), 4u);
  // A unary call whose client goes away (Python's future.cancel()).
  stub.reset();
  auto stubs = python_stubs(dir.path);
  child py({"/usr/bin/python3",
            std::string{ORCH_SOURCE_DIR} + "/tests/grpc/cancel.py", stubs,
            target, "t-unary"},
           {}, dir.path + "/cancel.log");
  BOOST_REQUIRE_MESSAGE(py.wait(seconds(30)) == 0, py.output());
  r = settled(*client, "t-unary");
  BOOST_REQUIRE_MESSAGE(r, test::why(r));
  BOOST_CHECK_EQUAL(r->status, "failed");
  BOOST_CHECK_MESSAGE(r->error.find("cancelled") != std::string::npos,
                      r->error);
  // Cancelled at 1.2 s, while reviewing: no revision ever starts.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  BOOST_CHECK_LE(stub.request_count(), 4u);
  // Every slot came back: at the cap of one, a deliberation runs.
  stub.set_latency_ms(0);
  t.task_id = "t-after";
  auto ok = client->deliberate(t, seconds(30));
  BOOST_CHECK_MESSAGE(ok, test::why(ok));
  serve.signal(SIGTERM);
  BOOST_CHECK_EQUAL(serve.wait(seconds(30)), 0);
}

BOOST_AUTO_TEST_SUITE_END()
