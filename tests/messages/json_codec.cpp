#include "messages/json_codec.hpp"
#include "messages/json_scan.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "messages/wire_samples.hpp"

using namespace orch;

namespace {

using namespace orch::test;

std::vector<std::string> keys_of(const std::string& text) {
  auto doc = nlohmann::ordered_json::parse(text);
  std::vector<std::string> out;
  for (auto& item : doc.items())
    out.push_back(item.key());
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(json_codec)

// -- round trips --------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(round_trip, T, wire_types) {
  auto x = sample<T>();
  auto text = to_json(x);
  BOOST_TEST_MESSAGE("json: " << text);
  auto y = from_json<T>(text);
  REQUIRE_OK(y);
  check_eq(x, *y);
  // Encoding is deterministic and the decoded value encodes identically.
  BOOST_CHECK_EQUAL(to_json(*y), text);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(defaults_round_trip, T, wire_types) {
  T x;
  auto y = from_json<T>(to_json(x));
  REQUIRE_OK(y);
  check_eq(x, *y);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(missing_fields_take_defaults, T, lenient_types) {
  auto y = from_json<T>("{}");
  REQUIRE_OK(y);
  check_eq(T{}, *y);
}

BOOST_AUTO_TEST_CASE(partial_input_keeps_other_defaults) {
  auto y = from_json<task_spec>(
    R"({"task_id":"t","constraints":{"rubric":"r"},"priority":null})");
  REQUIRE_OK(y);
  task_spec expected;
  expected.task_id = "t";
  expected.constraints.rubric = "r";
  check_eq(expected, *y);
  auto env = from_json<event_envelope>(R"({"event_type":"e","payload":{}})");
  REQUIRE_OK(env);
  BOOST_CHECK_EQUAL(env->producer, event_envelope{}.producer);
  BOOST_CHECK_EQUAL(env->payload, "{}");
}

BOOST_AUTO_TEST_CASE(extreme_integers_round_trip) {
  orchestrator_stats x;
  x.total_deliberations = int64_limits::min();
  x.total_orchestrations = int64_limits::max();
  x.role_counts = {{"min", int64_limits::min()}, {"max", int64_limits::max()}};
  auto y = from_json<orchestrator_stats>(to_json(x));
  REQUIRE_OK(y);
  check_eq(x, *y);
  auto c = from_json<constraints>(
    R"({"k":-2147483648,"rounds":2147483647,"max_iterations":3.0})");
  REQUIRE_OK(c);
  BOOST_CHECK_EQUAL(c->k, int32_limits::min());
  BOOST_CHECK_EQUAL(c->rounds, int32_limits::max());
  BOOST_CHECK_EQUAL(c->max_iterations, 3);
}

BOOST_AUTO_TEST_CASE(doubles_accept_integers) {
  auto y = from_json<check_result>(R"({"score":1})");
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->score, 1.0);
  auto z = from_json<check_result>(R"({"score":-18446744073709551615})");
  REQUIRE_OK(z);
  BOOST_CHECK_LT(z->score, -1e19);
}

// -- field names and shape ----------------------------------------------------

BOOST_AUTO_TEST_CASE(field_names_are_member_names) {
  using strings = std::vector<std::string>;
  auto p = keys_of(to_json(sample<proposal>()));
  strings p_keys{"id",        "author_id",     "author_role", "content",
                 "revisions", "created_at_ms", "usage"};
  BOOST_TEST(p == p_keys, boost::test_tools::per_element());
  auto r = keys_of(to_json(sample<deliberation_result>()));
  strings r_keys{"proposal", "checks", "score", "rank"};
  BOOST_TEST(r == r_keys, boost::test_tools::per_element());
  auto s = keys_of(to_json(sample<check_suite>()));
  strings s_keys{"policy",     "lint",       "dryrun",
                 "additional", "all_passed", "score"};
  BOOST_TEST(s == s_keys, boost::test_tools::per_element());
  auto e = keys_of(to_json(sample<event_envelope>()));
  strings e_keys{"event_type", "payload",  "idempotency_key", "correlation_id",
                 "timestamp",  "producer", "metadata",        "causation_id"};
  BOOST_TEST(e == e_keys, boost::test_tools::per_element());
  auto t = nlohmann::json::parse(to_json(sample<task_spec>()));
  BOOST_CHECK(t["constraints"].is_object());
  BOOST_CHECK_EQUAL(t["constraints"]["k"].get<int32_t>(), int32_limits::min());
  BOOST_CHECK(t["dependencies"].is_array());
  auto c = nlohmann::json::parse(to_json(sample<constraints>()));
  BOOST_CHECK(c["metadata"].is_object());
  BOOST_CHECK_EQUAL(c["metadata"].size(), 3u);
}

BOOST_AUTO_TEST_CASE(unknown_fields_are_ignored) {
  auto y = from_json<proposal>(
    R"({"extra":{"deep":[1,[2,[3,{"x":null}]]]},"content":"c",)"
    R"("model":"gpt","temperature":0.7,"id":"p"})");
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->id, "p");
  BOOST_CHECK_EQUAL(y->content, "c");
}

BOOST_AUTO_TEST_CASE(field_order_does_not_matter) {
  auto y
    = from_json<agent_failure>(R"({"reason":"r","phase":"p","agent_id":"a"})");
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->agent_id, "a");
  BOOST_CHECK_EQUAL(y->phase, "p");
  BOOST_CHECK_EQUAL(y->reason, "r");
}

