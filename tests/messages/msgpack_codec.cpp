#include "messages/msgpack_codec.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "messages/json_codec.hpp"

#include "messages/wire_samples.hpp"

using namespace orch;

namespace {

using namespace orch::test;

// -- building msgpack by hand -------------------------------------------------

/// Writes msgpack values one by one, for inputs the encoder never produces.
class builder {
public:
  builder() : pk_(buf_) {
    // nop
  }

  builder& map(uint32_t size) {
    pk_.pack_map(size);
    return *this;
  }

  builder& array(uint32_t size) {
    pk_.pack_array(size);
    return *this;
  }

  builder& str(std::string_view x) {
    pk_.pack_str(static_cast<uint32_t>(x.size()));
    pk_.pack_str_body(x.data(), static_cast<uint32_t>(x.size()));
    return *this;
  }

  builder& bin(std::string_view x) {
    pk_.pack_bin(static_cast<uint32_t>(x.size()));
    pk_.pack_bin_body(x.data(), static_cast<uint32_t>(x.size()));
    return *this;
  }

  builder& int64(int64_t x) {
    pk_.pack_int64(x);
    return *this;
  }

  builder& uint64(uint64_t x) {
    pk_.pack_uint64(x);
    return *this;
  }

  builder& float64(double x) {
    pk_.pack_double(x);
    return *this;
  }

  builder& float32(float x) {
    pk_.pack_float(x);
    return *this;
  }

  builder& boolean(bool x) {
    if (x)
      pk_.pack_true();
    else
      pk_.pack_false();
    return *this;
  }

  builder& nil() {
    pk_.pack_nil();
    return *this;
  }

  /// Appends bytes verbatim, e.g. a forged header.
  builder& raw(std::initializer_list<unsigned char> xs) {
    for (auto x : xs) {
      auto c = static_cast<char>(x);
      buf_.write(&c, 1);
    }
    return *this;
  }

  std::vector<char> bytes() const {
    return {buf_.data(), buf_.data() + buf_.size()};
  }

private:
  msgpack::sbuffer buf_;
  msgpack::packer<msgpack::sbuffer> pk_;
};

/// A one-field map `{name: <value written by f>}`.
template<class F>
std::vector<char> one_field(std::string_view name, F f) {
  builder b;
  b.map(1).str(name);
  f(b);
  return b.bytes();
}

/// A proposal map with `content` plus one more field.
template<class F>
std::vector<char> proposal_with(std::string_view name, F f) {
  builder b;
  b.map(2).str("content").str("c").str(name);
  f(b);
  return b.bytes();
}

} // namespace

BOOST_AUTO_TEST_SUITE(msgpack_codec)

// -- round trips --------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(round_trip, T, wire_types) {
  auto x = sample<T>();
  auto bytes = to_msgpack(x);
  BOOST_REQUIRE(!bytes.empty());
  auto y = from_msgpack<T>(bytes);
  REQUIRE_OK(y);
  check_eq(x, *y);
  // Encoding is deterministic and the decoded value encodes identically.
  BOOST_CHECK((to_msgpack(*y) == bytes));
  auto z = from_msgpack<T>(bytes.data(), bytes.size());
  REQUIRE_OK(z);
  check_eq(x, *z);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(defaults_round_trip, T, wire_types) {
  T x;
  auto y = from_msgpack<T>(to_msgpack(x));
  REQUIRE_OK(y);
  check_eq(x, *y);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_map_takes_defaults, T, lenient_types) {
  auto y = from_msgpack<T>(builder{}.map(0).bytes());
  REQUIRE_OK(y);
  check_eq(T{}, *y);
}

