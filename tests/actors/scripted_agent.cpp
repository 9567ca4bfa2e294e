#include <algorithm>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include <boost/test/unit_test.hpp>

#include "actors/scripted.hpp"
#include "fixture.hpp"

using namespace orch;
using namespace orch::test;

namespace {

agent_spec spec_for(int i) {
  agent_spec s;
  s.agent_id = agent_id_for("DEV", i + 1);
  s.role = "DEV";
  s.backend = "scripted";
  s.index = i;
  s.diversity_seed = static_cast<uint64_t>(i + 1) * 7919u;
  return s;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(scripted_agent, deterministic_fixture)

BOOST_AUTO_TEST_CASE(proposals_are_deterministic_and_differ_per_agent) {
  auto task = make_task("DEV", "Implement the login endpoint");
  std::set<std::string> texts;
  for (int i = 0; i < 5; ++i) {
    auto a = scripted_generate(spec_for(i), task);
    BOOST_CHECK_EQUAL(a, scripted_generate(spec_for(i), task));
    BOOST_CHECK_NE(a.find("Implement the login endpoint"), std::string::npos);
    BOOST_CHECK_NE(a.find("agent-dev-00"), std::string::npos);
    texts.insert(a);
  }
  BOOST_CHECK_EQUAL(texts.size(), 5u);
}

BOOST_AUTO_TEST_CASE(copies_in_lanes_never_repeat_a_proposal_id) {
  // The copies of one agent in two engine lanes number their proposals
  // apart (1, 3, ... and 2, 4, ...); without lanes: 1, 2, ...
  auto task = task_ref{make_task("DEV", "Implement the login endpoint")};
  std::set<std::string> ids;
  for (uint32_t k = 0; k < 2; ++k) {
    auto a = spawn_scripted_agent(sys, spec_for(0), lane{k, 2});
    for (int i = 0; i < 3; ++i)
      ids.insert(unbox(ask<proposal>(a, atom::generate_v, task)).id);
  }
  BOOST_CHECK_EQUAL(ids.size(), 6u);
  for (auto n : {1, 2, 3, 4, 5, 6})
    BOOST_CHECK_MESSAGE(ids.count("agent-dev-001/" + std::to_string(n)) == 1,
                        "missing proposal " << n);
  auto plain = spawn_scripted_agent(sys, spec_for(0));
  BOOST_CHECK_EQUAL(unbox(ask<proposal>(plain, atom::generate_v, task)).id,
                    "agent-dev-001/1");
  BOOST_CHECK_EQUAL(unbox(ask<proposal>(plain, atom::generate_v, task)).id,
                    "agent-dev-001/2");
}

BOOST_AUTO_TEST_CASE(proposals_follow_the_task_and_role) {
  auto dev = scripted_generate(spec_for(0), make_task("DEV", "Build X"));
  auto qa = scripted_generate(spec_for(0), make_task("QA", "Build X"));
  auto other = scripted_generate(spec_for(0), make_task("DEV", "Build Y"));
  BOOST_CHECK_NE(dev, qa);
  BOOST_CHECK_NE(dev, other);
  BOOST_CHECK_NE(qa.find("QA proposal"), std::string::npos);
  BOOST_CHECK_NE(qa.find("verification"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(critique_names_missing_requirements_and_rubric) {
  auto task = make_task("DEV", "Implement the login endpoint");
  proposal p;
  p.id = "p1";
  p.author_id = "agent-dev-002";
  p.content = "Plan: add input validation. Nothing else.";
  auto c = scripted_critique(spec_for(0), task, p, 1);
  BOOST_CHECK_EQUAL(c.critic_id, "agent-dev-001");
  BOOST_CHECK_EQUAL(c.target_author_id, "agent-dev-002");
  BOOST_CHECK_EQUAL(c.round, 1);
  auto has = [&](const std::string& issue) {
    return std::find(c.issues.begin(), c.issues.end(), issue) != c.issues.end();
  };
  BOOST_CHECK(has("missing requirement: rate limiting"));
  BOOST_CHECK(has("missing requirement: audit logging"));
  BOOST_CHECK(!has("missing requirement: input validation"));
  BOOST_CHECK(has("rubric not addressed: secure"));
  BOOST_CHECK(has("no verification step"));
  BOOST_CHECK_NE(c.content.find("rate limiting"), std::string::npos);
}

// The critique's gaps against a plain reading of its rules: each
// requirement, each rubric word of five letters or more, "test" and "risk"
// looked up case-insensitively in a lower-cased copy of the proposal, on
// random texts, requirements and rubrics (repeated, so that the needles
// the critique keeps per thread are reused and replaced).
BOOST_AUTO_TEST_CASE(critique_gaps_follow_a_plain_search) {
  auto lower = [](std::string x) {
    for (auto& c : x)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return x;
  };
  auto plain = [&](const task_spec& task, const std::string& content) {
    auto text = lower(content);
    auto has = [&](const std::string& needle) {
      return text.find(lower(needle)) != std::string::npos;
    };
    std::vector<std::string> issues;
    for (auto& req : task.constraints.requirements)
      if (!has(req))
        issues.push_back("missing requirement: " + req);
    auto& rubric = task.constraints.rubric;
    for (size_t i = 0; i < rubric.size();) {
      auto start = i;
      while (i < rubric.size() && std::isalpha(static_cast<unsigned char>(rubric[i])))
        ++i;
      if (i - start >= 5) {
        auto word = rubric.substr(start, i - start);
        auto issue = "rubric not addressed: " + lower(word);
        if (!has(word)
            && std::find(issues.begin(), issues.end(), issue) == issues.end())
          issues.push_back(issue);
      }
      if (i == start)
        ++i;
    }
    if (!has("test"))
      issues.emplace_back("no verification step");
    if (!has("risk"))
      issues.emplace_back("risks not discussed");
    return issues;
  };
  std::mt19937_64 rng{11};
  const std::vector<std::string> words{
    "Input", "validation", "rate", "limiting", "TESTS", "risk", "Secure",
    "secure", "audit", "x", "", "logging", "maintainable", "a b"};
  auto pick = [&](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      out += words[rng() % words.size()];
      out += rng() % 3 == 0 ? ", " : " ";
    }
    return out;
  };
  std::vector<task_spec> tasks;
  for (int k = 0; k < 12; ++k) {
    auto task = make_task("DEV", "a task");
    task.constraints.rubric = pick(rng() % 5);
    task.constraints.requirements.clear();
    for (size_t r = rng() % 4; r > 0; --r)
      task.constraints.requirements.push_back(words[rng() % words.size()]);
    tasks.push_back(task);
  }
  size_t gaps = 0;
  for (int round = 0; round < 3000; ++round) {
    auto& task = tasks[rng() % tasks.size()];
    proposal target;
    target.author_id = "agent-dev-009";
    target.content = pick(rng() % 12);
    auto c = scripted_critique(spec_for(1), task, target, 1);
    auto want = plain(task, target.content);
    BOOST_REQUIRE_MESSAGE(c.issues == want,
                          "rubric '" << task.constraints.rubric << "', text '"
                                     << target.content << "'");
    gaps += want.size();
  }
  BOOST_TEST(gaps > 3000u);
}

BOOST_AUTO_TEST_CASE(revision_incorporates_the_critique) {
  auto task = make_task("DEV", "Implement the login endpoint");
  proposal p;
  p.id = "p1";
  p.author_id = "agent-dev-001";
  p.content = scripted_generate(spec_for(0), task);
  auto c = scripted_critique(spec_for(1), task, p, 1);
  BOOST_REQUIRE(!c.issues.empty());
  auto r = scripted_revise(spec_for(0), task, p, {c});
  BOOST_CHECK_NE(r.content, p.content);
  BOOST_REQUIRE_EQUAL(r.revisions.size(), 1u);
  BOOST_CHECK_EQUAL(r.revisions[0], p.content);
  // A second critique of the revision finds no missing requirement.
  auto again = scripted_critique(spec_for(1), task, r, 2);
  for (auto& issue : again.issues)
    BOOST_CHECK_MESSAGE(issue.find("missing requirement") == std::string::npos,
                        issue);
  BOOST_CHECK_LT(again.issues.size(), c.issues.size());
}

BOOST_AUTO_TEST_CASE(actor_answers_the_agent_interface) {
  auto a = spawn_scripted_agent(sys, spec_for(2));
  auto task = make_task("DEV", "Implement the login endpoint");
  auto p = unbox(ask<proposal>(a, atom::generate_v, task_ref{task}));
  BOOST_CHECK_EQUAL(p.author_id, "agent-dev-003");
  BOOST_CHECK_EQUAL(p.author_role, "DEV");
  BOOST_CHECK_EQUAL(p.content, scripted_generate(spec_for(2), task));
  auto info = unbox(ask<agent_spec>(a, atom::info_v));
  BOOST_CHECK_EQUAL(info.backend, "scripted");
  auto c = unbox(ask<critique>(a, atom::critique_v, task_ref{task}, proposal_ref{p},
                      int32_t{1}));
  BOOST_CHECK_EQUAL(c.critic_id, "agent-dev-003");
  auto r = unbox(
    ask<proposal>(a, atom::revise_v, task_ref{task}, proposal_ref{p},
                  std::vector<critique>{c}));
  BOOST_CHECK_EQUAL(r.revisions.size(), 1u);
}

BOOST_AUTO_TEST_CASE(brief_style_answers_with_one_line) {
  auto spec = spec_for(1);
  BOOST_CHECK_EQUAL(scripted_style(spec), "full");
  spec.params["style"] = "brief";
  BOOST_CHECK_EQUAL(scripted_style(spec), "brief");
  auto a = spawn_scripted_agent(sys, spec);
  auto task = make_task("DEV", "Implement the login endpoint");
  task.task_id = "task-17";
  auto p = unbox(ask<proposal>(a, atom::generate_v, task_ref{task}));
  BOOST_CHECK_EQUAL(p.content, "agent-dev-002: solution for task-17");
  BOOST_CHECK_EQUAL(p.author_id, "agent-dev-002");
  auto c = unbox(ask<critique>(a, atom::critique_v, task_ref{task}, proposal_ref{p},
                      int32_t{1}));
  BOOST_CHECK_EQUAL(c.critic_id, "agent-dev-002");
  BOOST_CHECK_EQUAL(c.target_author_id, "agent-dev-002");
  BOOST_CHECK_EQUAL(c.round, 1);
  BOOST_CHECK(c.issues.empty());
  BOOST_CHECK_EQUAL(c.content, "agent-dev-002: looks right");
  auto r = unbox(
    ask<proposal>(a, atom::revise_v, task_ref{task}, proposal_ref{p},
                  std::vector<critique>{c}));
  BOOST_CHECK_EQUAL(r.content, "agent-dev-002: solution for task-17 (revised)");
  BOOST_REQUIRE_EQUAL(r.revisions.size(), 1u);
  BOOST_CHECK_EQUAL(r.revisions[0], p.content);
}

BOOST_AUTO_TEST_CASE(the_json_block_is_json_whatever_the_task_id) {
  // A task id from outside: a quote, a backslash, a control character, a
  // multi-byte character and a byte that is not UTF-8.
  auto task = make_task("DEV", "Implement the login endpoint");
  task.task_id = "t\"1\\\x01\xC3\xA9\xFF";
  task.role = "DEV\n";
  auto text = scripted_generate(spec_for(0), task);
  auto open = text.find("```json\n");
  BOOST_REQUIRE_NE(open, std::string::npos);
  auto close = text.find("\n```", open + 8);
  BOOST_REQUIRE_NE(close, std::string::npos);
  auto block = nlohmann::json::parse(text.substr(open + 8, close - open - 8));
  BOOST_CHECK_EQUAL(block.at("task").get<std::string>(),
                    "t\"1\\\x01\xC3\xA9\xEF\xBF\xBD");
  BOOST_CHECK_EQUAL(block.at("role").get<std::string>(), "DEV\n");
  BOOST_CHECK(block.at("variant").is_number());
}

BOOST_AUTO_TEST_SUITE_END()
