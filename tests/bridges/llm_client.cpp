#include <chrono>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "llm_fixture.hpp"

using namespace orch;
using namespace orch::test;
using namespace std::chrono_literals;

namespace {

llm_request chat(const std::string& base, int timeout_ms = 2000,
                 std::string user = "hello") {
  llm_request req;
  req.url = chat_completions_url(base);
  req.timeout_ms = timeout_ms;
  req.api_key = "sk-test";
  req.body = R"({"model":"stub-model","messages":[{"role":"user","content":")"
             + user + R"("}]})";
  return req;
}

/// A loopback port nothing listens on: a stub server's, once stopped.
uint16_t stopped_port() {
  llm_stub_server probe{llm_stub_server::options{}};
  BOOST_REQUIRE(probe.start());
  return probe.port();
}

using clock_type = std::chrono::steady_clock;

int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now()
                                                               - t)
    .count();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(llm_client, llm_fixture)

BOOST_AUTO_TEST_CASE(answers_with_the_reply_and_sends_the_key) {
  auto reply = ask<llm_reply>(5s, client, atom::complete_v, chat(stub.url()));
  BOOST_REQUIRE_MESSAGE(reply, why(reply));
  BOOST_CHECK_EQUAL(reply->status, 200);
  BOOST_CHECK_EQUAL(reply->retries, 0);
  BOOST_CHECK_NE(reply->body.find("Response to: hello"), std::string::npos);
  auto recs = stub.requests();
  BOOST_REQUIRE_EQUAL(recs.size(), 1u);
  BOOST_CHECK_EQUAL(recs[0].path, "/v1/chat/completions");
  BOOST_CHECK_EQUAL(recs[0].authorization, "Bearer sk-test");
}

BOOST_AUTO_TEST_CASE(server_errors_and_dropped_connections_are_retried) {
  stub.push_faults({{stub_fault::http_500},
                    {stub_fault::drop_connection},
                    {stub_fault::http_503}});
  auto reply = ask<llm_reply>(10s, client, atom::complete_v, chat(stub.url()));
  BOOST_REQUIRE_MESSAGE(reply, why(reply));
  BOOST_CHECK_EQUAL(reply->status, 200);
  // libcurl itself retries a request once on a reused connection that the
  // server closed, so the drop may not reach us as an attempt.
  BOOST_CHECK_GE(reply->retries, 2);
  BOOST_CHECK_EQUAL(stub.request_count(), 4u);
}

BOOST_AUTO_TEST_CASE(retry_after_is_honoured) {
  stub.push_faults({{stub_fault::http_429, 1}});
  auto start = clock_type::now();
  auto reply = ask<llm_reply>(10s, client, atom::complete_v, chat(stub.url()));
  BOOST_REQUIRE_MESSAGE(reply, why(reply));
  BOOST_CHECK_EQUAL(reply->retries, 1);
  // Backoff alone would wait about 20 ms; Retry-After asks for a second.
  BOOST_CHECK_GE(ms_since(start), 950);
}