/// The msgpack document is the JSON document: a map with the same keys and
/// values, except that the envelope payload is a string holding the JSON.
BOOST_AUTO_TEST_CASE_TEMPLATE(same_document_as_json, T, wire_types) {
  auto x = sample<T>();
  auto bytes = to_msgpack(x);
  auto from_mp = nlohmann::json::from_msgpack(bytes.begin(), bytes.end());
  auto from_js = nlohmann::json::parse(to_json(x));
  BOOST_REQUIRE(from_mp.is_object());
  if constexpr (std::is_same_v<T, event_envelope>) {
    BOOST_REQUIRE(from_mp["payload"].is_string());
    BOOST_CHECK_EQUAL(from_mp["payload"].template get<std::string>(),
                      sample_payload);
    from_mp["payload"]
      = nlohmann::json::parse(from_mp["payload"].template get<std::string>());
  }
  BOOST_CHECK_MESSAGE(from_mp == from_js,
                      "msgpack: " << from_mp.dump()
                                  << "\njson:    " << from_js.dump());
}

BOOST_AUTO_TEST_CASE(extreme_numbers_round_trip) {
  orchestrator_stats x;
  x.total_deliberations = int64_limits::min();
  x.total_orchestrations = int64_limits::max();
  x.avg_ms = std::numeric_limits<double>::quiet_NaN();
  x.p50_ms = std::numeric_limits<double>::infinity();
  x.p95_ms = -std::numeric_limits<double>::infinity();
  x.p99_ms = std::numeric_limits<double>::denorm_min();
  x.role_counts = {{"min", int64_limits::min()}, {"max", int64_limits::max()}};
  auto y = from_msgpack<orchestrator_stats>(to_msgpack(x));
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->total_deliberations, int64_limits::min());
  BOOST_CHECK_EQUAL(y->total_orchestrations, int64_limits::max());
  BOOST_CHECK(std::isnan(y->avg_ms));
  BOOST_CHECK_EQUAL(y->p50_ms, x.p50_ms);
  BOOST_CHECK_EQUAL(y->p95_ms, x.p95_ms);
  BOOST_CHECK_EQUAL(y->p99_ms, x.p99_ms);
  BOOST_CHECK((y->role_counts == x.role_counts));
}

BOOST_AUTO_TEST_CASE(binary_safe_strings) {
  proposal x;
  const char text[] = "nul \0 inside and \xff\xfe bytes";
  x.content = std::string(text, sizeof(text) - 1);
  auto y = from_msgpack<proposal>(to_msgpack(x));
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->content, x.content);
}

// -- tolerance ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(field_order_unknown_keys_and_nil) {
  builder b;
  b.map(9);
  b.str("created_at_ms").int64(-5);
  b.str("unknown").map(2).str("a").array(2).nil().bin("x").int64(1).boolean(
    true);
  b.int64(7).str("a key that is not a string");
  b.str("revisions").array(2).str("r1").str("r2");
  b.str("content").str("body");
  b.str("author_role").nil();
  b.str("model").str("gpt");
  b.str("author_id").str("agent-1");
  b.str("id").str("p-9");
  auto y = from_msgpack<proposal>(b.bytes());
  REQUIRE_OK(y);
  proposal expected;
  expected.id = "p-9";
  expected.author_id = "agent-1";
  expected.content = "body";
  expected.revisions = {"r1", "r2"};
  expected.created_at_ms = -5;
  check_eq(expected, *y);
}

BOOST_AUTO_TEST_CASE(repeated_key_last_wins) {
  auto bytes = builder{}
                 .map(2)
                 .str("content")
                 .str("first")
                 .str("content")
                 .str("last")
                 .bytes();
  auto y = from_msgpack<proposal>(bytes);
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->content, "last");
}