// -- the envelope payload -----------------------------------------------------

BOOST_AUTO_TEST_CASE(payload_is_embedded_as_json) {
  auto x = sample<event_envelope>();
  auto doc = nlohmann::json::parse(to_json(x));
  BOOST_REQUIRE(doc["payload"].is_object());
  BOOST_CHECK_EQUAL(doc["payload"]["nested"]["list"][2].get<std::string>(),
                    "x\"y");
  // Arrays embed too; white space is normalized on the way through.
  x.payload = " [ 1 , {\"a\" : true} ] ";
  doc = nlohmann::json::parse(to_json(x));
  BOOST_CHECK(doc["payload"].is_array());
  auto y = from_json<event_envelope>(to_json(x));
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->payload, R"([1,{"a":true}])");
}

BOOST_AUTO_TEST_CASE(non_json_payload_travels_as_string) {
  std::vector<std::string> texts{"",        "plain text", "42",   "\"quoted\"",
                                 "{broken", "[1] [2]",    "null", unicode};
  for (auto& text : texts) {
    event_envelope x;
    x.event_type = "e";
    x.payload = text;
    auto doc = nlohmann::json::parse(to_json(x));
    BOOST_CHECK(doc["payload"].is_string());
    auto y = from_json<event_envelope>(to_json(x));
    REQUIRE_OK(y);
    BOOST_CHECK_EQUAL(y->payload, text);
  }
}

BOOST_AUTO_TEST_CASE(deep_payload_stays_decodable) {
  // The envelope takes one of the 64 levels a decoder accepts; a payload
  // deeper than the remaining 63 travels as a string instead.
  for (size_t depth : {63u, 64u, 5000u}) {
    event_envelope x;
    x.event_type = "e";
    x.payload = std::string(depth, '[') + std::string(depth, ']');
    auto text = to_json(x);
    auto doc_is_string = text.find(R"("payload":")") != std::string::npos;
    BOOST_CHECK_EQUAL(doc_is_string, depth > 63);
    auto y = from_json<event_envelope>(text);
    REQUIRE_OK(y);
    BOOST_CHECK_EQUAL(y->payload, x.payload);
  }
}

