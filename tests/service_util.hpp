#pragma once

// Helpers of the service suites: a private nats-server per test (JetStream,
// its own store, a free loopback port, stopped by pid), child processes
// (`orchestrator serve`, workers), and a reader of the events in the
// ORCHESTRATOR_EVENTS stream.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>


#include <boost/test/unit_test.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "bridges/grpc_client.hpp"
#include "bridges/nats_link.hpp"
#include "tests/child_process.hpp"
#include "messages/events.hpp"

namespace orch::test {

/// A private nats-server with JetStream for one test.
class nats_server {
public:
  explicit nats_server(const std::string& dir,
                       std::vector<std::string> extra = {})
      : dir_(dir), extra_(std::move(extra)) {
    // free_port() cannot reserve its port: another process of a parallel
    // suite may listen there before nats-server does, which then exits
    // while the port looks open. So take a fresh port until ours answers.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      proc_ = start_nats_server(dir_, port_, extra_);
      if (ours_answers())
        return;
      proc_.kill_now();
    }
    BOOST_FAIL("nats-server did not start: " << proc_.output());
  }

  /// Starts it again on the same port (after stop()).
  void start() {
    proc_ = start_nats_server(dir_, port_, extra_);
    BOOST_REQUIRE_MESSAGE(ours_answers(), "nats-server did not start");
  }

  /// Stops the server (SIGTERM; SIGKILL when `hard`) and waits for it.
  void stop(bool hard = false) {
    proc_.signal(hard ? SIGKILL : SIGTERM);
    proc_.wait(std::chrono::seconds(10));
    proc_.kill_now();
  }

  std::string url() const {
    return "nats://127.0.0.1:" + std::to_string(port_);
  }

  int port() const {
    return port_;
  }

private:
  /// Whether our process still runs and a NATS server greets on the port.
  bool ours_answers() {
    return port_open(port_) && proc_.wait(std::chrono::milliseconds(0)) == -1
           && greets_with(port_, "INFO ");
  }

  std::string dir_;
  int port_ = 0;
  std::vector<std::string> extra_;
  child proc_;
};

/// Starts `orchestrator serve` with `env`, its output in `log`; HTTP_PORT
/// and GRPC_PORT are 0 (any free port) unless `env` sets them.
inline child start_serve(std::vector<std::string> env, const std::string& log) {
  for (auto var : {"HTTP_PORT=", "GRPC_PORT="})
    if (std::none_of(env.begin(), env.end(), [var](const std::string& e) {
          return e.rfind(var, 0) == 0;
        }))
      env.push_back(std::string{var} + "0");
  return child({ORCH_BINARY, "serve"}, std::move(env), log);
}

/// An event read back from the stream.
struct seen_event {
  std::string subject;
  nlohmann::json envelope;
  std::map<std::string, std::string> headers;

  const nlohmann::json& payload() const {
    return envelope["payload"];
  }
};

/// Connects a test client (fails the test when NATS is not there).
inline nats_link_ptr client(const std::string& url, nats_settings s = {}) {
  s.url = url;
  s.retry_forever = false;
  s.name = "orch-test";
  auto link = nats_connect(s);
  // A loaded machine can stall a handshake past its timeout: try again.
  for (int i = 0; i < 2 && !link; ++i)
    link = nats_connect(s);
  BOOST_REQUIRE_MESSAGE(link, "cannot connect to " << url << ": "
                                << (link ? "" : render(link.error())));
  BOOST_REQUIRE(!ensure_streams(**link));
  return *link;
}

/// Every event in ORCHESTRATOR_EVENTS now (as stored: JetStream already
/// dropped duplicate message ids).
inline std::vector<seen_event> stream_events(nats_link& link) {
  std::vector<seen_event> out;
  auto f = follow(link, "orchestration.>", true);
  if (!f)
    return out;
  while (auto m = (*f)->next(std::chrono::milliseconds(300))) {
    seen_event ev;
    ev.subject = m->subject;
    ev.headers = m->headers;
    auto ct = m->headers.find("Content-Type");
    if (ct != m->headers.end() && ct->second.find("msgpack") != std::string::npos)
      ev.envelope = nlohmann::json::from_msgpack(m->data, true, false);
    else
      ev.envelope = nlohmann::json::parse(m->data, nullptr, false);
    out.push_back(std::move(ev));
    // The stream as it is now: while a plan runs, events may never pause
    // for 300 ms, and a reader that waits for a pause reads on to its end.
    if ((*f)->caught_up())
      break;
  }
  return out;
}

