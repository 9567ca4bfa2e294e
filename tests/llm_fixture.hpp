#pragma once

// A real actor system with the LLM client and the project's own
// OpenAI-compatible stub server on a loopback port.

#include <chrono>
#include <memory>

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/actors.hpp"
#include "bridges/llm_client.hpp"
#include "test_util.hpp"
#include "tests/llm_stub/llm_stub.hpp"

namespace orch::test {

struct threaded_config : caf::actor_system_config {
  threaded_config() {
    add_message_types<caf::id_block::orch>();
    set("scheduler.max-threads", 2);
    set("logger.verbosity", caf::atom("quiet"));
  }
};

/// Fast retries and a quick circuit breaker, so that tests stay short.
inline llm_client_settings test_client_settings() {
  llm_client_settings s;
  s.max_retries = 3;
  s.backoff_base_ms = 20;
  s.backoff_max_ms = 2000;
  s.breaker_threshold = 4;
  s.breaker_cooldown_ms = 300;
  return s;
}

struct llm_fixture {
  threaded_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  llm_stub_server stub{llm_stub_server::options{}};
  llm_client_actor client;

  explicit llm_fixture(llm_client_settings s = test_client_settings()) {
    BOOST_REQUIRE(stub.start());
    client = spawn_llm_client(sys, s);
  }

  ~llm_fixture() {
    self->send_exit(client, caf::exit_reason::user_shutdown);
  }

  vllm_settings model(int timeout_ms = 2000) const {
    vllm_settings v;
    v.url = stub.url();
    v.model = "stub-model";
    v.timeout_ms = timeout_ms;
    return v;
  }

  /// Sends a request and waits (up to `limit`) for the reply.
  template<class T, class Handle, class... Ts>
  caf::expected<T>
  ask(std::chrono::milliseconds limit, const Handle& h, Ts&&... xs) {
    caf::expected<T> out{caf::make_error(ec::internal, "unset")};
    self->request(h, limit, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  }
};

} // namespace orch::test