BOOST_AUTO_TEST_CASE(payload_decoding) {
  auto str
    = from_json<event_envelope>(R"({"event_type":"e","payload":"{\"a\":1}"})");
  REQUIRE_OK(str);
  BOOST_CHECK_EQUAL(str->payload, R"({"a":1})");
  auto arr = from_json<event_envelope>(
    R"({"event_type":"e","payload":[{"b":2,"a":1}]})");
  REQUIRE_OK(arr);
  // Key order of the sender is kept.
  BOOST_CHECK_EQUAL(arr->payload, R"([{"b":2,"a":1}])");
  check_fails(from_json<event_envelope>(R"({"event_type":"e","payload":7})"),
              {"event_envelope.payload", "expected object, array or string",
               "got number"});
  check_fails(from_json<event_envelope>(R"({"event_type":"e","payload":true})"),
              {"event_envelope.payload", "got boolean"});
}

// -- required fields ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(required_fields) {
  check_fails(from_json<proposal>(R"({"id":"p"})"),
              {"proposal.content", "missing required field"});
  check_fails(from_json<proposal>(R"({"content":null})"),
              {"proposal.content", "missing"});
  check_fails(from_json<deliberation_result>(R"({"score":1})"),
              {"deliberation_result.proposal", "missing required field"});
  check_fails(from_json<deliberation_result>(R"({"proposal":{}})"),
              {"deliberation_result.proposal.content", "missing"});
  check_fails(from_json<event_envelope>(R"({"payload":{}})"),
              {"event_envelope.event_type", "missing required field"});
  check_fails(from_json<event_envelope>(R"({"event_type":"e"})"),
              {"event_envelope.payload", "missing required field"});
  check_fails(from_json<deliberation_outcome>(
                R"({"results":[{"proposal":{"content":"c"}},{}]})"),
              {"deliberation_outcome.results[1].proposal", "missing"});
}

// -- malformed input ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(empty_input) {
  check_fails(from_json<proposal>(""), {"proposal: empty input"});
  check_fails(from_json<constraints>(" \n\t "), {"constraints: empty input"});
}

BOOST_AUTO_TEST_CASE(truncated_json) {
  auto text = to_json(sample<deliberation_outcome>());
  check_fails(from_json<deliberation_outcome>(text.substr(0, text.size() / 2)),
              {"deliberation_outcome: invalid JSON", "parse error"});
  // Every proper prefix of an object is incomplete.
  for (size_t n = 0; n < text.size(); ++n) {
    auto res
      = from_json<deliberation_outcome>(std::string_view{text}.substr(0, n));
    if (res) {
      BOOST_ERROR("prefix of length " << n << " decoded");
      break;
    }
    BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
  }
}

BOOST_AUTO_TEST_CASE(not_json) {
  check_fails(from_json<proposal>("content: yes"), {"proposal: invalid JSON"});
  check_fails(from_json<proposal>(R"({"content":"c"} trailing)"),
              {"proposal: invalid JSON"});
  check_fails(from_json<proposal>("{'content':'single quotes'}"),
              {"proposal: invalid JSON"});
  check_fails(from_json<proposal>("{\"content\":\"bad \xff\xfe utf8\"}"),
              {"proposal: invalid JSON"});
  check_fails(from_json<proposal>(R"({"content":"c",})"),
              {"proposal: invalid JSON"});
}

BOOST_AUTO_TEST_CASE(non_object_top_level) {
  check_fails(from_json<proposal>("[]"),
              {"proposal: expected object, got array"});
  check_fails(from_json<proposal>(R"("text")"),
              {"proposal: expected object, got string"});
  check_fails(from_json<task_spec>("42"),
              {"task_spec: expected object, got number"});
  check_fails(from_json<task_spec>("null"),
              {"task_spec: expected object, got null"});
  check_fails(from_json<selection>("true"),
              {"selection: expected object, got boolean"});
}