/// Waits until the stream holds orchestration.plan.completed for the plan;
/// returns every event of the stream then (empty on timeout).
inline std::vector<seen_event> await_plan(nats_link& link,
                                          const std::string& plan_id,
                                          std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    auto evs = stream_events(link);
    for (auto& ev : evs)
      if (ev.subject == subject::plan_completed
          && ev.envelope.is_object()
          && ev.payload().value("plan_id", "") == plan_id)
        return evs;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return {};
}

/// Events of one subject concerning one plan.
inline std::vector<seen_event> of(const std::vector<seen_event>& evs,
                                  const std::string& subj,
                                  const std::string& plan_id) {
  std::vector<seen_event> out;
  for (auto& ev : evs) {
    if (ev.subject != subj || !ev.envelope.is_object())
      continue;
    auto& p = ev.payload();
    if (p.value("plan_id", "") == plan_id
        || p.value("task_id", "").rfind(plan_id + "/", 0) == 0)
      out.push_back(ev);
  }
  return out;
}

/// Publishes a payload in the envelope (JSON, or msgpack).
inline void publish(nats_link& link, const std::string& subj,
                    const nlohmann::json& payload, bool msgpack = false,
                    const std::string& correlation = "corr-test",
                    const std::string& traceparent = "") {
  outbound_event ev;
  ev.subject = subj;
  ev.payload = payload.dump();
  ev.correlation_id = correlation;
  ev.idempotency_key = "test-" + std::to_string(now_ms()) + "-"
                       + std::to_string(std::rand());
  ev.traceparent = traceparent;
  auto bytes = encode_envelope(ev, msgpack);
  BOOST_REQUIRE(
    !publish_sync(link, subj, bytes, event_headers(ev, msgpack)));
}

/// Publishes raw bytes with headers.
inline void publish_raw(nats_link& link, const std::string& subj,
                        const std::string& bytes,
                        std::map<std::string, std::string> h = {}) {
  h["Nats-Msg-Id"] = "raw-" + std::to_string(now_ms()) + "-"
                     + std::to_string(std::rand());
  BOOST_REQUIRE(!publish_sync(link, subj, bytes, h));
}

/// Tasks of a plan: (id, role, dependencies).
using plan_tasks
  = std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>;

/// n tasks of one role without dependencies: PREFIX1 .. PREFIXn.
inline plan_tasks independent(int n, const std::string& role = "DEV",
                              const std::string& prefix = "T") {
  plan_tasks out;
  for (int i = 1; i <= n; ++i)
    out.emplace_back(prefix + std::to_string(i), role,
                     std::vector<std::string>{});
  return out;
}

/// A plan payload with explicit tasks: (id, role, dependencies).
inline nlohmann::json
plan_payload(const std::string& plan_id,
             const plan_tasks& tasks) {
  auto arr = nlohmann::json::array();
  for (auto& [id, role, deps] : tasks)
    arr.push_back({{"task_id", id},
                   {"role", role},
                   {"description", "Implement " + id + " of " + plan_id
                                     + " with input validation"},
                   {"dependencies", deps},
                   {"priority", 1},
                   {"constraints",
                    {{"rubric", "secure and tested"},
                     {"requirements", {"input validation"}}}}});
  return {{"story_id", "story-" + plan_id},
          {"plan_id", plan_id},
          {"approved_by", "tester"},
          {"timestamp", 1764000000.5},
          {"tasks", arr}};
}

/// Every task of the plan has exactly one event of each completion subject
/// (deliberation and task).
inline void check_once(const std::vector<seen_event>& evs,
                       const std::string& plan, size_t tasks) {
  for (auto subj : {subject::completed, subject::task_completed}) {
    std::map<std::string, int> n;
    for (auto& ev : of(evs, subj, plan))
      ++n[ev.payload().value("task_id", "")];
    BOOST_CHECK_EQUAL(n.size(), tasks);
    for (auto& [id, k] : n)
      BOOST_CHECK_MESSAGE(k == 1, id << ": " << k << " x " << subj);
  }
}

/// Waits until a service's GetStatus says healthy, asking every 100 ms for
/// at most 30 s: a `serve` built with ASan starts in seconds, but once it
/// took more than 10 s while other sanitizer suites ran beside it on 2
/// cores.
inline bool healthy(grpc_client& client) {
  for (int i = 0; i < 300; ++i) {
    auto st = client.status();
    if (st && st->status == "healthy")
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

/// What GET /readyz on `port` answers once its body names `reason` (asked
/// every 100 ms, for at most 10 s): the status and the body.
inline std::pair<int, std::string> readiness_naming(int port,
                                                    const std::string& reason) {
  httplib::Client http{"127.0.0.1", port};
  std::pair<int, std::string> out{0, ""};
  for (int i = 0; i < 100 && out.second.find(reason) == std::string::npos;
       ++i) {
    if (auto res = http.Get("/readyz"))
      out = {res->status, res->body};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return out;
}

} // namespace orch::test
