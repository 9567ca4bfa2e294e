#include <set>

#include <boost/test/unit_test.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/lanes.hpp"
#include "fixture.hpp"

using namespace orch;
using namespace orch::test;

namespace {

/// A group of two lanes, each an ORCHESTRATOR with scripted agents; lane 1
/// cannot make agents for the role FLAKY.
struct group_fixture : deterministic_fixture {
  std::vector<orchestrator_actor> lanes;
  orchestrator_actor group;

  group_fixture() {
    for (uint32_t k = 0; k < 2; ++k) {
      orchestrator_settings os;
      os.cleanup_timer = false;
      os.scorers = {make_scorer()};
      os.architect = spawn_architect(sys);
      os.home = lane{k, 2};
      os.make_agent = [in = os.home](caf::actor_system& sys,
                                     const agent_spec& spec)
        -> caf::expected<agent_actor> {
        if (in.index == 1 && spec.role == "FLAKY")
          return caf::make_error(ec::internal, "lane 1 makes no FLAKY agents");
        return spawn_scripted_agent(sys, spec, in);
      };
      lanes.push_back(spawn_orchestrator(sys, std::move(os)));
    }
    group = spawn_orchestrator_group(sys, lanes);
  }

  council_info create(std::string role, int32_t n) {
    council_config cc;
    cc.role = std::move(role);
    cc.num_agents = n;
    return unbox(ask<council_info>(group, atom::create_v, cc));
  }

  deliberation_outcome deliberate(task_spec t) {
    return unbox(ask<deliberation_outcome>(group, atom::deliberate_v,
                                           std::move(t),
                                           progress_listener_actor{}));
  }

  /// The councils of lane k, asked directly.
  std::vector<council_info> councils_of(size_t k) {
    return unbox(ask<std::vector<council_info>>(lanes[k], atom::list_v));
  }