BOOST_AUTO_TEST_CASE(wrong_field_types) {
  check_fails(from_json<proposal>(R"({"author_id":42,"content":"c"})"),
              {"proposal.author_id: expected string, got number"});
  check_fails(from_json<proposal>(R"({"content":"c","revisions":"r"})"),
              {"proposal.revisions: expected array, got string"});
  check_fails(from_json<proposal>(R"({"content":"c","revisions":["a",1]})"),
              {"proposal.revisions[1]: expected string, got number"});
  check_fails(from_json<proposal>(R"({"content":"c","created_at_ms":"1"})"),
              {"proposal.created_at_ms: expected integer, got string"});
  check_fails(from_json<policy_result>(R"({"passed":"yes"})"),
              {"policy_result.passed: expected boolean, got string"});
  check_fails(from_json<policy_result>(R"({"passed":1})"),
              {"policy_result.passed: expected boolean, got number"});
  check_fails(from_json<check_result>(R"({"score":"high"})"),
              {"check_result.score: expected number, got string"});
  check_fails(from_json<constraints>(R"({"metadata":["a"]})"),
              {"constraints.metadata: expected object, got array"});
  check_fails(from_json<constraints>(R"({"metadata":{"a":"1","owner":2}})"),
              {"constraints.metadata.owner: expected string, got number"});
  // Control characters in a key are masked in the message.
  check_fails(from_json<constraints>(R"({"metadata":{"line\nbreak":2}})"),
              {"constraints.metadata.line?break: expected string"});
  check_fails(from_json<orchestrator_stats>(R"({"role_counts":{"DEV":"3"}})"),
              {"orchestrator_stats.role_counts.DEV: expected integer"});
  check_fails(from_json<task_spec>(R"({"constraints":[]})"),
              {"task_spec.constraints: expected object, got array"});
  check_fails(
    from_json<task_spec>(R"({"constraints":{"requirements":["a","b",{}]}})"),
    {"task_spec.constraints.requirements[2]: expected string, "
     "got object"});
  check_fails(from_json<deliberation_outcome>(
                R"({"results":[{"proposal":{"content":"c"}},)"
                R"({"proposal":{"content":false}}]})"),
              {"deliberation_outcome.results[1].proposal.content: expected "
               "string, got boolean"});
  check_fails(from_json<check_suite>(R"({"additional":[{"details":7}]})"),
              {"check_suite.additional[0].details: expected object"});
  check_fails(from_json<event_envelope>(R"({"event_type":1,"payload":{}})"),
              {"event_envelope.event_type: expected string, got number"});
}

BOOST_AUTO_TEST_CASE(integer_range) {
  check_fails(from_json<constraints>(R"({"k":2147483648})"),
              {"constraints.k", "2147483648", "out of int32 range"});
  check_fails(from_json<constraints>(R"({"k":-2147483649})"),
              {"constraints.k", "out of int32 range"});
  check_fails(from_json<lint_result>(R"({"error_count":1e10})"),
              {"lint_result.error_count", "out of int32 range"});
  check_fails(from_json<constraints>(R"({"rounds":1.5})"),
              {"constraints.rounds: expected integer, got 1.5"});
  check_fails(from_json<proposal>(
                R"({"content":"c","created_at_ms":9223372036854775808})"),
              {"proposal.created_at_ms", "out of int64 range"});
  // Below -2^63 the parser yields a double; -2^63 - 1 would round to -2^63.
  check_fails(from_json<proposal>(
                R"({"content":"c","created_at_ms":-9300000000000000000})"),
              {"proposal.created_at_ms", "out of int64 range"});
  check_fails(from_json<orchestrator_stats>(
                R"({"role_counts":{"DEV":99999999999999999999999}})"),
              {"orchestrator_stats.role_counts.DEV", "out of int64 range"});
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_rejected) {
  auto nested = [](size_t depth) {
    return R"({"content":"c","x":)" + std::string(depth, '[')
           + std::string(depth, ']') + "}";
  };
  BOOST_CHECK(static_cast<bool>(from_json<proposal>(nested(60))));
  check_fails(from_json<proposal>(nested(100)), {"proposal", "deeper than"});
  check_fails(from_json<proposal>(nested(1000000)),
              {"proposal", "deeper than"});
  // Unbalanced and deep: rejected before the parser sees it.
  check_fails(from_json<proposal>(std::string(500000, '[')),
              {"proposal", "deeper than"});
  // Brackets inside strings do not count.
  auto text = R"({"content":")" + std::string(1000, '[') + R"(\"{"})";
  auto y = from_json<proposal>(text);
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->content, std::string(1000, '[') + "\"{");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_encoded_without_throwing) {
  proposal x;
  x.content = "bad \xff\xfe bytes";
  std::string text;
  BOOST_CHECK_NO_THROW(text = to_json(x));
  auto y = from_json<proposal>(text);
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->content, "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
}

