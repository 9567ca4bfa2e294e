#include <regex>
#include <set>

#include <boost/test/unit_test.hpp>

#include "fixture.hpp"
#include "test_agents.hpp"

using namespace orch;
using namespace orch::test;

namespace {

struct orchestrator_fixture : deterministic_fixture {
  std::shared_ptr<call_log> log = std::make_shared<call_log>();
  orchestrator_actor orch_hdl;

  orchestrator_fixture() {
    orchestrator_settings os;
    os.cleanup_timer = false;
    os.cleanup_after = std::chrono::seconds(60);
    os.max_stored_results = 3;
    os.scorers = {make_scorer()};
    os.architect = spawn_architect(sys);
    auto lg = log;
    os.make_agent = [lg](caf::actor_system& sys,
                         const agent_spec& spec) -> caf::expected<agent_actor> {
      if (spec.backend == "scripted")
        return spawn_scripted_agent(sys, spec);
      if (spec.backend == "test")
        return sys.spawn(test_agent, spec, fault{}, lg);
      return caf::make_error(ec::invalid_argument,
                             "unknown agent type " + spec.backend);
    };
    orch_hdl = spawn_orchestrator(sys, std::move(os));
  }

  council_info create(std::string role, int32_t n,
                      std::string type = "scripted") {
    council_config cc;
    cc.role = std::move(role);
    cc.num_agents = n;
    cc.agent_type = std::move(type);
    return unbox(ask<council_info>(orch_hdl, atom::create_v, cc));
  }

  caf::expected<deliberation_outcome> deliberate(task_spec t) {
    return ask<deliberation_outcome>(orch_hdl, atom::deliberate_v, std::move(t),
                                     progress_listener_actor{});
  }