  int64_t deliberations_of(size_t k) {
    return unbox(ask<orchestrator_stats>(lanes[k], atom::stats_v))
      .total_deliberations;
  }
};

task_spec task(std::string id, std::string story = "story-1") {
  auto t = make_task("DEV", "Add a health endpoint for " + id);
  t.task_id = std::move(id);
  t.story_id = std::move(story);
  return t;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(orchestrator_group, group_fixture)

BOOST_AUTO_TEST_CASE(every_lane_has_the_same_councils_and_agents) {
  auto info = create("dev", 2);
  BOOST_CHECK_EQUAL(info.council_id, "council-dev");
  for (size_t k = 0; k < 2; ++k) {
    auto cs = councils_of(k);
    BOOST_REQUIRE_EQUAL(cs.size(), 1u);
    BOOST_CHECK(cs.front().agent_ids == info.agent_ids);
  }
  // An agent added without an id gets the same id in every lane.
  agent_spec spec;
  spec.role = "DEV";
  auto added = unbox(ask<council_info>(group, atom::add_v, spec));
  BOOST_CHECK_EQUAL(added.agent_ids.back(), "agent-dev-003");
  for (size_t k = 0; k < 2; ++k)
    BOOST_CHECK(councils_of(k).front().agent_ids == added.agent_ids);
  spec.agent_id = "agent-dev-003";
  auto dup = ask<council_info>(group, atom::add_v, spec);
  BOOST_REQUIRE(!dup);
  BOOST_CHECK(code_of(dup.error()) == ec::already_exists);
  auto fewer = unbox(ask<council_info>(group, atom::remove_v,
                                       std::string{"DEV"},
                                       std::string{"agent-dev-001"}));
  BOOST_CHECK_EQUAL(fewer.agent_ids.size(), 2u);
  for (size_t k = 0; k < 2; ++k)
    BOOST_CHECK(councils_of(k).front().agent_ids == fewer.agent_ids);
  auto listed = unbox(ask<std::vector<council_info>>(group, atom::list_v));
  BOOST_REQUIRE_EQUAL(listed.size(), 1u);
  unbox(ask<council_info>(group, atom::remove_v, std::string{"dev"}));
  for (size_t k = 0; k < 2; ++k)
    BOOST_CHECK(councils_of(k).empty());
  auto gone = ask<council_info>(group, atom::remove_v, std::string{"dev"});
  BOOST_REQUIRE(!gone);
  BOOST_CHECK(code_of(gone.error()) == ec::not_found);
}

BOOST_AUTO_TEST_CASE(a_council_that_fails_in_one_lane_is_undone_in_all) {
  council_config cc;
  cc.role = "flaky";
  cc.num_agents = 2;
  auto failed = ask<council_info>(group, atom::create_v, cc);
  BOOST_REQUIRE(!failed);
  BOOST_CHECK_EQUAL(render(failed.error()).find("FLAKY agents")
                      != std::string::npos,
                    true);
  sched.run();
  // Lane 0 made it and took it back: no lane has half a council.
  BOOST_CHECK(councils_of(0).empty());
  BOOST_CHECK(councils_of(1).empty());
  auto none = ask<deliberation_outcome>(group, atom::deliberate_v,
                                        make_task("FLAKY", "Anything"),
                                        progress_listener_actor{});
  BOOST_REQUIRE(!none);
  BOOST_CHECK(code_of(none.error()) == ec::not_found);
}

BOOST_AUTO_TEST_CASE(deliberations_take_the_lanes_in_turn_and_stats_add_up) {
  create("DEV", 2);
  for (int i = 1; i <= 4; ++i)
    deliberate(task("t" + std::to_string(i)));
  BOOST_CHECK_EQUAL(deliberations_of(0), 2);
  BOOST_CHECK_EQUAL(deliberations_of(1), 2);
  auto st = unbox(ask<orchestrator_stats>(group, atom::stats_v));
  BOOST_CHECK_EQUAL(st.total_deliberations, 4);
  BOOST_CHECK_EQUAL(st.role_counts["DEV"], 4);
  BOOST_CHECK_EQUAL(st.active_councils, 1);
  BOOST_CHECK_GE(st.p99_ms, st.p50_ms);
  using counters = std::map<std::string, int64_t>;
  auto cs = unbox(ask<counters>(group, atom::stats_v, atom::get_v));
  BOOST_CHECK_EQUAL(cs["duration_count"], 4);
  BOOST_CHECK_EQUAL(cs["agent_calls scripted ok"], 8);
}

BOOST_AUTO_TEST_CASE(a_sender_pinned_to_a_lane_deliberates_in_it) {
  create("DEV", 2);
  // A client pinned to lane 1 runs three deliberations, one after another,
  // and reports each to the test.
  auto client = spawn_in_lane(
    sys, lane{1, 2},
    [](caf::event_based_actor* client, orchestrator_actor group,
       caf::actor report) -> caf::behavior {
      return {
        [=](atom::run, task_spec& t) {
          client
            ->request(group, caf::infinite, atom::deliberate_v, std::move(t),
                      progress_listener_actor{})
            .then([=](deliberation_outcome& out) {
              client->send(report, out.task_id);
            });
        },
      };
    },
    group, caf::actor{self});
  for (int i = 1; i <= 3; ++i) {
    self->send(client, atom::run_v, task("p" + std::to_string(i)));
    BOOST_REQUIRE(run_until_reply());
    self->receive([](const std::string&) {});
  }
  BOOST_CHECK_EQUAL(deliberations_of(0), 0);
  BOOST_CHECK_EQUAL(deliberations_of(1), 3);
  self->send_exit(client, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(look_ups_merge_the_lanes_and_the_newest_outcome_wins) {
  create("DEV", 2);
  deliberate(task("t1"));                  // lane 0
  deliberate(task("t2"));                  // lane 1
  deliberate(task("t3", "another story")); // lane 0
  auto again = deliberate(task("t1"));     // lane 1
  BOOST_CHECK_EQUAL(deliberations_of(0), 2);
  BOOST_CHECK_EQUAL(deliberations_of(1), 2);
  // t1 is stored in both lanes: the look-up answers the newer.
  auto t1 = unbox(
    ask<deliberation_outcome>(group, atom::result_v, std::string{"t1"}));
  BOOST_CHECK_EQUAL(t1.execution_id, again.execution_id);
  auto t2 = unbox(
    ask<deliberation_outcome>(group, atom::result_v, std::string{"t2"}));
  BOOST_CHECK_EQUAL(t2.task_id, "t2");
  auto missing = ask<deliberation_outcome>(group, atom::result_v,
                                           std::string{"t9"});
  BOOST_REQUIRE(!missing);
  BOOST_CHECK(code_of(missing.error()) == ec::not_found);
  // The story holds t2 and then t1 (its newer outcome), once each.
  auto story = unbox(ask<std::vector<deliberation_outcome>>(
    group, atom::list_v, std::string{"story-1"}));
  BOOST_REQUIRE_EQUAL(story.size(), 2u);
  BOOST_CHECK_EQUAL(story[0].task_id, "t2");
  BOOST_CHECK_EQUAL(story[1].task_id, "t1");
  BOOST_CHECK_EQUAL(story[1].execution_id, again.execution_id);
}

BOOST_AUTO_TEST_CASE(tasks_without_an_id_get_one_no_other_lane_gives) {
  create("DEV", 1);
  std::set<std::string> ids;
  for (int i = 0; i < 6; ++i)
    ids.insert(deliberate(task("")).task_id);
  BOOST_CHECK_EQUAL(ids.size(), 6u);
}

BOOST_AUTO_TEST_CASE(the_lanes_end_with_the_group) {
  for (auto& l : lanes)
    self->monitor(l);
  caf::anon_send_exit(group, caf::exit_reason::user_shutdown);
  sched.run();
  size_t down = 0;
  for (size_t i = 0; i < lanes.size(); ++i)
    self->receive([&](caf::down_msg&) { ++down; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  BOOST_CHECK_EQUAL(down, 2u);
}

BOOST_AUTO_TEST_SUITE_END()