BOOST_AUTO_TEST_CASE(number_encodings) {
  // Integral floats are integers; any number is a double.
  auto bytes = builder{}
                 .map(4)
                 .str("check_type")
                 .str("t")
                 .str("score")
                 .float32(0.5f)
                 .str("passed")
                 .boolean(false)
                 .str("details")
                 .map(0)
                 .bytes();
  auto y = from_msgpack<check_result>(bytes);
  REQUIRE_OK(y);
  BOOST_CHECK_EQUAL(y->score, 0.5);
  BOOST_CHECK_EQUAL(y->passed, false);
  auto k = from_msgpack<constraints>(
    one_field("k", [](builder& b) { b.float64(-12.0); }));
  REQUIRE_OK(k);
  BOOST_CHECK_EQUAL(k->k, -12);
  auto s = from_msgpack<check_result>(
    one_field("score", [](builder& b) { b.uint64(18446744073709551615u); }));
  REQUIRE_OK(s);
  BOOST_CHECK_GT(s->score, 1.8e19);
  auto n = from_msgpack<check_result>(
    one_field("score", [](builder& b) { b.int64(-3); }));
  REQUIRE_OK(n);
  BOOST_CHECK_EQUAL(n->score, -3.0);
}

// -- required fields ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(required_fields) {
  check_fails(from_msgpack<proposal>(builder{}.map(0).bytes()),
              {"proposal.content", "missing required field"});
  check_fails(
    from_msgpack<proposal>(one_field("content", [](builder& b) { b.nil(); })),
    {"proposal.content", "missing required field"});
  check_fails(from_msgpack<deliberation_result>(builder{}.map(0).bytes()),
              {"deliberation_result.proposal", "missing required field"});
  check_fails(from_msgpack<event_envelope>(
                one_field("payload", [](builder& b) { b.str("{}"); })),
              {"event_envelope.event_type", "missing required field"});
  check_fails(from_msgpack<event_envelope>(
                one_field("event_type", [](builder& b) { b.str("e"); })),
              {"event_envelope.payload", "missing required field"});
  auto env = builder{}
               .map(2)
               .str("event_type")
               .str("e")
               .str("payload")
               .map(1)
               .str("a")
               .int64(1)
               .bytes();
  check_fails(from_msgpack<event_envelope>(env),
              {"event_envelope.payload: expected string, got map"});
}

// -- malformed input ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(empty_input) {
  check_fails(from_msgpack<proposal>(nullptr, 0), {"proposal: empty input"});
  check_fails(from_msgpack<proposal>(std::vector<char>{}),
              {"proposal: empty input"});
  char byte = 0;
  check_fails(from_msgpack<constraints>(&byte, 0),
              {"constraints: empty input"});
}

BOOST_AUTO_TEST_CASE(random_bytes) {
  check_fails(from_msgpack<proposal>(builder{}.raw({0xc1, 0x00}).bytes()),
              {"proposal: malformed msgpack"});
  std::mt19937 gen{42};
  std::uniform_int_distribution<int> len_dist{1, 96};
  std::uniform_int_distribution<int> byte_dist{0, 255};
  size_t failures = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<char> bytes(static_cast<size_t>(len_dist(gen)));
    for (auto& c : bytes)
      c = static_cast<char>(byte_dist(gen));
    auto res = from_msgpack<deliberation_outcome>(bytes);
    if (!res) {
      ++failures;
      if (code_of(res.error()) != ec::decode_failed)
        BOOST_FAIL("unexpected error: " << render(res.error()));
    }
  }
  BOOST_TEST_MESSAGE(failures << " of 20000 random inputs rejected");
  BOOST_CHECK_GT(failures, 19900u);
}

BOOST_AUTO_TEST_CASE(truncated_msgpack) {
  auto bytes = to_msgpack(sample<deliberation_outcome>());
  check_fails(from_msgpack<deliberation_outcome>(bytes.data(),
                                                 bytes.size() / 2),
              {"deliberation_outcome: truncated msgpack input"});
  for (size_t n = 1; n < bytes.size(); ++n) {
    auto res = from_msgpack<deliberation_outcome>(bytes.data(), n);
    if (res) {
      BOOST_ERROR("prefix of length " << n << " decoded");
      break;
    }
    BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
  }
}