BOOST_AUTO_TEST_CASE(is_json_accepts_what_nlohmann_accepts) {
  auto same = [](const std::string& text) {
    auto want = nlohmann::json::accept(text.begin(), text.end());
    BOOST_TEST_CONTEXT("'" << text << "'") {
      BOOST_TEST(is_json(text) == want);
    }
    return want;
  };
  // Cases at the edges of the grammar, each with its verdict.
  std::vector<std::pair<std::string, bool>> cases{
    {"{}", true}, {" [ ] ", true}, {"", false}, {"  ", false},
    {"0", true}, {"-0", true}, {"01", false}, {"-", false}, {"1.", false},
    {".5", false}, {"1e", false}, {"1e+", false}, {"1E-7", true},
    {"-12.5e+3", true}, {"+1", false}, {"1 2", false}, {"1a", false},
    {"true", true}, {"tru", false}, {"nul", false}, {"null ", true},
    {"\"\\u00e9\"", true}, {"\"\\uD83D\\uDE00\"", true},
    {"\"\\uD83D\"", false}, {"\"\\uDE00\"", false}, {"\"\\uD83Dx\"", false},
    {"\"\\u12\"", false}, {"\"\\x\"", false}, {"\"a\tb\"", false},
    {"\"\xc3\xa9\"", true}, {"\"\xc3\"", false}, {"\"\xed\xa0\x80\"", false},
    {"\"\xf4\x90\x80\x80\"", false}, {"\"\xc0\xaf\"", false},
    {"\xEF\xBB\xBF{}", true}, {"\xEF\xBB{}", false},
    {"\xEF\xBB\xBF\xEF\xBB\xBF{}", false}, {" \xEF\xBB\xBF{}", false},
    {"{\"a\":1,}", false}, {"[1,]", false}, {"{\"a\" 1}", false},
    {"{1:2}", false}, {"[1}", false}, {"{\"a\":[1,{\"b\":null}]}", true},
    {"[", false}, {"]", false}, {"{\"a\":1}}", false}, {"/* c */ 1", false},
    {std::string(1, '\0'), false}, {"\"a\0b\"", false},
  };
  cases.back().first = std::string("\"a\0b\"", 5);
  // nlohmann's lexer ends the input at a NUL byte; JSON has no place for
  // one anywhere.
  std::string nul_tail("[1]\0garbage", 11);
  BOOST_TEST(nlohmann::json::accept(nul_tail.begin(), nul_tail.end()));
  BOOST_TEST(!is_json(nul_tail));
  // A number is a number however large; nlohmann rejects what overflows a
  // double.
  std::string huge = "[1e400]";
  BOOST_TEST(!nlohmann::json::accept(huge.begin(), huge.end()));
  BOOST_TEST(is_json(huge));
  for (auto& [text, verdict] : cases)
    BOOST_TEST(same(text) == verdict, "'" << text << "'");
  // Nesting far deeper than a recursive parser's stack would allow.
  BOOST_TEST(same(std::string(100000, '[') + std::string(100000, ']')));
  BOOST_TEST(!same(std::string(100000, '[') + std::string(99999, ']')));
  // Random texts: valid documents, then the same with bytes changed,
  // inserted or removed, against nlohmann's verdict.
  std::mt19937_64 rng{42};
  const std::vector<std::string> atoms{
    "0", "-1.5e3", "12", "true", "false", "null", "\"x\"", "\"\\n\"",
    "\"\\uD834\\uDD1E\"", "\"\xe2\x82\xac\"", "{}", "[]"};
  std::function<std::string(int)> gen = [&](int depth) -> std::string {
    auto pick = rng() % 4;
    if (depth > 3 || pick == 0)
      return atoms[rng() % atoms.size()];
    std::string out = pick == 1 ? "{" : "[";
    auto n = rng() % 4;
    for (size_t k = 0; k < n; ++k) {
      if (k > 0)
        out += rng() % 2 ? "," : " , ";
      if (pick == 1)
        out += "\"k" + std::to_string(k) + "\":";
      out += gen(depth + 1);
    }
    out += pick == 1 ? "}" : "]";
    return out;
  };
  const std::string bytes = "{}[],:\"\\ 0123456789eE.+-tfnu\t\n\x80\xc3\xa9\xff";
  size_t accepted = 0;
  size_t rejected = 0;
  for (int round = 0; round < 20000; ++round) {
    auto text = gen(0);
    auto edits = rng() % 3;
    for (size_t k = 0; k < edits && !text.empty(); ++k) {
      auto at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = bytes[rng() % bytes.size()]; break;
        case 1: text.insert(at, 1, bytes[rng() % bytes.size()]); break;
        default: text.erase(at, 1);
      }
    }
    (same(text) ? accepted : rejected) += 1;
  }
  BOOST_TEST(accepted > 5000u);
  BOOST_TEST(rejected > 5000u);
}

