// `orchestrator serve` against a nats-server that wants credentials: user
// and password, a token, a credentials file (JWT and nkey, operator mode,
// made here by tests/nats/make_creds.py), mutual TLS with certificates made
// here with openssl. Wrong credentials keep serve running and not ready, and no
// secret reaches its output.

#include <boost/test/unit_test.hpp>
#include <httplib.h>

#include "service_util.hpp"
#include "test_util.hpp"

using namespace orch;
using namespace orch::test;
using std::chrono::seconds;

namespace {

std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>
two_tasks() {
  return {{"T1", "DEV", {}}, {"T2", "QA", {"T1"}}};
}

child serve(const scratch_dir& dir, const std::string& name,
            std::vector<std::string> env) {
  env.push_back("LOG_LEVEL=debug");
  return start_serve(std::move(env), dir.path + "/" + name + ".log");
}

/// Runs a two-task plan through a serve started with `env`.
void plan_completes(nats_link& link, const scratch_dir& dir,
                    std::vector<std::string> env, const std::string& plan) {
  auto proc = serve(dir, plan, std::move(env));
  publish(link, subject::plan_approved_in, plan_payload(plan, two_tasks()));
  auto evs = await_plan(link, plan, seconds(60));
  BOOST_REQUIRE_MESSAGE(!evs.empty(), proc.output());
  BOOST_CHECK_EQUAL(of(evs, subject::task_completed, plan).size(), 2u);
  proc.signal(SIGTERM);
  BOOST_CHECK_EQUAL(proc.wait(seconds(20)), 0);
}

/// Runs `openssl` with `args`; fails the test when it does not succeed.
void openssl(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/bin/openssl");
  child proc(std::move(args), {}, dir + "/openssl.log");
  BOOST_REQUIRE_EQUAL(proc.wait(seconds(30)), 0);
}

} // namespace

BOOST_AUTO_TEST_SUITE(serve_auth)

