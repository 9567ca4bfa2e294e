#include <map>

#include <boost/test/unit_test.hpp>

#include "messages/messages.hpp"
#include "runtime/config.hpp"

using namespace orch;

namespace {

env_lookup env(std::map<std::string, std::string> vars) {
  auto shared
    = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto i = shared->find(name);
    return i == shared->end() ? nullptr : i->second.c_str();
  };
}

std::string error_of(std::map<std::string, std::string> vars) {
  config cfg;
  if (auto err = apply_environment(cfg, env(std::move(vars))))
    return render(err);
  if (auto err = validate(cfg))
    return render(err);
  return "";
}

} // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(defaults_are_valid) {
  orch::config cfg;
  BOOST_CHECK(!validate(cfg));
  BOOST_CHECK_EQUAL(to_string(cfg.councils), "DEV:3,QA:3,ARCHITECT:3,DEVOPS:3,"
                                             "DATA:3");
  BOOST_CHECK_EQUAL(cfg.grpc_port, 50055);
  BOOST_CHECK_EQUAL(cfg.deliberation_timeout, 300);
  BOOST_CHECK_EQUAL(cfg.deliberation_cleanup, 3600);
}

BOOST_AUTO_TEST_CASE(environment_overrides_defaults) {
  orch::config cfg;
  auto err = apply_environment(cfg, env({{"COUNCILS", "dev:2, qa:4"},
                                         {"DELIBERATION_TIMEOUT", "30"},
                                         {"AGENT_TYPE", "mock"},
                                         {"LOG_FORMAT", "json"},
                                         {"ENABLE_NATS", "true"}}));
  BOOST_REQUIRE(!err);
  BOOST_CHECK(!validate(cfg));
  BOOST_CHECK_EQUAL(to_string(cfg.councils), "DEV:2,QA:4");
  BOOST_CHECK_EQUAL(cfg.deliberation_timeout, 30);
  BOOST_CHECK(cfg.enable_nats);
}

BOOST_AUTO_TEST_CASE(bad_values_say_what_to_fix) {
  BOOST_CHECK_NE(error_of({{"GRPC_PORT", "fifty"}})
                   .find("GRPC_PORT='fifty' is not an integer"),
                 std::string::npos);
  BOOST_CHECK_NE(error_of({{"GRPC_PORT", "70000"}}).find("use 1..65535"),
                 std::string::npos);
  BOOST_CHECK_NE(error_of({{"COUNCILS", "DEV-3"}}).find("ROLE:N"),
                 std::string::npos);
  BOOST_CHECK_NE(error_of({{"COUNCILS", "DEV:3,dev:2"}}).find("twice"),
                 std::string::npos);
  BOOST_CHECK_NE(error_of({{"COUNCILS", "DEV:0"}}).find("between 1 and 256"),
                 std::string::npos);
  BOOST_CHECK_NE(error_of({{"AGENT_TYPE", "magic"}}).find("use scripted"),
                 std::string::npos);
  BOOST_CHECK_NE(error_of({{"LOG_LEVEL", "loud"}}).find("LOG_LEVEL='loud'"),
                 std::string::npos);
  BOOST_CHECK_NE(
    error_of({{"VLLM_HTTP_CLIENT", "wget"}}).find("use builtin"),
    std::string::npos);
  BOOST_CHECK_NE(
    error_of({{"VLLM_GATHER_US", "-1"}}).find("VLLM_GATHER_US=-1 must be"),
    std::string::npos);
  BOOST_CHECK_NE(
    error_of({{"SCHEDULER_POLICY", "fifo"}}).find("use affine, lean, sharing or stealing"),
    std::string::npos);
  BOOST_CHECK_NE(error_of({{"ENABLE_NATS", "maybe"}}).find("true or false"),
                 std::string::npos);
  BOOST_CHECK_NE(
    error_of({{"DELIBERATION_TIMEOUT", "0"}}).find("at least 1 second"),
    std::string::npos);
  BOOST_CHECK_NE(error_of({{"COUNCILS", "DEV-3"}}).find("orch.invalid_config"),
                 std::string::npos);
  BOOST_CHECK_NE(error_of({{"ENGINE_LANES", "64"}}).find("ENGINE_LANES=64"),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(engine_lanes_follow_the_threads_of_the_affine_policy) {
  orch::config cfg;
  cfg.threads = 3;
  BOOST_CHECK_EQUAL(engine_lanes(cfg), 3);
  // The other policies do not pin actors: no lanes unless asked for.
  cfg.scheduler_policy = "lean";
  BOOST_CHECK_EQUAL(engine_lanes(cfg), 1);
  auto err = apply_environment(cfg, env({{"ENGINE_LANES", "2"}}));
  BOOST_REQUIRE(!err);
  BOOST_CHECK(!validate(cfg));
  BOOST_CHECK_EQUAL(engine_lanes(cfg), 2);
}

BOOST_AUTO_TEST_SUITE_END()