BOOST_AUTO_TEST_CASE(plain_runs_end_where_a_byte_at_a_time_ends) {
  // Eight bytes per step against one: random texts of plain letters with
  // each kind of stop byte (and bytes next to them) here and there, from
  // every offset.
  std::mt19937 rng{11};
  const std::string stops = std::string{"\"\\\x1f\x80\xff\x01"} + '\0';
  const std::string near = " !#[]{}~\x7f";
  for (int round = 0; round < 300; ++round) {
    std::string text(rng() % 40, 'a');
    for (auto& c : text) {
      auto pick = rng() % 20;
      if (pick == 0)
        c = stops[rng() % stops.size()];
      else if (pick < 4)
        c = near[rng() % near.size()];
    }
    for (size_t i = 0; i <= text.size(); ++i) {
      auto want = i;
      while (want < text.size()) {
        auto c = static_cast<unsigned char>(text[want]);
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
          break;
        ++want;
      }
      BOOST_REQUIRE_EQUAL(orch::json_scan::plain_run(text, i), want);
    }
  }
}

BOOST_AUTO_TEST_CASE(strings_are_written_as_nlohmann_writes_them) {
  // Random texts of letters, every escaped byte and UTF-8 sequences of
  // each length, appended after what a string already holds.
  std::mt19937 rng{5};
  const std::vector<std::string> pieces{
    "a", "plain words ", "\"", "\\", "\n", "\r", "\t", "\b", "\f",
    std::string(1, '\0'), "\x01", "\x1f", "\x7f", "/", "\xC3\xA9",
    "\xE2\x82\xAC", "\xF0\x9F\x98\x80", std::string(40, 'x')};
  for (int round = 0; round < 500; ++round) {
    std::string text;
    for (auto n = rng() % 30; n > 0; --n)
      text += pieces[rng() % pieces.size()];
    std::string out = "prefix:";
    orch::append_json_string(out, text);
    BOOST_TEST_CONTEXT("'" << text << "'") {
      BOOST_REQUIRE_EQUAL(out, "prefix:" + nlohmann::json(text).dump());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
