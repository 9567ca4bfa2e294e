// Secrets never leave the process: every command of the CLI runs with every
// secret set (NATS password and token, a password in the NATS and Redis
// URLs, the LLM API key, the node secret), at debug level, and no output —
// logs, errors, /status, /metrics, /readyz, /workers, /queue, CLI answers —
// contains one. Redis with AUTH (a password in REDIS_URL) against a real
// redis-server started with --requirepass.

#include <algorithm>
#include <fstream>

#include <httplib.h>

#include <boost/test/unit_test.hpp>

#include "service_util.hpp"
#include "test_util.hpp"
#include "tests/llm_stub/llm_stub.hpp"

using namespace orch;
using namespace orch::test;
using std::chrono::seconds;

namespace {

const std::string nats_pw = "nats-Pw-7c41e9";
const std::string redis_pw = "redis-Pw-55d0a3";
const std::string api_key = "sk-llm-key-90b7f2aa";
const std::string node_secret = "node-Secret-3f8e21c4d9";

const std::vector<std::string> secrets{nats_pw, redis_pw, api_key,
                                       node_secret};

/// redis-server with a password on a free loopback port.
struct redis_with_auth {
  int port = free_port();
  child proc;

  explicit redis_with_auth(const scratch_dir& dir)
      : proc({"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port",
              std::to_string(port), "--requirepass", redis_pw, "--save", "",
              "--appendonly", "no", "--dir", dir.path},
             {}, dir.path + "/redis.log") {
    for (int i = 0; i < 100 && !port_open(port); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  std::string url(const std::string& pw) const {
    return "redis://:" + pw + "@127.0.0.1:" + std::to_string(port);
  }
};

void check_clean(const std::string& what, const std::string& text) {
  for (auto& s : secrets)
    BOOST_CHECK_MESSAGE(text.find(s) == std::string::npos,
                        what << " shows a secret (" << s.substr(0, 6)
                             << "...): " << text.substr(0, 2000));
}

} // namespace

BOOST_AUTO_TEST_SUITE(secrets)

BOOST_AUTO_TEST_CASE(redis_auth_and_a_wrong_password) {
  scratch_dir dir;
  nats_server nats{dir.path};
  redis_with_auth redis{dir};
  auto link = client(nats.url());
  auto plan = "redis-auth-" + std::to_string(getpid());
  auto ok = start_serve({"NATS_URL=" + nats.url(),
                         "REDIS_URL=" + redis.url(redis_pw),
                         "REDIS_PREFIX=" + plan, "LOG_LEVEL=debug"},
                        dir.path + "/ok.log");
  publish(*link, subject::plan_approved_in,
          plan_payload(plan, independent(3)));
  auto evs = await_plan(*link, plan, seconds(60));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), ok.output());
  check_once(evs, plan, 3);
  ok.signal(SIGTERM);
  BOOST_CHECK_EQUAL(ok.wait(seconds(20)), 0);
  check_clean("serve with Redis AUTH", ok.output());
  // A wrong password: not ready, the reason says AUTH failed, and no
  // password is shown.
  auto http_port = free_port();
  auto bad = start_serve({"NATS_URL=" + nats.url(),
                          "REDIS_URL=" + redis.url("wrong-" + redis_pw),
                          "HTTP_PORT=" + std::to_string(http_port),
                          "LOG_LEVEL=debug"},
                         dir.path + "/bad.log");
  auto [status, body] = readiness_naming(http_port, "AUTH");
  BOOST_CHECK_EQUAL(status, 503);
  BOOST_CHECK_MESSAGE(body.find("AUTH") != std::string::npos, body);
  BOOST_CHECK_EQUAL(body.find("wrong-" + redis_pw), std::string::npos);
  bad.signal(SIGTERM);
  BOOST_CHECK_EQUAL(bad.wait(seconds(20)), 0);
  BOOST_CHECK_EQUAL(bad.output().find("wrong-" + redis_pw), std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_command_shows_a_secret) {
  scratch_dir dir;
  nats_server nats{dir.path, {"--user", "orch", "--pass", nats_pw}};
  redis_with_auth redis{dir};
  llm_stub_server stub{{}};
  BOOST_REQUIRE(stub.start());
  nats_settings auth;
  auth.user = "orch";
  auth.password = nats_pw;
  auto link = client(nats.url(), auth);
  auto nats_url_pw = "nats://orch:" + nats_pw + "@127.0.0.1:"
                     + std::to_string(nats.port());
  auto grpc_port = free_port();
  auto http_port = free_port();
  auto plan = "secrets-" + std::to_string(getpid());
  std::vector<std::string> env{
    "NATS_URL=" + nats_url_pw, "NATS_USER=orch", "NATS_PASSWORD=" + nats_pw,
    "REDIS_URL=" + redis.url(redis_pw), "REDIS_PREFIX=" + plan,
    "AGENT_TYPE=vllm", "VLLM_URL=" + stub.url(), "VLLM_MODEL=stub-model",
    "VLLM_API_KEY=" + api_key, "NODE_SECRET=" + node_secret,
    "LOG_LEVEL=debug", "GRPC_PORT=" + std::to_string(grpc_port),
    "HTTP_PORT=" + std::to_string(http_port)};
  auto serve = start_serve(env, dir.path + "/serve.log");
  publish(*link, subject::plan_approved_in,
          plan_payload(plan, independent(2)));
  auto evs = await_plan(*link, plan, seconds(60));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), serve.output());
  // The key is used: every model call carried it.
  auto reqs = stub.requests();
  BOOST_REQUIRE(!reqs.empty());
  for (auto& r : reqs)
    BOOST_CHECK_EQUAL(r.authorization, "Bearer " + api_key);
  // What the service shows over HTTP.
  httplib::Client http{"127.0.0.1", http_port};
  for (auto path : {"/healthz", "/readyz", "/status", "/metrics", "/workers",
                    "/queue"}) {
    auto res = http.Get(path);
    BOOST_REQUIRE_MESSAGE(res, path);
    check_clean(path, res->body);
  }
  // Every command of the CLI, with the same environment.
  auto cli_env = env;
  cli_env.push_back("ORCHESTRATOR_SERVER=127.0.0.1:"
                    + std::to_string(grpc_port));
  int n = 0;
  auto run = [&](std::vector<std::string> args, int limit_s = 60) {
    auto name = args.empty() ? std::string{"none"} : args[0];
    args.insert(args.begin(), ORCH_BINARY);
    child c(std::move(args), cli_env,
            dir.path + "/cli-" + std::to_string(++n) + ".log");
    auto rc = c.wait(seconds(limit_s));
    if (rc == -1)
      c.kill_now();
    check_clean("orchestrator " + name, c.output());
    return rc;
  };
  auto examples = std::string{ORCH_SOURCE_DIR} + "/examples/";
  BOOST_CHECK_EQUAL(run({"status"}), 0);
  BOOST_CHECK_EQUAL(run({"status", "--json"}), 0);
  BOOST_CHECK_EQUAL(run({"councils", "list"}), 0);
  BOOST_CHECK_EQUAL(run({"submit", examples + "login-feature.yaml"}), 0);
  BOOST_CHECK_EQUAL(run({"provision"}), 0);
  BOOST_CHECK_EQUAL(run({"deliberate", "--role", "DEV", "--agents", "2",
                         "Add a login endpoint"}),
                    0);
  BOOST_CHECK_EQUAL(run({"run", examples + "orders-pipeline.md", "--out",
                         dir.path + "/run.json"}),
                    0);
  {
    std::ifstream in{dir.path + "/run.json"};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    check_clean("run --out", text);
  }
  BOOST_CHECK_EQUAL(run({"--help"}), 0);
  // A node that starts and stops, and configurations that are refused.
  {
    auto port = free_port();
    child node({ORCH_BINARY, "node", "--listen",
                "127.0.0.1:" + std::to_string(port)},
               cli_env, dir.path + "/node.log");
    for (int i = 0; i < 100 && !port_open(port); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    node.signal(SIGTERM);
    BOOST_CHECK_EQUAL(node.wait(seconds(20)), 0);
    check_clean("orchestrator node", node.output());
  }
  // Refused configurations (the variable replaced, not added: the first
  // of two wins).
  auto refused = [&](const std::string& var, const std::string& value,
                     std::vector<std::string> args) {
    auto saved = cli_env;
    for (auto& e : cli_env)
      if (e.rfind(var + "=", 0) == 0)
        e = var + "=" + value;
    if (std::none_of(cli_env.begin(), cli_env.end(), [&](auto& e) {
          return e.rfind(var + "=", 0) == 0;
        }))
      cli_env.push_back(var + "=" + value);
    BOOST_CHECK_MESSAGE(run(std::move(args), 20) == 2, var << " " << value);
    cli_env = saved;
  };
  refused("MAX_IN_FLIGHT", "-1", {"serve"});
  refused("NODE_SECRET", "short", {"node", "--listen",
                                   "127.0.0.1:" + std::to_string(free_port())});
  refused("REDIS_URL", "redis:/" + redis_pw, {"serve"});
  refused("REDIS_URL", "redis://:" + redis_pw + "@host:notaport", {"serve"});
  refused("VLLM_URL", "ftp://u:" + api_key + "@x", {"serve"});
  serve.signal(SIGTERM);
  BOOST_CHECK_EQUAL(serve.wait(seconds(30)), 0);
  check_clean("serve", serve.output());
}

BOOST_AUTO_TEST_SUITE_END()