BOOST_AUTO_TEST_CASE(trailing_bytes) {
  auto bytes = to_msgpack(sample<proposal>());
  bytes.push_back('\0');
  bytes.push_back('\x01');
  check_fails(from_msgpack<proposal>(bytes),
              {"proposal: 2 trailing bytes after the map"});
}

BOOST_AUTO_TEST_CASE(non_map_top_level) {
  check_fails(from_msgpack<proposal>(builder{}.array(0).bytes()),
              {"proposal: expected map, got array"});
  check_fails(from_msgpack<proposal>(builder{}.int64(1).bytes()),
              {"proposal: expected map, got integer"});
  check_fails(from_msgpack<task_spec>(builder{}.str("{}").bytes()),
              {"task_spec: expected map, got string"});
  check_fails(from_msgpack<task_spec>(builder{}.nil().bytes()),
              {"task_spec: expected map, got nil"});
  check_fails(from_msgpack<selection>(builder{}.bin("x").bytes()),
              {"selection: expected map, got binary"});
  // JSON text is not msgpack.
  auto json = to_json(sample<selection>());
  check_fails(from_msgpack<selection>(json.data(), json.size()), {"selection"});
}

BOOST_AUTO_TEST_CASE(wrong_field_types) {
  check_fails(from_msgpack<proposal>(
                proposal_with("author_id", [](builder& b) { b.int64(42); })),
              {"proposal.author_id: expected string, got integer"});
  check_fails(from_msgpack<proposal>(
                proposal_with("author_id", [](builder& b) { b.bin("a"); })),
              {"proposal.author_id: expected string, got binary"});
  check_fails(from_msgpack<proposal>(
                proposal_with("revisions", [](builder& b) { b.map(0); })),
              {"proposal.revisions: expected array, got map"});
  check_fails(
    from_msgpack<proposal>(proposal_with(
      "revisions", [](builder& b) { b.array(2).str("a").float64(1.5); })),
    {"proposal.revisions[1]: expected string, got float"});
  check_fails(from_msgpack<proposal>(
                proposal_with("created_at_ms", [](builder& b) { b.str("1"); })),
              {"proposal.created_at_ms: expected integer, got string"});
  check_fails(from_msgpack<policy_result>(
                one_field("passed", [](builder& b) { b.int64(1); })),
              {"policy_result.passed: expected boolean, got integer"});
  check_fails(from_msgpack<check_result>(
                one_field("score", [](builder& b) { b.str("high"); })),
              {"check_result.score: expected number, got string"});
  check_fails(from_msgpack<constraints>(
                one_field("metadata", [](builder& b) { b.array(0); })),
              {"constraints.metadata: expected map, got array"});
  check_fails(from_msgpack<constraints>(one_field(
                "metadata",
                [](builder& b) {
                  b.map(2).str("a").str("1").str("owner").boolean(true);
                })),
              {"constraints.metadata.owner: expected string, got boolean"});
  check_fails(from_msgpack<constraints>(
                one_field("metadata",
                          [](builder& b) { b.map(1).int64(3).str("three"); })),
              {"constraints.metadata: expected string key, got integer"});
  // Control characters in a key are masked in the message.
  check_fails(
    from_msgpack<constraints>(one_field(
      "metadata", [](builder& b) { b.map(1).str("line\nbreak").nil(); })),
    {"constraints.metadata.line?break: expected string, got nil"});
  check_fails(from_msgpack<orchestrator_stats>(
                one_field("role_counts",
                          [](builder& b) { b.map(1).str("DEV").str("3"); })),
              {"orchestrator_stats.role_counts.DEV: expected integer"});
  check_fails(from_msgpack<task_spec>(
                one_field("constraints",
                          [](builder& b) {
                            b.map(1).str("requirements").array(1).map(0);
                          })),
              {"task_spec.constraints.requirements[0]: expected string, "
               "got map"});
  check_fails(from_msgpack<deliberation_outcome>(one_field(
                "results",
                [](builder& b) {
                  b.array(2);
                  b.map(1).str("proposal").map(1).str("content").str("c");
                  b.map(1).str("proposal").map(1).str("content").nil();
                })),
              {"deliberation_outcome.results[1].proposal.content: missing"});
  check_fails(
    from_msgpack<check_suite>(one_field(
      "lint", [](builder& b) { b.map(1).str("error_count").str("2"); })),
    {"check_suite.lint.error_count: expected integer, got "
     "string"});
}

