#include <algorithm>
#include <random>
#include <set>
#include <tuple>

#include <boost/test/unit_test.hpp>

#include "actors/deliberation.hpp"
#include "fixture.hpp"
#include "test_agents.hpp"

using namespace orch;
using namespace orch::test;

namespace {

struct council_fixture : deterministic_fixture {
  std::shared_ptr<call_log> log = std::make_shared<call_log>();
  scorer_actor scorer = make_scorer();
  std::vector<council_actor> councils;

  ~council_fixture() {
    // Hanging test agents hold promises; shut the councils (and with them
    // their agents) down so that the actor system can stop.
    for (auto& c : councils)
      self->send_exit(c, caf::exit_reason::user_shutdown);
    sched.run();
  }

  council_actor
  make_council(int n, std::vector<fault> faults = {}, int32_t quorum = 1,
               std::chrono::milliseconds limit = std::chrono::seconds(300)) {
    council_settings cs;
    cs.role = "DEV";
    cs.rounds = 1;
    cs.quorum = quorum;
    cs.deliberation_timeout = limit;
    cs.scorers = {scorer};
    councils.push_back(
      spawn_council(sys, cs, make_test_agents(sys, "DEV", n, log, faults)));
    return councils.back();
  }

  caf::expected<deliberation_outcome> deliberate(council_actor c,
                                                 task_spec task) {
    return ask<deliberation_outcome>(c, atom::deliberate_v,
                                     task_ref{std::move(task)},
                                     progress_listener_actor{});
  }
};

/// Collects progress updates.
struct listener_state {
  static inline const char* name = "test-listener";
};

progress_listener_actor::behavior_type
collecting_listener(progress_listener_actor::stateful_pointer<listener_state>,
                    std::shared_ptr<std::vector<deliberation_update>> sink) {
  return {
    [sink](deliberation_update& up) { sink->push_back(std::move(up)); },
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(council, council_fixture)

BOOST_AUTO_TEST_CASE(results_are_sorted_by_score_with_ranks_1_to_n) {
  auto c = make_council(4);
  auto out = unbox(deliberate(c, make_task("DEV", "Build the login API")));
  BOOST_REQUIRE_EQUAL(out.results.size(), 4u);
  for (size_t i = 0; i < out.results.size(); ++i) {
    BOOST_CHECK_EQUAL(out.results[i].rank, static_cast<int32_t>(i + 1));
    if (i > 0)
      BOOST_CHECK_GE(out.results[i - 1].score, out.results[i].score);
    BOOST_CHECK_EQUAL(out.results[i].score, out.results[i].checks.score);
  }
  BOOST_CHECK_EQUAL(out.winner_id, out.results.front().proposal.author_id);
  BOOST_CHECK_EQUAL(out.status, "completed");
  // The deliberation makes its results in rank order: the order
  // rank_results gives them, ties broken the same way.
  auto again = out.results;
  rank_results(again);
  for (size_t i = 0; i < again.size(); ++i)
    BOOST_CHECK_EQUAL(again[i].proposal.author_id,
                      out.results[i].proposal.author_id);
  BOOST_CHECK(!out.execution_id.empty());
  BOOST_CHECK_EQUAL(out.task_id, "task-1");
  BOOST_CHECK(out.failed_agents.empty());
}

BOOST_AUTO_TEST_CASE(generate_is_called_once_per_agent_with_diversity) {
  auto c = make_council(3);
  auto out = unbox(deliberate(c, make_task("DEV", "Add OAuth login", 0)));
  BOOST_CHECK_EQUAL(log->generates.size(), 3u);
  for (int i = 1; i <= 3; ++i)
    BOOST_CHECK_EQUAL(log->count(log->generates, agent_id_for("DEV", i)), 1u);
  std::set<std::string> contents;
  for (auto& r : out.results)
    contents.insert(r.proposal.content);
  BOOST_CHECK_EQUAL(contents.size(), 3u);
}

BOOST_AUTO_TEST_CASE(two_rounds_mean_two_critiques_and_two_revisions_each) {
  auto c = make_council(3);
  auto out = unbox(deliberate(c, make_task("DEV", "Add OAuth login", 2)));
  BOOST_CHECK_EQUAL(log->critiques.size(), 6u);
  BOOST_CHECK_EQUAL(log->revises.size(), 6u);
  for (int i = 1; i <= 3; ++i) {
    auto id = agent_id_for("DEV", i);
    BOOST_CHECK_EQUAL(log->count(log->revises, id), 2u);
    auto n = std::count_if(log->critiques.begin(), log->critiques.end(),
                           [&](auto& x) { return std::get<0>(x) == id; });
    BOOST_CHECK_EQUAL(n, 2);
  }
  for (auto& r : out.results) {
    BOOST_CHECK_EQUAL(r.proposal.revisions.size(), 2u);
    BOOST_CHECK_NE(r.proposal.revisions.front(), r.proposal.content);
  }
}

BOOST_AUTO_TEST_CASE(zero_rounds_mean_no_critique) {
  auto c = make_council(3);
  auto out = unbox(deliberate(c, make_task("DEV", "Add OAuth login", 0)));
  BOOST_CHECK(log->critiques.empty());
  BOOST_CHECK(log->revises.empty());
  for (auto& r : out.results)
    BOOST_CHECK(r.proposal.revisions.empty());
}

BOOST_AUTO_TEST_CASE(three_agents_review_in_a_ring) {
  auto c = make_council(3);
  unbox(deliberate(c, make_task("DEV", "Add OAuth login", 1)));
  BOOST_REQUIRE_EQUAL(log->critiques.size(), 3u);
  std::set<std::pair<std::string, std::string>> pairs;
  for (auto& [critic, author, round] : log->critiques) {
    pairs.emplace(critic, author);
    BOOST_CHECK_EQUAL(round, 1);
  }
  std::set<std::pair<std::string, std::string>> expected{
    {"agent-dev-001", "agent-dev-002"},
    {"agent-dev-002", "agent-dev-003"},
    {"agent-dev-003", "agent-dev-001"}};
  BOOST_CHECK(pairs == expected);
}

BOOST_AUTO_TEST_CASE(revision_addresses_the_critique) {
  auto c = make_council(3);
  auto out = unbox(deliberate(c, make_task("DEV", "Add OAuth login", 3)));
  // Every round addresses at least one issue, requirements first: after
  // three rounds every proposal names every requirement.
  for (auto& r : out.results) {
    BOOST_CHECK_EQUAL(r.proposal.revisions.size(), 3u);
    for (auto& req : {"input validation", "rate limiting", "audit logging"})
      BOOST_CHECK_MESSAGE(r.proposal.content.find(req) != std::string::npos,
                          r.proposal.author_id << " lacks " << req);
    BOOST_CHECK(r.checks.policy.passed);
  }
}

BOOST_AUTO_TEST_CASE(failing_agent_is_dropped_with_reason) {
  auto c = make_council(3, {fault{}, fault{"generate", "error"}});
  auto out = unbox(deliberate(c, make_task("DEV", "Add OAuth login", 1)));
  BOOST_CHECK_EQUAL(out.results.size(), 2u);
  BOOST_REQUIRE_EQUAL(out.failed_agents.size(), 1u);
  BOOST_CHECK_EQUAL(out.failed_agents[0].agent_id, "agent-dev-002");
  BOOST_CHECK_EQUAL(out.failed_agents[0].phase, "generate");
  BOOST_CHECK_NE(out.failed_agents[0].reason.find("injected failure"),
                 std::string::npos);
  for (auto& r : out.results)
    BOOST_CHECK_NE(r.proposal.author_id, "agent-dev-002");
  // The ring closes over the survivors: 001 and 003 review each other.
  BOOST_CHECK_EQUAL(log->critiques.size(), 2u);
}

BOOST_AUTO_TEST_CASE(slow_agent_past_its_limit_is_dropped) {
  auto c = make_council(3, {fault{}, fault{}, fault{"critique", "hang"}});
  auto task = make_task("DEV", "Add OAuth login", 1);
  task.constraints.timeout_seconds = 2;
  auto out = unbox(deliberate(c, task));
  BOOST_CHECK_EQUAL(out.results.size(), 2u);
  BOOST_REQUIRE_EQUAL(out.failed_agents.size(), 1u);
  BOOST_CHECK_EQUAL(out.failed_agents[0].agent_id, "agent-dev-003");
  BOOST_CHECK_EQUAL(out.failed_agents[0].phase, "critique");
  BOOST_CHECK_EQUAL(out.failed_agents[0].reason, "timed out after 2 s");
}

BOOST_AUTO_TEST_CASE(quorum_not_reached_fails_with_clear_error) {
  auto c = make_council(
    3, {fault{"generate", "error"}, fault{"generate", "error"}, fault{}}, 2);
  auto out = deliberate(c, make_task("DEV", "Add OAuth login", 1));
  BOOST_REQUIRE(!out);
  BOOST_CHECK(code_of(out.error()) == ec::quorum_not_reached);
  auto text = render(out.error());
  BOOST_CHECK_NE(text.find("1 of 3 proposals survived"), std::string::npos);
  BOOST_CHECK_NE(text.find("agent-dev-001 generate"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(hanging_agents_hit_the_deliberation_limit) {
  // No per-call limit: only the whole-deliberation limit ends it.
  auto c = make_council(2, {fault{"generate", "hang"}, fault{}}, 1,
                        std::chrono::seconds(5));
  auto out = deliberate(c, make_task("DEV", "Add OAuth login", 1));
  BOOST_REQUIRE(!out);
  BOOST_CHECK(code_of(out.error()) == ec::timeout);
  BOOST_CHECK_NE(render(out.error()).find("exceeded its limit of 5000 ms"),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_limit_still_holds_after_many_deliberations_ended) {
  // The first deliberation waits for agent 1's held reply while 1,500 more
  // end, enough for the council to sweep their entries out of its queue of
  // deadlines several times: the first one's entry must stay and fire.
  auto c = make_council(2, {fault{"generate", "late"}, fault{}}, 1,
                        std::chrono::seconds(5));
  auto first = self->request(c, caf::infinite, atom::deliberate_v,
                             task_ref{make_task("DEV", "Add OAuth login", 1)},
                             progress_listener_actor{});
  sched.run();
  BOOST_REQUIRE_EQUAL(log->late.size(), 1u);
  for (int i = 0; i < 1500; ++i) {
    auto task = make_task("DEV", "Add SAML login", 0);
    task.task_id = "task-" + std::to_string(i + 2);
    auto rh = self->request(c, caf::infinite, atom::deliberate_v,
                            task_ref{task}, progress_listener_actor{});
    sched.run(); // no clock: the first one's limit has not come
    std::move(rh).receive(
      [&](deliberation_outcome& out) {
        BOOST_REQUIRE_EQUAL(out.task_id, task.task_id);
      },
      [&](caf::error& err) { BOOST_FAIL(render(err)); });
  }
  BOOST_REQUIRE(run_until_reply());
  std::move(first).receive(
    [&](deliberation_outcome&) { BOOST_FAIL("the first one ended"); },
    [&](caf::error& err) {
      BOOST_CHECK(code_of(err) == ec::timeout);
      BOOST_CHECK_NE(render(err).find("exceeded its limit of 5000 ms"),
                     std::string::npos);
    });
}

BOOST_AUTO_TEST_CASE(workers_are_reused_when_all_replies_are_in) {
  auto c = make_council(3);
  auto before = sys.registry().running();
  for (int i = 0; i < 5; ++i) {
    auto task = make_task("DEV", "Add OAuth login " + std::to_string(i), 1);
    auto out = unbox(deliberate(c, task));
    BOOST_CHECK_EQUAL(out.results.size(), 3u);
    BOOST_CHECK_EQUAL(out.task_id, task.task_id);
    sched.run();
    // One worker, taken again each time: not one per deliberation, and
    // not none (each deliberation would then start and end an actor).
    BOOST_CHECK_EQUAL(sys.registry().running(), before + 1);
  }
}

BOOST_AUTO_TEST_CASE(a_worker_awaiting_a_reply_is_not_reused) {
  // Agent 1 holds its first proposal; the first deliberation times out
  // with that reply still to come.
  auto c = make_council(2, {fault{"generate", "late"}, fault{}}, 1,
                        std::chrono::seconds(5));
  auto first = deliberate(c, make_task("DEV", "Add OAuth login", 1));
  BOOST_REQUIRE(!first);
  BOOST_CHECK(code_of(first.error()) == ec::timeout);
  BOOST_REQUIRE_EQUAL(log->late.size(), 1u);
  // The second deliberation starts; then the first one's reply arrives. It
  // must not count in the second (a reused worker would run its handler).
  auto second_task = make_task("DEV", "Add SAML login", 1);
  second_task.task_id = "task-2";
  auto rh = self->request(c, caf::infinite, atom::deliberate_v,
                          task_ref{second_task}, progress_listener_actor{});
  proposal stale;
  stale.id = "stale/1";
  stale.author_id = "agent-dev-001";
  stale.author_role = "DEV";
  stale.content = "a reply of the first deliberation";
  log->late.front().deliver(stale);
  BOOST_REQUIRE(run_until_reply());
  std::move(rh).receive(
    [&](deliberation_outcome& out) {
      BOOST_CHECK_EQUAL(out.task_id, second_task.task_id);
      BOOST_CHECK_EQUAL(out.results.size(), 2u);
      for (auto& r : out.results) {
        BOOST_CHECK_NE(r.proposal.id, "stale/1");
        BOOST_CHECK_EQUAL(r.proposal.revisions.size(), 1u);
      }
    },
    [&](caf::error& err) { BOOST_FAIL(render(err)); });
}

BOOST_AUTO_TEST_CASE(progress_reaches_the_listener) {
  auto sink = std::make_shared<std::vector<deliberation_update>>();
  auto listener = sys.spawn(collecting_listener, sink);
  auto c = make_council(3);
  auto out = unbox(ask<deliberation_outcome>(
    c, atom::deliberate_v, task_ref{make_task("DEV", "Add OAuth login", 1)},
    listener));
  sched.run();
  BOOST_REQUIRE(!sink->empty());
  std::set<std::string> phases;
  int last = -1;
  for (auto& up : *sink) {
    phases.insert(up.status);
    BOOST_CHECK_GE(up.progress_percent, last);
    last = up.progress_percent;
    BOOST_CHECK_EQUAL(up.execution_id, out.execution_id);
  }
  for (auto p : {"generating", "reviewing", "revising", "scoring", "complete"})
    BOOST_CHECK_MESSAGE(phases.count(p) == 1, "missing phase " << p);
  BOOST_CHECK_EQUAL(sink->back().progress_percent, 100);
}

BOOST_AUTO_TEST_CASE(agents_can_be_added_and_removed) {
  auto c = make_council(2);
  auto extra = make_test_agents(sys, "DEV", 3, log).back();
  auto info
    = unbox(ask<council_info>(c, atom::add_v, extra.first, extra.second));
  BOOST_CHECK_EQUAL(info.agent_ids.size(), 3u);
  auto dup = ask<council_info>(c, atom::add_v, extra.first, extra.second);
  BOOST_REQUIRE(!dup);
  BOOST_CHECK(code_of(dup.error()) == ec::already_exists);
  info
    = unbox(ask<council_info>(c, atom::remove_v, std::string{"agent-dev-001"}));
  BOOST_CHECK_EQUAL(info.agent_ids.size(), 2u);
  auto gone = ask<council_info>(c, atom::remove_v,
                                std::string{"agent-dev-001"});
  BOOST_REQUIRE(!gone);
  BOOST_CHECK(code_of(gone.error()) == ec::not_found);
}

BOOST_AUTO_TEST_CASE(ranking_breaks_ties_deterministically) {
  std::vector<deliberation_result> xs(3);
  xs[0].proposal.author_id = "agent-dev-003";
  xs[0].score = 0.5;
  xs[1].proposal.author_id = "agent-dev-001";
  xs[1].score = 0.5;
  xs[2].proposal.author_id = "agent-dev-002";
  xs[2].score = 0.9;
  rank_results(xs);
  BOOST_CHECK_EQUAL(xs[0].proposal.author_id, "agent-dev-002");
  BOOST_CHECK_EQUAL(xs[1].proposal.author_id, "agent-dev-001");
  BOOST_CHECK_EQUAL(xs[2].proposal.author_id, "agent-dev-003");
  BOOST_CHECK_EQUAL(xs[2].rank, 3);
}

// Score first, then checks passed, then author id, whatever the input
// order: random results against a plain sort by those keys.
BOOST_AUTO_TEST_CASE(ranking_orders_by_score_then_checks_then_author) {
  std::mt19937_64 rng{5};
  for (int round = 0; round < 500; ++round) {
    std::vector<deliberation_result> xs(1 + rng() % 7);
    for (size_t i = 0; i < xs.size(); ++i) {
      xs[i].proposal.author_id = "agent-dev-00" + std::to_string(i);
      xs[i].proposal.content = std::string(rng() % 40, 'x');
      xs[i].score = static_cast<double>(rng() % 3) / 2;
      xs[i].checks.policy.passed = rng() % 2;
      xs[i].checks.lint.passed = rng() % 2;
      xs[i].checks.additional.resize(rng() % 2);
      for (auto& c : xs[i].checks.additional)
        c.passed = rng() % 2;
    }
    std::shuffle(xs.begin(), xs.end(), rng);
    auto want = xs;
    std::sort(want.begin(), want.end(), [](auto& a, auto& b) {
      auto pa = checks_passed(a.checks);
      auto pb = checks_passed(b.checks);
      return std::tie(b.score, pb, a.proposal.author_id)
             < std::tie(a.score, pa, b.proposal.author_id);
    });
    rank_results(xs);
    BOOST_REQUIRE_EQUAL(xs.size(), want.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      BOOST_REQUIRE_EQUAL(xs[i].proposal.author_id,
                          want[i].proposal.author_id);
      BOOST_REQUIRE_EQUAL(xs[i].proposal.content, want[i].proposal.content);
      BOOST_REQUIRE_EQUAL(xs[i].rank, static_cast<int32_t>(i + 1));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