BOOST_AUTO_TEST_CASE(retries_give_up_with_a_clear_error) {
  stub.set_default_fault({stub_fault::http_500});
  auto reply = ask<llm_reply>(10s, client, atom::complete_v, chat(stub.url()));
  BOOST_REQUIRE(!reply);
  // The endpoint's fault: the task waits for it instead of failing.
  BOOST_CHECK(code_of(reply.error()) == ec::unavailable);
  auto text = render(reply.error());
  BOOST_CHECK_NE(text.find("HTTP 500"), std::string::npos);
  BOOST_CHECK_NE(text.find("4 attempts"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(client_errors_are_not_retried) {
  llm_request req = chat(stub.url());
  req.body = "not json";
  auto reply = ask<llm_reply>(5s, client, atom::complete_v, req);
  BOOST_REQUIRE(!reply);
  BOOST_CHECK(code_of(reply.error()) == ec::agent_failed);
  BOOST_CHECK_NE(render(reply.error()).find("HTTP 400"), std::string::npos);
  BOOST_CHECK_EQUAL(stub.request_count(), 1u);
}

BOOST_AUTO_TEST_CASE(a_request_past_its_limit_times_out) {
  stub.push_faults({{stub_fault::timeout}});
  auto start = clock_type::now();
  auto reply = ask<llm_reply>(10s, client, atom::complete_v,
                              chat(stub.url(), 300));
  BOOST_REQUIRE(!reply);
  BOOST_CHECK(code_of(reply.error()) == ec::timeout);
  BOOST_CHECK_LT(ms_since(start), 3000);
  // The endpoint still works afterwards.
  BOOST_CHECK(ask<llm_reply>(5s, client, atom::complete_v, chat(stub.url())));
}

BOOST_AUTO_TEST_CASE(circuit_opens_fails_fast_and_recovers) {
  stub.set_default_fault({stub_fault::http_500});
  // Four failed attempts open the circuit.
  auto first = ask<llm_reply>(10s, client, atom::complete_v, chat(stub.url()));
  BOOST_REQUIRE(!first);
  auto seen = stub.request_count();
  auto start = clock_type::now();
  auto fast = ask<llm_reply>(5s, client, atom::complete_v, chat(stub.url()));
  BOOST_REQUIRE(!fast);
  BOOST_CHECK_NE(render(fast.error()).find("circuit open"), std::string::npos);
  BOOST_CHECK(code_of(fast.error()) == ec::unavailable);
  BOOST_CHECK_LT(ms_since(start), 500); // no request reached the server
  BOOST_CHECK_EQUAL(stub.request_count(), seen);
  // After the cool-down one probe passes; the endpoint is healthy again.
  stub.set_default_fault({stub_fault::none});
  std::this_thread::sleep_for(400ms);
  auto probe = ask<llm_reply>(5s, client, atom::complete_v, chat(stub.url()));
  BOOST_REQUIRE_MESSAGE(probe, why(probe));
  BOOST_CHECK(ask<llm_reply>(5s, client, atom::complete_v, chat(stub.url())));
}

BOOST_AUTO_TEST_CASE(dead_endpoint_fails_within_its_limit) {
  // Nothing listens on the port of a stopped server.
  auto url = stub.url();
  stub.stop();
  auto start = clock_type::now();
  auto reply = ask<llm_reply>(10s, client, atom::complete_v, chat(url, 500));
  BOOST_REQUIRE(!reply);
  BOOST_CHECK(code_of(reply.error()) == ec::unavailable);
  // Connection refused, three retries with 20/40/80 ms (+jitter) backoff.
  BOOST_CHECK_LT(ms_since(start), 2000);
}

BOOST_AUTO_TEST_CASE(requests_run_concurrently_up_to_the_cap) {
  llm_client_settings s = test_client_settings();
  s.max_per_endpoint = 8;
  auto capped = spawn_llm_client(sys, s);
  stub.set_latency_ms(100);
  constexpr int n = 40;
  for (int i = 0; i < n; ++i)
    self->send(capped, atom::complete_v, chat(stub.url()));
  int ok = 0;
  auto start = clock_type::now();
  self->receive_for(ok, n)([](llm_reply&) {},
                           [](caf::error& e) { BOOST_FAIL(render(e)); });
  auto took = ms_since(start);
  BOOST_CHECK_LE(stub.max_in_flight(), 8u);
  BOOST_CHECK_GE(stub.max_in_flight(), 6u);
  // 40 requests, 8 at a time, 100 ms each: about 500 ms, far below 4 s.
  BOOST_CHECK_LT(took, 2000);
  BOOST_CHECK_GE(took, 450);
  self->send_exit(capped, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_request_to_an_idle_client_goes_out_at_once) {
  // With nothing to do, the client's engine thread waits for its sockets
  // for up to a second; a request must end that wait, not the timeout. Ten
  // requests in turn, each once the client is idle again, to a server that
  // answers at once: woken every time they take a few ms, with the wake-up
  // lost about a second each.
  stub.set_latency_ms(0);
  auto start = clock_type::now();
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(20ms);
    auto reply = ask<llm_reply>(5s, client, atom::complete_v, chat(stub.url()));
    BOOST_REQUIRE_MESSAGE(reply, why(reply));
    BOOST_CHECK_EQUAL(reply->status, 200);
  }
  BOOST_CHECK_LT(ms_since(start), 5000);
}

BOOST_AUTO_TEST_CASE(no_reply_comes_before_the_stubs_latency) {
  // The stub sets a reply's timer early by what its timers were late of
  // late, and sets it again for the rest when it fires early. Here it
  // starts 20 ms early at a latency of 30 ms, so the first replies would
  // come after about 10 ms if it answered when the timer fired, and it
  // learns a smaller lead from each. Each reply must still take the whole
  // latency.
  llm_stub_server::options opts;
  opts.latency_ms = 30;
  opts.timer_lead_us = 20'000;
  llm_stub_server early{opts};
  BOOST_REQUIRE(early.start());
  for (int i = 0; i < 15; ++i) {
    auto start = clock_type::now();
    auto reply = ask<llm_reply>(5s, client, atom::complete_v,
                                chat(early.url()));
    auto took = ms_since(start);
    BOOST_REQUIRE_MESSAGE(reply, why(reply));
    BOOST_CHECK_EQUAL(reply->status, 200);
    BOOST_CHECK_GE(took, 30);
  }
}

BOOST_AUTO_TEST_CASE(replies_and_requests_wait_for_the_gathering_window) {
  // A window of one call's mean time (gather_share 1) from one call in
  // flight: after the client reads a reply, it reads the next, and sends
  // the requests made meanwhile, no sooner than ~400 ms later; a request
  // made outside a window goes out at once.
  llm_client_settings s = test_client_settings();
  s.gather_share = 1;
  s.gather_min_in_flight = 1;
  s.gather_max_us = 5'000'000;
  auto gathering = spawn_llm_client(sys, s);
  stub.set_latency_ms(400);
  auto first = ask<llm_reply>(5s, gathering, atom::complete_v,
                              chat(stub.url(), 5000, "first"));
  BOOST_REQUIRE_MESSAGE(first, why(first));
  auto body_of = [&](const char* what) {
    std::string body;
    self->receive(
      [&](llm_reply& r) { body = r.body; },
      [&](caf::error& e) { BOOST_FAIL(what << ": " << render(e)); },
      caf::after(5s) >> [&] { BOOST_FAIL(what << ": no reply in 5 s"); });
    return body;
  };
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock_type::now().time_since_epoch())
      .count();
  };
  auto arrived = [&](const char* content) {
    for (auto& rec : stub.requests())
      if (rec.body.find(std::string{R"("content":")"} + content + "\"")
          != std::string::npos)
        return rec.received_ms;
    return int64_t{-1};
  };
  // No window yet (the first reply came before any mean time was known):
  // x and y go out at once.
  auto x_sent = now_ms();
  self->send(gathering, atom::complete_v, chat(stub.url(), 5000, "x"));
  std::this_thread::sleep_for(100ms);
  auto y_sent = now_ms();
  self->send(gathering, atom::complete_v, chat(stub.url(), 5000, "y"));
  // x is read at ~400 ms and opens a window until ~800 ms.
  BOOST_CHECK_NE(body_of("x").find("Response to: x"), std::string::npos);
  BOOST_CHECK_LT(now_ms() - x_sent, 750);
  // z, made inside the window, waits for its end (~400 ms later).
  auto z_sent = now_ms();
  self->send(gathering, atom::complete_v, chat(stub.url(), 5000, "z"));
  // y's reply came at ~500 ms, inside the window: read at its end, ~700
  // ms after y went out (~400 if read at once).
  BOOST_CHECK_NE(body_of("y").find("Response to: y"), std::string::npos);
  auto y_ms = now_ms() - y_sent;
  BOOST_CHECK_GE(y_ms, 600);
  BOOST_CHECK_NE(body_of("z").find("Response to: z"), std::string::npos);
  auto y_arrived = arrived("y");
  auto z_arrived = arrived("z");
  BOOST_REQUIRE_GE(y_arrived, 0);
  BOOST_REQUIRE_GE(z_arrived, 0);
  BOOST_CHECK_LT(y_arrived - y_sent, 200);
  BOOST_CHECK_GE(z_arrived - z_sent, 300);
  self->send_exit(gathering, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(kept_alive_connections_survive_endpoint_restarts) {
  // The client keeps idle connections in its epoll set. When the endpoint
  // restarts on the same port, the server closes them while they are idle:
  // the client must drop them and open new ones (the closed sockets' numbers
  // are handed out again at once), round after round.
  auto port = stopped_port();
  llm_stub_server::options opts;
  opts.port = port;
  opts.latency_ms = 20;
  llm_stub_server server{opts};
  constexpr int rounds = 6;
  constexpr int n = 6;
  for (int round = 0; round < rounds; ++round) {
    BOOST_REQUIRE_MESSAGE(server.start(), "restart " << round);
    for (int i = 0; i < n; ++i)
      self->send(client, atom::complete_v, chat(server.url()));
    for (int i = 0; i < n; ++i)
      self->receive(
        [&](llm_reply& r) { BOOST_CHECK_EQUAL(r.status, 200); },
        [&](caf::error& e) { BOOST_FAIL("round " << round << ": " << render(e)); },
        caf::after(std::chrono::seconds(10)) >>
          [&] { BOOST_FAIL("round " << round << ": no reply in 10 s"); });
    server.stop();
    // Every other round, the client sees its idle connections closed
    // before the next requests; else the next requests come first and curl
    // finds the connections dead when it would reuse them, and closes them.
    if (round % 2 == 1)
      std::this_thread::sleep_for(50ms);
  }
  BOOST_CHECK_EQUAL(server.request_count(), size_t{rounds * n});
}

BOOST_AUTO_TEST_CASE(libcurl_posts_to_http_when_asked) {
  // The https:// transport, tried on http:// (no TLS server here): the
  // same reply, retries and errors as the own transport.
  llm_client_settings s = test_client_settings();
  s.curl_for_http = true;
  auto via_curl = spawn_llm_client(sys, s);
  auto reply = ask<llm_reply>(5s, via_curl, atom::complete_v, chat(stub.url()));
  BOOST_REQUIRE_MESSAGE(reply, why(reply));
  BOOST_CHECK_NE(reply->body.find("Response to: hello"), std::string::npos);
  stub.push_faults({{stub_fault::http_503, 0}});
  reply = ask<llm_reply>(5s, via_curl, atom::complete_v, chat(stub.url()));
  BOOST_REQUIRE_MESSAGE(reply, why(reply));
  BOOST_CHECK_EQUAL(reply->retries, 1);
  stub.push_faults({{stub_fault::timeout}});
  auto late = ask<llm_reply>(5s, via_curl, atom::complete_v,
                             chat(stub.url(), 300));
  BOOST_REQUIRE(!late);
  BOOST_CHECK(code_of(late.error()) == ec::timeout);
  BOOST_CHECK_EQUAL(stub.requests().back().authorization, "Bearer sk-test");
  self->send_exit(via_curl, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_proxy_in_the_environment_is_honoured) {
  // The own transport knows no proxies; with http_proxy set, http:// goes
  // through libcurl and its proxy, here one that refuses.
  auto dead = stopped_port();
  setenv("http_proxy", ("http://127.0.0.1:" + std::to_string(dead)).c_str(), 1);
  // The client reads the environment as it starts, before its first
  // request.
  auto proxied = spawn_llm_client(sys, test_client_settings());
  auto reply = ask<llm_reply>(10s, proxied, atom::complete_v, chat(stub.url()));
  unsetenv("http_proxy");
  BOOST_REQUIRE(!reply);
  BOOST_CHECK(code_of(reply.error()) == ec::unavailable);
  BOOST_CHECK_EQUAL(stub.request_count(), 0u);
  self->send_exit(proxied, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(bad_urls_are_invalid_arguments) {
  llm_request req = chat(stub.url());
  req.url = "ftp://example.org/v1/chat/completions";
  auto reply = ask<llm_reply>(5s, client, atom::complete_v, req);
  BOOST_REQUIRE(!reply);
  BOOST_CHECK(code_of(reply.error()) == ec::invalid_argument);
}

BOOST_AUTO_TEST_CASE(chat_urls_are_completed) {
  BOOST_CHECK_EQUAL(chat_completions_url("http://h:8000"),
                    "http://h:8000/v1/chat/completions");
  BOOST_CHECK_EQUAL(chat_completions_url("http://h:8000/v1/"),
                    "http://h:8000/v1/chat/completions");
  BOOST_CHECK_EQUAL(chat_completions_url("http://h/v1/chat/completions"),
                    "http://h/v1/chat/completions");
}

BOOST_AUTO_TEST_SUITE_END()