BOOST_AUTO_TEST_CASE(integer_range) {
  auto k = [](auto write) {
    return from_msgpack<constraints>(one_field("k", write));
  };
  check_fails(k([](builder& b) { b.int64(2147483648); }),
              {"constraints.k: number 2147483648 out of int32 range"});
  check_fails(k([](builder& b) { b.int64(-2147483649); }),
              {"constraints.k: number -2147483649 out of int32 range"});
  check_fails(k([](builder& b) { b.float64(1e10); }),
              {"constraints.k", "out of int32 range"});
  check_fails(k([](builder& b) { b.float64(2.5); }),
              {"constraints.k: expected integer, got 2.5"});
  check_fails(
    k([](builder& b) { b.float64(std::numeric_limits<double>::quiet_NaN()); }),
    {"constraints.k: expected integer"});
  auto ok = k([](builder& b) { b.int64(-2147483648); });
  REQUIRE_OK(ok);
  BOOST_CHECK_EQUAL(ok->k, int32_limits::min());
  check_fails(
    from_msgpack<proposal>(proposal_with(
      "created_at_ms", [](builder& b) { b.uint64(9223372036854775808u); })),
    {"proposal.created_at_ms: number 9223372036854775808 out of "
     "int64 range"});
  check_fails(from_msgpack<proposal>(proposal_with(
                "created_at_ms", [](builder& b) { b.float64(1e19); })),
              {"proposal.created_at_ms", "out of int64 range"});
}

BOOST_AUTO_TEST_CASE(forged_length_prefixes) {
  // Each header claims far more than the input holds; none may allocate it.
  auto field = [](std::initializer_list<unsigned char> header) {
    return proposal_with("revisions",
                         [&](builder& b) { b.raw(header).raw({0xa1}); });
  };
  // array32, map32, str32, bin32, ext32 with 2^32 - 1 elements or bytes.
  for (auto tag : {0xdd, 0xdf, 0xdb, 0xc6, 0xc9}) {
    auto bytes
      = field({static_cast<unsigned char>(tag), 0xff, 0xff, 0xff, 0xff});
    auto res = from_msgpack<proposal>(bytes);
    BOOST_REQUIRE(!res);
    BOOST_CHECK(code_of(res.error()) == ec::decode_failed);
    BOOST_TEST_MESSAGE("error: " << render(res.error()));
  }
  check_fails(from_msgpack<proposal>(
                builder{}.raw({0xdf, 0xff, 0xff, 0xff, 0xff}).bytes()),
              {"proposal: msgpack length prefix exceeds the input size"});
  check_fails(from_msgpack<proposal>(
                builder{}.raw({0xdd, 0x7f, 0xff, 0xff, 0xff, 0xc0}).bytes()),
              {"proposal: msgpack length prefix exceeds the input size"});
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_rejected) {
  auto nested = [](uint32_t depth) {
    return proposal_with("x", [depth](builder& b) {
      for (uint32_t i = 0; i < depth; ++i)
        b.array(1);
      b.nil();
    });
  };
  REQUIRE_OK(from_msgpack<proposal>(nested(60)));
  check_fails(from_msgpack<proposal>(nested(100)),
              {"proposal: msgpack nests deeper than 64 levels"});
  check_fails(from_msgpack<proposal>(nested(100000)),
              {"proposal: msgpack nests deeper than 64 levels"});
}

BOOST_AUTO_TEST_SUITE_END()
