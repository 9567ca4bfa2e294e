// AGENT with the `vllm` backend against the project's own stub server.

#include <random>

#include <nlohmann/json.hpp>

#include "actors/architect.hpp"
#include "actors/deliberation.hpp"
#include "actors/llm_call.hpp"
#include "actors/process_runner.hpp"
#include "actors/prompts.hpp"
#include "actors/scorer.hpp"
#include "messages/json_codec.hpp"
#include "llm_fixture.hpp"

using namespace orch;
using namespace orch::test;
using namespace std::chrono_literals;

namespace {

struct vllm_fixture : llm_fixture {
  agent_spec spec(int i) {
    agent_spec s;
    s.agent_id = agent_id_for("DEV", i + 1);
    s.role = "DEV";
    s.index = i;
    return s;
  }

  task_spec task() {
    task_spec t;
    t.task_id = "t-42";
    t.role = "DEV";
    t.description = "Add a rate limiter to the login endpoint";
    t.constraints.rubric = "Secure, maintainable implementation with tests";
    t.constraints.requirements = {"sliding window", "per-user limits"};
    return t;
  }

  /// The messages of the n-th request the stub received.
  nlohmann::json messages(size_t n) {
    auto recs = stub.requests();
    BOOST_REQUIRE_GT(recs.size(), n);
    return nlohmann::json::parse(recs[n].body)["messages"];
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(vllm_agent, vllm_fixture)

BOOST_AUTO_TEST_CASE(prompts_carry_rubric_requirements_and_diversity) {
  auto a0 = spawn_vllm_agent(sys, spec(0), model(), client);
  auto a1 = spawn_vllm_agent(sys, spec(1), model(), client);
  auto p0 = ask<proposal>(5s, a0, atom::generate_v, task_ref{task()});
  BOOST_REQUIRE_MESSAGE(p0, why(p0));
  auto p1 = ask<proposal>(5s, a1, atom::generate_v, task_ref{task()});
  BOOST_REQUIRE_MESSAGE(p1, why(p1));
  auto m0 = messages(0);
  auto m1 = messages(1);
  auto sys0 = m0[0]["content"].get<std::string>();
  auto sys1 = m1[0]["content"].get<std::string>();
  BOOST_CHECK_EQUAL(m0[0]["role"], "system");
  BOOST_CHECK_NE(sys0.find("Secure, maintainable implementation with tests"),
                 std::string::npos);
  BOOST_CHECK_NE(sys0.find("- sliding window"), std::string::npos);
  BOOST_CHECK_NE(sys0.find("- per-user limits"), std::string::npos);
  BOOST_CHECK_NE(sys0.find("software engineer"), std::string::npos);
  BOOST_CHECK_NE(sys0, sys1); // different perspective per index
  auto user0 = m0[1]["content"].get<std::string>();
  BOOST_CHECK_NE(user0.find("Add a rate limiter"), std::string::npos);
  // A spread of temperatures.
  auto b0 = nlohmann::json::parse(stub.requests()[0].body);
  auto b1 = nlohmann::json::parse(stub.requests()[1].body);
  BOOST_CHECK_NE(b0["temperature"].get<double>(),
                 b1["temperature"].get<double>());
  BOOST_CHECK_EQUAL(b0["model"], "stub-model");
  // The proposal is the model's answer, with its usage.
  BOOST_CHECK_NE(p0->content.find("Response to: Task t-42"), std::string::npos);
  BOOST_CHECK_EQUAL(p0->author_id, "agent-dev-001");
  BOOST_CHECK_EQUAL(p0->usage.calls, 1);
  BOOST_CHECK_GT(p0->usage.prompt_tokens, 0);
  BOOST_CHECK_GT(p0->usage.completion_tokens, 0);
}

BOOST_AUTO_TEST_CASE(critique_and_revision_use_the_model) {
  auto a = spawn_vllm_agent(sys, spec(0), model(), client);
  proposal target;
  target.id = "agent-dev-002/1";
  target.author_id = "agent-dev-002";
  target.content = "Use a fixed window.";
  auto c = ask<critique>(5s, a, atom::critique_v, task_ref{task()},
                         proposal_ref{target}, int32_t{1});
  BOOST_REQUIRE_MESSAGE(c, why(c));
  BOOST_CHECK_EQUAL(c->target_author_id, "agent-dev-002");
  // The stub echoes the prompt's list items: the requirements come back as
  // the named gaps.
  BOOST_CHECK(std::find(c->issues.begin(), c->issues.end(), "sliding window")
              != c->issues.end());
  auto user = messages(0)[1]["content"].get<std::string>();
  BOOST_CHECK_NE(user.find("PROPOSAL:\nUse a fixed window."),
                 std::string::npos);
  auto r = ask<proposal>(5s, a, atom::revise_v, task_ref{task()},
                         proposal_ref{target},
                         std::vector<critique>{*c});
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_REQUIRE_EQUAL(r->revisions.size(), 1u);
  BOOST_CHECK_EQUAL(r->revisions[0], "Use a fixed window.");
  BOOST_CHECK_NE(r->content, target.content);
  auto revise_user = messages(1)[1]["content"].get<std::string>();
  BOOST_CHECK_NE(revise_user.find("FEEDBACK FROM YOUR PEERS"),
                 std::string::npos);
  BOOST_CHECK_NE(revise_user.find(c->content.substr(0, 20)), std::string::npos);
}

BOOST_AUTO_TEST_CASE(empty_or_garbage_replies_are_asked_again) {
  auto a = spawn_vllm_agent(sys, spec(0), model(), client);
  stub.push_faults({{stub_fault::empty_content}, {stub_fault::garbage_json}});
  auto p = ask<proposal>(5s, a, atom::generate_v, task_ref{task()});
  BOOST_REQUIRE_MESSAGE(p, why(p));
  BOOST_CHECK(!is_blank(p->content));
  BOOST_CHECK_NE(p->content.find("Response to:"), std::string::npos);
  BOOST_CHECK_EQUAL(p->usage.calls, 3);
  BOOST_CHECK_EQUAL(p->usage.retries, 2);
  BOOST_CHECK_EQUAL(stub.request_count(), 3u);
}

BOOST_AUTO_TEST_CASE(never_uses_an_empty_reply) {
  auto a = spawn_vllm_agent(sys, spec(0), model(), client);
  stub.set_default_fault({stub_fault::empty_content});
  auto p = ask<proposal>(5s, a, atom::generate_v, task_ref{task()});
  BOOST_REQUIRE(!p);
  BOOST_CHECK(code_of(p.error()) == ec::agent_failed);
  BOOST_CHECK_NE(render(p.error()).find("empty"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(dead_endpoint_fails_the_deliberation_in_time) {
  std::vector<std::pair<agent_spec, agent_actor>> agents;
  auto m = model(500);
  stub.stop();
  for (int i = 0; i < 3; ++i)
    agents.emplace_back(spec(i), spawn_vllm_agent(sys, spec(i), m, client));
  council_settings cs;
  cs.role = "DEV";
  cs.deliberation_timeout = 10s;
  cs.scorers = {spawn_scorer(sys, nullptr, process_runner_actor{})};
  auto council = spawn_council(sys, cs, agents);
  auto start = std::chrono::steady_clock::now();
  auto out = ask<deliberation_outcome>(20s, council, atom::deliberate_v,
                                       task_ref{task()},
                                       progress_listener_actor{});
  auto took = std::chrono::steady_clock::now() - start;
  BOOST_REQUIRE(!out);
  // Every agent lost to a dead endpoint: the deliberation is unavailable
  // (its task waits for the endpoint instead of failing).
  BOOST_CHECK(code_of(out.error()) == ec::unavailable);
  auto text = render(out.error());
  BOOST_CHECK_NE(text.find("0 of 3 proposals survived"), std::string::npos);
  BOOST_CHECK_NE(text.find("agent-dev-001 generate"), std::string::npos);
  BOOST_CHECK(took < 5s);
  self->send_exit(council, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(llm_architect_parses_or_falls_back) {
  auto arch = spawn_llm_architect(sys, model(), client);
  std::vector<deliberation_result> xs(3);
  for (int i = 0; i < 3; ++i) {
    xs[i].proposal.author_id = agent_id_for("DEV", i + 1);
    xs[i].proposal.content = "proposal " + std::to_string(i);
    xs[i].score = 0.9 - 0.1 * i;
    xs[i].rank = i + 1;
  }
  auto sel = ask<selection>(5s, arch, atom::select_v, xs, constraints{});
  BOOST_REQUIRE_MESSAGE(sel, why(sel));
  BOOST_CHECK_EQUAL(sel->mode, "llm");
  BOOST_CHECK_EQUAL(sel->winner_id, "agent-dev-001");
  BOOST_CHECK_NE(sel->rationale.find("stub picked"), std::string::npos);
  auto sys_prompt = messages(0)[0]["content"].get<std::string>();
  BOOST_CHECK_NE(sys_prompt.find("WINNER: <id>"), std::string::npos);
  // An answer without the format: the rule-based choice, with the reason.
  stub.push_faults({{stub_fault::garbage_json},
                    {stub_fault::garbage_json},
                    {stub_fault::garbage_json}});
  sel = ask<selection>(5s, arch, atom::select_v, xs, constraints{});
  BOOST_REQUIRE_MESSAGE(sel, why(sel));
  BOOST_CHECK_EQUAL(sel->mode, "rule-fallback");
  BOOST_CHECK_EQUAL(sel->winner_id, "agent-dev-001");
  BOOST_CHECK_NE(sel->rationale.find("fell back to rules"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(architect_answers_are_checked) {
  std::vector<std::string> ids{"a", "b"};
  auto ok = parse_architect_answer("WINNER: b\nRATIONALE: better tests", ids);
  BOOST_REQUIRE_MESSAGE(ok, why(ok));
  BOOST_CHECK_EQUAL(ok->first, "b");
  BOOST_CHECK_EQUAL(ok->second, "better tests");
  BOOST_CHECK(!parse_architect_answer("I like b", ids));
  BOOST_CHECK(!parse_architect_answer("WINNER: z", ids));
}

BOOST_AUTO_TEST_CASE(replies_are_parsed_strictly) {
  BOOST_CHECK(!parse_chat_completion("{}"));
  BOOST_CHECK(!parse_chat_completion(R"({"choices":[]})"));
  BOOST_CHECK(
    !parse_chat_completion(R"({"choices":[{"message":{"content":"  "}}]})"));
  BOOST_CHECK(
    !parse_chat_completion(R"({"choices":[{"message":{"content":42}}]})"));
  auto ok = parse_chat_completion(
    R"({"choices":[{"message":{"content":"hi"}}],)"
    R"("usage":{"prompt_tokens":3,"completion_tokens":1}})");
  BOOST_REQUIRE_MESSAGE(ok, why(ok));
  BOOST_CHECK_EQUAL(ok->content, "hi");
  BOOST_CHECK_EQUAL(ok->usage.prompt_tokens, 3);
  BOOST_CHECK_EQUAL(ok->usage.completion_tokens, 1);
  // Escapes decoded (a surrogate pair to one code point), a key that comes
  // twice counts with its last value, other members and choices skipped.
  auto escaped = parse_chat_completion(
    R"({"id":"x","meta":{"a":["]}",{"b":null}]},"choices":[{"message":)"
    R"({"content":"old","role":"assistant","content":"a\nb \"q\" )"
    R"(\u00e9 \ud83d\ude00"}},{"message":{"content":"other"}}],)"
    R"("usage":{"prompt_tokens":-1,"completion_tokens":2.0}})");
  BOOST_REQUIRE_MESSAGE(escaped, why(escaped));
  BOOST_CHECK_EQUAL(escaped->content, "a\nb \"q\" \xC3\xA9 \xF0\x9F\x98\x80");
  BOOST_CHECK_EQUAL(escaped->usage.prompt_tokens, 0);
  BOOST_CHECK_EQUAL(escaped->usage.completion_tokens, 0);
  auto broken = parse_chat_completion(R"({"choices":[{"message":{"content":)"
                                      R"("hi"}}]} trailing)");
  BOOST_REQUIRE(!broken);
  BOOST_CHECK(code_of(broken.error()) == ec::unavailable);
  BOOST_CHECK(!parse_chat_completion(R"({"choices":{"message":{}}})"));
}

BOOST_AUTO_TEST_CASE(a_reply_is_read_only_when_all_of_it_is_json) {
  // The reply is checked in the pass that reads it: a fault anywhere, in
  // the content read, in a value skipped, in the punctuation between, or
  // after the fields wanted, makes it "not JSON" (unavailable), as the
  // whole document would have been rejected before any field was read.
  const std::string good
    = R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant",)"
      R"("content":"a\nb"},"finish_reason":"stop"},{"message":{}}],)"
      R"("usage":{"prompt_tokens":3,"completion_tokens":1,"x":[1,{}]}})";
  auto ok = parse_chat_completion(good);
  BOOST_REQUIRE_MESSAGE(ok, why(ok));
  BOOST_CHECK_EQUAL(ok->content, "a\nb");
  struct fault {
    std::string from, to;
  };
  for (auto& [from, to] : std::vector<fault>{
         {R"("a\nb")", R"("a\qb")"},            // an unknown escape read
         {R"("a\nb")", "\"a\x01" "b\""},         // a control character read
         {R"("a\nb")", "\"a\xC3" "b\""},         // broken UTF-8 read
         {R"("a\nb")", R"("a\udc00b")"},        // a lone low surrogate read
         {R"("stop")", R"("st\op")"},           // in a value skipped
         {R"([1,{}])", R"([1,{},])"},           // a trailing comma skipped
         {R"("index":0)", R"("index":01)"},     // a number skipped
         {R"("role":)", R"("role" )"},          // a missing colon
         {R"("role":)", R"("role";)"},          // a wrong one
         {R"("a\nb"},)", R"("a\nb"};)"},        // a wrong comma
         {R"(,"finish_reason")", R"( "finish_reason")"}, // a missing comma
         {R"({"message":{}}])", R"({"message":{}}})"},   // a wrong bracket
         {R"("completion_tokens":1)", R"("completion_tokens":tru)"},
         {R"(}})", "}"},                        // the end cut off
       }) {
    auto bad = good;
    auto at = bad.rfind(from);
    BOOST_REQUIRE(at != std::string::npos);
    bad.replace(at, from.size(), to);
    auto r = parse_chat_completion(bad);
    BOOST_REQUIRE_MESSAGE(!r, bad);
    BOOST_CHECK_MESSAGE(code_of(r.error()) == ec::unavailable, bad);
    BOOST_CHECK_MESSAGE(render(r.error()).find("not JSON")
                          != std::string::npos,
                        bad << ": " << render(r.error()));
    BOOST_CHECK_MESSAGE(!is_json(bad), bad);
  }
}

BOOST_AUTO_TEST_CASE(request_bodies_are_json_of_any_text) {
  vllm_settings cfg;
  cfg.model = "m\"odel\\";
  cfg.max_tokens = 77;
  // Valid text of every kind reads back as it was written.
  std::string system = "quotes \" backslash \\ slash / tab \t newline \n "
                       "cr \r bell \x07 nul ";
  system += '\0';
  system += " del \x7f";
  std::string user = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBF "
                     "\xF4\x8F\xBF\xBF end";
  for (auto temp : {0.7, 0.1, 1.0, 0.0, 1.9999999999999998}) {
    auto body = chat_completion_body(cfg, system, user, temp);
    auto doc = nlohmann::json::parse(body);
    BOOST_CHECK_EQUAL(doc["model"].get<std::string>(), cfg.model);
    BOOST_CHECK_EQUAL(doc["messages"][0]["role"].get<std::string>(), "system");
    BOOST_CHECK_EQUAL(doc["messages"][0]["content"].get<std::string>(),
                      system);
    BOOST_CHECK_EQUAL(doc["messages"][1]["role"].get<std::string>(), "user");
    BOOST_CHECK_EQUAL(doc["messages"][1]["content"].get<std::string>(), user);
    BOOST_CHECK_EQUAL(doc["temperature"].get<double>(), temp);
    BOOST_CHECK_EQUAL(doc["max_tokens"].get<int>(), 77);
  }
  // Invalid UTF-8 (a stray continuation byte, a truncated sequence, an
  // overlong form, a surrogate, a code point past U+10FFFF, 0xFF): each bad
  // byte becomes U+FFFD, the text around it stays, the body stays JSON.
  const std::string fffd = "\xEF\xBF\xBD";
  struct bad {
    std::string in;
    std::string out;
  };
  for (auto& [in, out] : std::vector<bad>{
         {"a\x80" "b", "a" + fffd + "b"},
         {"a\xC3", "a" + fffd},
         {"\xC0\xAFx", fffd + fffd + "x"},
         {"\xED\xA0\x80", fffd + fffd + fffd},
         {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},
         {"\xFF\xC3\xA9", fffd + "\xC3\xA9"},
       }) {
    auto body = chat_completion_body(cfg, "s", in, 0.5);
    auto doc = nlohmann::json::parse(body, nullptr, false);
    BOOST_REQUIRE_MESSAGE(!doc.is_discarded(), body);
    BOOST_CHECK_EQUAL(doc["messages"][1]["content"].get<std::string>(), out);
  }
}

// An agent writes its prompts into the request body as they are made,
// with the fixed texts escaped once: the body must be the one made from
// the plain prompts, for tasks, proposals and critiques holding quotes,
// backslashes, new lines, control characters and UTF-8, valid or not.
BOOST_AUTO_TEST_CASE(prompts_written_into_the_body_are_the_plain_prompts) {
  vllm_settings cfg;
  cfg.model = "model-1";
  cfg.max_tokens = 300;
  sampling_temperature temp{0.55};
  std::vector<std::string> texts{
    "", "plain", "quotes \" and \\ and / and \t tab\nnew line\r",
    std::string{"nul \0 bell \x07 del \x7f", 18},
    "caf\xC3\xA9 \xF0\x9F\x98\x80 bad \x80\xC3 \xFF end"};
  size_t checked = 0;
  for (size_t k = 0; k < texts.size(); ++k) {
    auto& x = texts[k];
    auto& y = texts[(k + 2) % texts.size()];
    task_spec task;
    task.task_id = "task-" + x;
    task.role = k % 2 == 0 ? "QA" : "";
    task.description = "Describe " + y;
    task.constraints.rubric = k == 1 ? "" : x;
    if (k != 3)
      task.constraints.requirements = {x, y, "plain"};
    agent_spec spec;
    spec.agent_id = "agent-" + y;
    spec.role = "DEVOPS";
    spec.index = static_cast<int32_t>(k);
    proposal target;
    target.author_id = "agent-" + x;
    target.content = "# Plan\n" + y + "\n- step " + x;
    critique c;
    c.critic_id = "agent-" + y;
    c.content = "- gap " + x;
    std::vector<critique> feedback;
    for (size_t n = 0; n < k % 3; ++n)
      feedback.push_back(c);
    auto system = system_prompt(spec, task);
    auto one_pass = [&](auto write_user) {
      return chat_completion_body(
        cfg, temp, 16,
        [&](prompt_writer& w) { write_system_prompt(w, spec, task); },
        write_user);
    };
    BOOST_CHECK_EQUAL(one_pass([&](prompt_writer& w) {
                        write_generate_prompt(w, task);
                      }),
                      chat_completion_body(cfg, system,
                                           generate_prompt(task), temp));
    BOOST_CHECK_EQUAL(one_pass([&](prompt_writer& w) {
                        write_critique_prompt(w, task, target);
                      }),
                      chat_completion_body(
                        cfg, system, critique_prompt(task, target), temp));
    auto body = one_pass([&](prompt_writer& w) {
      write_revise_prompt(w, task, target, feedback);
    });
    BOOST_CHECK_EQUAL(body, chat_completion_body(
                              cfg, system,
                              revise_prompt(task, target, feedback), temp));
    auto doc = nlohmann::json::parse(body, nullptr, false);
    BOOST_REQUIRE_MESSAGE(!doc.is_discarded(), body);
    checked += 3;
  }
  BOOST_CHECK_EQUAL(checked, 15u);
}

// A critique's issues are its lines that read like list items: random
// texts of markers, spaces, digits and words against a plain reading of
// that rule.
BOOST_AUTO_TEST_CASE(list_items_are_the_marked_lines) {
  auto plain = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream lines{text};
    std::string line;
    while (std::getline(lines, line)) {
      auto b = line.find_first_not_of(" \t");
      if (b == std::string::npos)
        continue;
      line.erase(0, b);
      size_t skip = 0;
      if (line.rfind("- ", 0) == 0 || line.rfind("* ", 0) == 0)
        skip = 2;
      else if (line.size() > 2 && line[0] >= '0' && line[0] <= '9'
               && line[1] == '.' && line[2] == ' ')
        skip = 3;
      if (skip > 0 && !is_blank(line.substr(skip)))
        out.push_back(line.substr(skip));
    }
    return out;
  };
  BOOST_CHECK((list_items("- a\n  * b c\n1. d\n12. e\n-f\n- \t\n")
               == std::vector<std::string>{"a", "b c", "d"}));
  const std::string pieces[] = {"- ", "* ", "1. ", "9.", " ", "\t", "\n",
                                "\r", "-", "word", "x y", "."};
  std::mt19937_64 rng{11};
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    for (auto n = rng() % 24; n > 0; --n)
      text += pieces[rng() % std::size(pieces)];
    BOOST_REQUIRE_MESSAGE(list_items(text) == plain(text), text);
  }
}

BOOST_AUTO_TEST_SUITE_END()