BOOST_AUTO_TEST_CASE(user_and_password) {
  scratch_dir dir;
  nats_server nats{dir.path, {"--user", "orch", "--pass", "s3cret-pw-42"}};
  nats_settings ok;
  ok.user = "orch";
  ok.password = "s3cret-pw-42";
  auto link = client(nats.url(), ok);
  plan_completes(*link, dir,
                 {"NATS_URL=" + nats.url(), "NATS_USER=orch",
                  "NATS_PASSWORD=s3cret-pw-42"},
                 "userpass");
  // A wrong password: serve keeps running, not ready, and says why.
  auto port = free_port();
  auto wrong = serve(dir, "wrong",
                     {"NATS_URL=" + nats.url(), "NATS_USER=orch",
                      "NATS_PASSWORD=wrong-pw-77",
                      "HTTP_PORT=" + std::to_string(port)});
  // Past "starting", the reason names NATS.
  auto [status, body] = readiness_naming(port, "NATS");
  httplib::Client http{"127.0.0.1", port};
  BOOST_CHECK_EQUAL(status, 503);
  BOOST_CHECK_NE(body.find("NATS"), std::string::npos);
  auto st = http.Get("/status");
  BOOST_REQUIRE(st);
  BOOST_CHECK_EQUAL(st->body.find("wrong-pw-77"), std::string::npos);
  wrong.signal(SIGTERM);
  BOOST_CHECK_EQUAL(wrong.wait(seconds(20)), 0);
  // The password appears in no output, even at debug level.
  BOOST_CHECK_EQUAL(wrong.output().find("wrong-pw-77"), std::string::npos);
  // And in a URL it is shown as ***.
  auto url = "nats://orch:wrong-pw-77@127.0.0.1:" + std::to_string(nats.port());
  child submit({ORCH_BINARY, "submit",
                std::string{ORCH_SOURCE_DIR} + "/examples/login-feature.yaml"},
               {"NATS_URL=" + url}, dir.path + "/submit.log");
  BOOST_CHECK_EQUAL(submit.wait(seconds(30)), 1);
  auto out = submit.output();
  BOOST_CHECK_EQUAL(out.find("wrong-pw-77"), std::string::npos);
  BOOST_CHECK_NE(out.find("nats://orch:***@127.0.0.1"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(token) {
  scratch_dir dir;
  nats_server nats{dir.path, {"--auth", "tok-abc-123"}};
  nats_settings ok;
  ok.token = "tok-abc-123";
  auto link = client(nats.url(), ok);
  plan_completes(*link, dir,
                 {"NATS_URL=" + nats.url(), "NATS_TOKEN=tok-abc-123"},
                 "token");
}

BOOST_AUTO_TEST_CASE(credentials_file) {
  scratch_dir dir;
  auto d = dir.path;
  child make({"/usr/bin/python3",
              std::string{ORCH_SOURCE_DIR} + "/tests/nats/make_creds.py", d,
              "orch", "test"},
             {}, d + "/make_creds.log");
  BOOST_REQUIRE_MESSAGE(make.wait(seconds(30)) == 0, make.output());
  nats_server nats{d, {"-c", d + "/auth.conf"}};
  nats_settings ok;
  ok.creds_file = d + "/test.creds";
  auto link = client(nats.url(), ok);
  plan_completes(*link, dir,
                 {"NATS_URL=" + nats.url(), "NATS_CREDS=" + d + "/orch.creds"},
                 "creds");
  // A user of an account the server does not trust: serve keeps running,
  // not ready, and the nkey seed of its file appears nowhere.
  auto port = free_port();
  auto stranger = serve(dir, "stranger",
                        {"NATS_URL=" + nats.url(),
                         "NATS_CREDS=" + d + "/stranger.creds",
                         "HTTP_PORT=" + std::to_string(port)});
  auto [status, body] = readiness_naming(port, "NATS");
  httplib::Client http{"127.0.0.1", port};
  BOOST_CHECK_EQUAL(status, 503);
  BOOST_CHECK_NE(body.find("NATS"), std::string::npos);
  auto st = http.Get("/status");
  BOOST_REQUIRE(st);
  stranger.signal(SIGTERM);
  BOOST_CHECK_EQUAL(stranger.wait(seconds(20)), 0);
  auto file = slurp(d + "/stranger.creds");
  auto at = file.find("-----BEGIN USER NKEY SEED-----\n");
  BOOST_REQUIRE(at != std::string::npos);
  auto seed = file.substr(at + 31, 58);
  BOOST_REQUIRE_EQUAL(seed.front(), 'S');
  BOOST_CHECK_EQUAL(stranger.output().find(seed), std::string::npos);
  BOOST_CHECK_EQUAL(st->body.find(seed), std::string::npos);
  // A missing file stops start-up with a message that names the variable.
  child missing({ORCH_BINARY, "serve"},
                {"NATS_URL=" + nats.url(), "NATS_CREDS=" + d + "/absent.creds",
                 "HTTP_PORT=0", "GRPC_PORT=0"},
                d + "/missing.log");
  BOOST_CHECK_EQUAL(missing.wait(seconds(30)), 2);
  BOOST_CHECK_NE(missing.output().find("NATS_CREDS=" + d
                                       + "/absent.creds cannot be read"),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(mutual_tls) {
  scratch_dir dir;
  auto d = dir.path;
  // A CA, a server certificate for 127.0.0.1 and a client certificate.
  openssl(d, {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
              "-subj", "/CN=orch-test-ca", "-keyout", d + "/ca.key", "-out",
              d + "/ca.pem"});
  {
    std::ofstream ext{d + "/server.ext"};
    ext << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  }
  for (auto who : {"server", "client"}) {
    std::string w = who;
    openssl(d, {"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + w,
                "-keyout", d + "/" + w + ".key", "-out", d + "/" + w + ".csr"});
    std::vector<std::string> sign{"x509", "-req", "-in", d + "/" + w + ".csr",
                                  "-CA", d + "/ca.pem", "-CAkey",
                                  d + "/ca.key", "-CAcreateserial", "-days",
                                  "2", "-out", d + "/" + w + ".pem"};
    if (w == "server") {
      sign.push_back("-extfile");
      sign.push_back(d + "/server.ext");
    }
    openssl(d, sign);
  }
  nats_server nats{d,
                   {"--tlsverify", "--tlscert", d + "/server.pem", "--tlskey",
                    d + "/server.key", "--tlscacert", d + "/ca.pem"}};
  auto url = "tls://127.0.0.1:" + std::to_string(nats.port());
  nats_settings ok;
  ok.tls_ca = d + "/ca.pem";
  ok.tls_cert = d + "/client.pem";
  ok.tls_key = d + "/client.key";
  auto link = client(url, ok);
  plan_completes(*link, dir,
                 {"NATS_URL=" + url, "NATS_TLS_CA=" + d + "/ca.pem",
                  "NATS_TLS_CERT=" + d + "/client.pem",
                  "NATS_TLS_KEY=" + d + "/client.key"},
                 "tls");
}

BOOST_AUTO_TEST_SUITE_END()