  caf::expected<deliberation_outcome> orchestrate(task_spec t) {
    return ask<deliberation_outcome>(orch_hdl, atom::orchestrate_v,
                                     std::move(t), progress_listener_actor{});
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(orchestrator, orchestrator_fixture)

BOOST_AUTO_TEST_CASE(council_and_agent_ids_follow_the_naming_scheme) {
  auto info = create("Dev", 3);
  BOOST_CHECK_EQUAL(info.council_id, "council-dev");
  BOOST_CHECK_EQUAL(info.role, "DEV");
  std::regex id_format{"agent-dev-[0-9]{3}"};
  std::set<std::string> unique;
  for (auto& id : info.agent_ids) {
    BOOST_CHECK_MESSAGE(std::regex_match(id, id_format), id);
    unique.insert(id);
  }
  BOOST_CHECK_EQUAL(unique.size(), 3u);
  auto qa = create("qa", 2);
  for (auto& id : qa.agent_ids)
    BOOST_CHECK(unique.insert(id).second);
}

BOOST_AUTO_TEST_CASE(registry_create_list_delete) {
  create("DEV", 3);
  create("QA", 2);
  council_config dup;
  dup.role = "dev";
  dup.num_agents = 1;
  auto again = ask<council_info>(orch_hdl, atom::create_v, dup);
  BOOST_REQUIRE(!again);
  BOOST_CHECK(code_of(again.error()) == ec::already_exists);
  auto all = unbox(ask<std::vector<council_info>>(orch_hdl, atom::list_v));
  BOOST_REQUIRE_EQUAL(all.size(), 2u);
  auto removed
    = unbox(ask<council_info>(orch_hdl, atom::remove_v, std::string{"qa"}));
  BOOST_CHECK_EQUAL(removed.council_id, "council-qa");
  all = unbox(ask<std::vector<council_info>>(orch_hdl, atom::list_v));
  BOOST_CHECK_EQUAL(all.size(), 1u);
  auto missing = ask<council_info>(orch_hdl, atom::remove_v, std::string{"QA"});
  BOOST_REQUIRE(!missing);
  BOOST_CHECK(code_of(missing.error()) == ec::not_found);
}

BOOST_AUTO_TEST_CASE(bad_council_requests_are_invalid_arguments) {
  council_config cc;
  cc.role = "  ";
  auto blank = ask<council_info>(orch_hdl, atom::create_v, cc);
  BOOST_REQUIRE(!blank);
  BOOST_CHECK(code_of(blank.error()) == ec::invalid_argument);
  cc.role = "DEV";
  cc.num_agents = 0;
  auto none = ask<council_info>(orch_hdl, atom::create_v, cc);
  BOOST_REQUIRE(!none);
  BOOST_CHECK(code_of(none.error()) == ec::invalid_argument);
  cc.num_agents = 2;
  cc.agent_type = "telepathy";
  auto unknown = ask<council_info>(orch_hdl, atom::create_v, cc);
  BOOST_REQUIRE(!unknown);
  BOOST_CHECK(code_of(unknown.error()) == ec::invalid_argument);
}

BOOST_AUTO_TEST_CASE(register_and_unregister_agents) {
  create("DEV", 2);
  agent_spec spec;
  spec.role = "dev";
  auto info = unbox(ask<council_info>(orch_hdl, atom::add_v, spec));
  BOOST_REQUIRE_EQUAL(info.agent_ids.size(), 3u);
  BOOST_CHECK_EQUAL(info.agent_ids.back(), "agent-dev-003");
  spec.agent_id = "agent-dev-003";
  auto dup = ask<council_info>(orch_hdl, atom::add_v, spec);
  BOOST_REQUIRE(!dup);
  BOOST_CHECK(code_of(dup.error()) == ec::already_exists);
  spec.role = "QA";
  auto nowhere = ask<council_info>(orch_hdl, atom::add_v, spec);
  BOOST_REQUIRE(!nowhere);
  BOOST_CHECK(code_of(nowhere.error()) == ec::not_found);
  info = unbox(ask<council_info>(orch_hdl, atom::remove_v, std::string{"DEV"},
                                 std::string{"agent-dev-001"}));
  BOOST_CHECK_EQUAL(info.agent_ids.size(), 2u);
  auto all = unbox(ask<std::vector<council_info>>(orch_hdl, atom::list_v));
  BOOST_CHECK_EQUAL(all.front().agent_ids.size(), 2u);
  auto out = unbox(deliberate(make_task("DEV", "Add a health endpoint")));
  BOOST_CHECK_EQUAL(out.results.size(), 2u);
}

BOOST_AUTO_TEST_CASE(unknown_role_is_not_found) {
  create("DEV", 3);
  auto out = deliberate(make_task("QA", "Test the login"));
  BOOST_REQUIRE(!out);
  BOOST_CHECK(code_of(out.error()) == ec::not_found);
  BOOST_CHECK_NE(render(out.error()).find("QA"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(blank_task_or_role_is_invalid_argument) {
  create("DEV", 3);
  auto blank_text = deliberate(make_task("DEV", "   \n"));
  BOOST_REQUIRE(!blank_text);
  BOOST_CHECK(code_of(blank_text.error()) == ec::invalid_argument);
  auto blank_role = deliberate(make_task("", "Add a login form"));
  BOOST_REQUIRE(!blank_role);
  BOOST_CHECK(code_of(blank_role.error()) == ec::invalid_argument);
  auto orchestrated = orchestrate(make_task("DEV", ""));
  BOOST_REQUIRE(!orchestrated);
  BOOST_CHECK(code_of(orchestrated.error()) == ec::invalid_argument);
}

BOOST_AUTO_TEST_CASE(winner_is_among_the_results) {
  create("DEV", 5);
  auto task = make_task("DEV", "Add password reset");
  task.constraints.k = 2;
  auto out = unbox(orchestrate(task));
  BOOST_REQUIRE_EQUAL(out.results.size(), 5u);
  auto it = std::find_if(out.results.begin(), out.results.end(), [&](auto& r) {
    return r.proposal.author_id == out.winner_id;
  });
  BOOST_REQUIRE(it != out.results.end());
  BOOST_CHECK_LE(it->rank, 2);
  BOOST_CHECK(!out.rationale.empty());
}

BOOST_AUTO_TEST_CASE(stats_after_two_deliberations_and_one_orchestration) {
  create("DEV", 3);
  create("QA", 3);
  auto t1 = make_task("DEV", "Add login");
  t1.task_id = "t1";
  auto t2 = make_task("DEV", "Add logout");
  t2.task_id = "t2";
  auto t3 = make_task("QA", "Test login");
  t3.task_id = "t3";
  unbox(deliberate(t1));
  unbox(deliberate(t2));
  unbox(orchestrate(t3));
  auto st = unbox(ask<orchestrator_stats>(orch_hdl, atom::stats_v));
  // Every orchestration runs one deliberation.
  BOOST_CHECK_EQUAL(st.total_deliberations, 3);
  BOOST_CHECK_EQUAL(st.total_orchestrations, 1);
  BOOST_CHECK_EQUAL(st.failed_deliberations, 0);
  BOOST_CHECK_EQUAL(st.active_councils, 2);
  BOOST_CHECK_EQUAL(st.role_counts["DEV"], 2);
  BOOST_CHECK_EQUAL(st.role_counts["QA"], 1);
  BOOST_CHECK_GE(st.p99_ms, st.p50_ms);
  BOOST_CHECK_GE(st.avg_ms, 0.0);
  // A failure counts too.
  deliberate(make_task("DATA", "Migrate"));
  BOOST_REQUIRE(!deliberate(make_task("DEV", " ")));
  st = unbox(ask<orchestrator_stats>(orch_hdl, atom::stats_v));
  BOOST_CHECK_EQUAL(st.total_deliberations, 3);
}

BOOST_AUTO_TEST_CASE(results_are_stored_by_task_id_and_bounded) {
  create("DEV", 2);
  for (int i = 1; i <= 4; ++i) {
    auto t = make_task("DEV", "Task number " + std::to_string(i));
    t.task_id = "t" + std::to_string(i);
    unbox(deliberate(t));
  }
  // At most three are kept: the oldest went first.
  auto first = ask<deliberation_outcome>(orch_hdl, atom::result_v,
                                         std::string{"t1"});
  BOOST_REQUIRE(!first);
  BOOST_CHECK(code_of(first.error()) == ec::not_found);
  auto last = unbox(
    ask<deliberation_outcome>(orch_hdl, atom::result_v, std::string{"t4"}));
  BOOST_CHECK_EQUAL(last.task_id, "t4");
  BOOST_CHECK_EQUAL(last.status, "completed");
}

BOOST_AUTO_TEST_CASE(failed_deliberations_are_stored_with_their_error) {
  council_config cc;
  cc.role = "DEV";
  cc.num_agents = 1;
  cc.agent_type = "scripted";
  unbox(ask<council_info>(orch_hdl, atom::create_v, cc));
  auto t = make_task("DEV", "Something");
  t.task_id = "doomed";
  t.constraints.k = -1;
  BOOST_REQUIRE(!deliberate(t));
  // Rejected before it ran: nothing stored.
  BOOST_CHECK(!ask<deliberation_outcome>(orch_hdl, atom::result_v,
                                         std::string{"doomed"}));
}

BOOST_AUTO_TEST_CASE(stored_results_expire) {
  create("DEV", 2);
  auto t = make_task("DEV", "Expiring task");
  t.task_id = "old";
  unbox(deliberate(t));
  BOOST_CHECK(
    ask<deliberation_outcome>(orch_hdl, atom::result_v, std::string{"old"}));
  // The clean-up uses wall-clock ages; with a zero age everything is due.
  orchestrator_settings os;
  os.cleanup_timer = false;
  os.cleanup_after = std::chrono::milliseconds(0);
  os.scorers = {make_scorer()};
  os.architect = spawn_architect(sys);
  os.make_agent = [](caf::actor_system& sys,
                     const agent_spec& spec) -> caf::expected<agent_actor> {
    return spawn_scripted_agent(sys, spec);
  };
  auto o2 = spawn_orchestrator(sys, os);
  council_config cc;
  cc.role = "DEV";
  cc.num_agents = 2;
  unbox(ask<council_info>(o2, atom::create_v, cc));
  unbox(ask<deliberation_outcome>(o2, atom::deliberate_v, t,
                                  progress_listener_actor{}));
  BOOST_CHECK(
    ask<deliberation_outcome>(o2, atom::result_v, std::string{"old"}));
  self->send(o2, atom::expire_v);
  sched.run();
  auto gone = ask<deliberation_outcome>(o2, atom::result_v, std::string{"old"});
  BOOST_REQUIRE(!gone);
  BOOST_CHECK(code_of(gone.error()) == ec::not_found);
}

BOOST_AUTO_TEST_SUITE_END()
