// AGENT HUB and `remote` agents: commands go to the sink, responses are
// matched by correlation id, task id and agent id; late, duplicate and
// foreign responses are ignored; a call without an answer times out.

#include <mutex>

#include <boost/test/unit_test.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "llm_fixture.hpp"
#include "messages/events.hpp"

using namespace orch;
using namespace orch::test;
using namespace std::chrono_literals;

namespace {

/// Keeps every command the hub publishes.
struct commands {
  std::mutex mtx;
  std::vector<outbound_event> seen;

  std::vector<outbound_event> get() {
    std::lock_guard<std::mutex> guard{mtx};
    return seen;
  }
};

event_sink_actor::behavior_type
command_sink(event_sink_actor::pointer self, std::shared_ptr<commands> out) {
  return {
    [=](atom::publish, std::vector<outbound_event>& evs) -> int32_t {
      std::lock_guard<std::mutex> guard{out->mtx};
      for (auto& ev : evs)
        out->seen.push_back(ev);
      return static_cast<int32_t>(evs.size());
    },
    [=](atom::progress, outbound_event& ev) {
      std::lock_guard<std::mutex> guard{out->mtx};
      out->seen.push_back(ev);
    },
  };
}

struct hub_fixture {
  threaded_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::shared_ptr<commands> cmds = std::make_shared<commands>();
  event_sink_actor sink = sys.spawn(command_sink, cmds);
  agent_hub_actor hub = spawn_agent_hub(sys, sink);

  ~hub_fixture() {
    self->send_exit(hub, caf::exit_reason::user_shutdown);
    self->send_exit(sink, caf::exit_reason::user_shutdown);
  }

  /// Waits for the n-th command and returns its payload.
  nlohmann::json command(size_t n) {
    for (int i = 0; i < 500; ++i) {
      auto xs = cmds->get();
      if (xs.size() > n)
        return nlohmann::json::parse(xs[n].payload);
      std::this_thread::sleep_for(2ms);
    }
    BOOST_FAIL("no command " << n);
    return {};
  }

  agent_response answer(const nlohmann::json& cmd, std::string content) {
    agent_response r;
    r.task_id = cmd.value("task_id", "");
    r.agent_id = cmd.value("agent_id", "");
    r.role = cmd.value("role", "");
    r.correlation_id = cmd.value("correlation_id", "");
    r.content = std::move(content);
    return r;
  }
};

task_spec task() {
  task_spec t;
  t.task_id = "P/T1";
  t.role = "DEV";
  t.description = "Add input validation";
  return t;
}

} // namespace

BOOST_AUTO_TEST_SUITE(remote_agent)

BOOST_FIXTURE_TEST_CASE(generate_completes_on_the_matching_response,
                        hub_fixture) {
  agent_spec spec;
  spec.agent_id = "agent-dev-001";
  spec.role = "DEV";
  auto agent = spawn_remote_agent(sys, spec, hub, 5000);
  auto rh = self->request(agent, 10s, atom::generate_v, task_ref{task()});
  auto cmd = command(0);
  auto subj = cmds->get()[0].subject;
  BOOST_CHECK_EQUAL(subj, "agent.cmd.dev.generate");
  BOOST_CHECK_EQUAL(cmd.value("op", ""), "generate");
  BOOST_CHECK_EQUAL(cmd["input"]["task"].value("description", ""),
                    "Add input validation");
  // A response for another agent or task, and one with an unknown
  // correlation id, change nothing.
  auto foreign = answer(cmd, "wrong");
  foreign.agent_id = "agent-dev-002";
  self->send(hub, foreign);
  auto unknown = answer(cmd, "wrong");
  unknown.correlation_id = "nobody";
  self->send(hub, unknown);
  self->send(hub, answer(cmd, "the proposal"));
  // A duplicate after the answer is ignored.
  self->send(hub, answer(cmd, "late duplicate"));
  proposal got;
  std::move(rh).receive([&](proposal& p) { got = p; },
                        [&](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_CHECK_EQUAL(got.content, "the proposal");
  BOOST_CHECK_EQUAL(got.author_id, "agent-dev-001");
  self->send_exit(agent, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(critique_and_revise_and_failures, hub_fixture) {
  agent_spec spec;
  spec.agent_id = "agent-dev-002";
  spec.role = "DEV";
  auto agent = spawn_remote_agent(sys, spec, hub, 5000);
  proposal target;
  target.id = "p1";
  target.author_id = "agent-dev-001";
  target.content = "draft";
  auto rh = self->request(agent, 10s, atom::critique_v, task_ref{task()},
                          proposal_ref{target}, int32_t{1});
  auto cmd = command(0);
  BOOST_CHECK_EQUAL(cmd["input"]["proposal"].value("content", ""), "draft");
  self->send(hub, answer(cmd, "- missing tests\n- missing docs"));
  critique c;
  std::move(rh).receive([&](critique& x) { c = x; },
                        [&](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_CHECK_EQUAL(c.issues.size(), 2u);
  BOOST_CHECK_EQUAL(c.target_author_id, "agent-dev-001");
  // A worker that reports failure fails the call with its reason.
  auto rv = self->request(agent, 10s, atom::revise_v, task_ref{task()},
                          proposal_ref{target}, std::vector<critique>{c});
  cmd = command(1);
  auto failed = answer(cmd, "");
  failed.ok = false;
  failed.error = "out of memory";
  failed.error_type = "oom";
  self->send(hub, failed);
  caf::error err;
  std::move(rv).receive([](proposal&) { BOOST_FAIL("expected an error"); },
                        [&](caf::error& e) { err = e; });
  BOOST_CHECK(code_of(err) == ec::agent_failed);
  BOOST_CHECK_NE(render(err).find("out of memory"), std::string::npos);
  self->send_exit(agent, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(a_call_without_answer_times_out, hub_fixture) {
  agent_spec spec;
  spec.agent_id = "agent-dev-003";
  spec.role = "DEV";
  auto agent = spawn_remote_agent(sys, spec, hub, 100);
  caf::error err;
  self->request(agent, 10s, atom::generate_v, task_ref{task()})
    .receive([](proposal&) { BOOST_FAIL("expected a timeout"); },
             [&](caf::error& e) { err = e; });
  BOOST_CHECK(code_of(err) == ec::timeout);
  BOOST_CHECK_NE(render(err).find("did not answer generate within 100 ms"),
                 std::string::npos);
  // The late answer is ignored (nothing waits for it any more).
  self->send(hub, answer(command(0), "too late"));
  self->send_exit(agent, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
