// The one-pass search of the scorer and the scripted critiques for many needles
// against a plain search of each needle in a lower-cased copy: random texts
// over a small alphabet (so that needles occur, overlap and repeat), in mixed
// case, with needles of one, two and more characters and with bytes outside
// ASCII.

#include <random>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "actors/needle_set.hpp"

namespace {

using orch::lower_char;
using needles = orch::needle_set;

std::string lower(std::string x) {
  for (auto& c : x)
    c = lower_char(c);
  return x;
}

/// Random needle sets and texts over `alphabet`, in mixed case.
struct random_search {
  uint64_t seed;
  std::string alphabet;
  int rounds;
  /// Needles per set: 1 to `max_needles`; each `min_length` to
  /// `min_length + length_span - 1` characters; texts below `text_below`.
  size_t max_needles;
  size_t min_length;
  size_t length_span;
  size_t text_below;
};

/// How often a needle was found, found in a text's last 17 bytes, found
/// in the 16 before them, or not.
struct search_outcomes {
  size_t found = 0;
  size_t missing = 0;
  size_t late = 0;
  size_t before_late = 0;
};

/// Scans random texts for random needle sets and requires each needle's
/// first position to be a plain search's in a lower-cased copy.
search_outcomes compare_with_plain_search(const random_search& r) {
  std::mt19937_64 rng{r.seed};
  auto pick = [&](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i)
      out += r.alphabet[rng() % r.alphabet.size()];
    return out;
  };
  search_outcomes seen;
  for (int round = 0; round < r.rounds; ++round) {
    needles set;
    std::vector<std::string> needles;
    auto count = 1 + rng() % r.max_needles;
    for (size_t k = 0; k < count; ++k) {
      auto needle = pick(r.min_length + rng() % r.length_span);
      needles.push_back(lower(needle));
      set.add(needle);
    }
    set.build();
    auto text = pick(rng() % r.text_below);
    auto lowered = lower(text);
    std::vector<size_t> first;
    set.scan(text, first);
    BOOST_REQUIRE_EQUAL(first.size(), needles.size());
    for (size_t k = 0; k < needles.size(); ++k) {
      auto want = lowered.find(needles[k]);
      BOOST_REQUIRE_MESSAGE(first[k] == want, "needle '"
                                                << needles[k] << "' in '"
                                                << text << "': " << first[k]
                                                << " instead of " << want);
      (want == std::string::npos ? seen.missing : seen.found) += 1;
      seen.late += want != std::string::npos && want + 18 > text.size();
      seen.before_late += want != std::string::npos && want + 18 <= text.size()
                          && want + 34 > text.size();
    }
  }
  return seen;
}

/// Runs `f` with each filter: 32 positions at a time (where the CPU has
/// AVX2), 16 (SSSE3), and one at a time, which CPUs without either run;
/// then goes back to the best. Each context names the filter asked for and
/// the one the CPU gave (the same where it has them).
template<class F>
void with_each_filter(F f) {
  for (auto want : {orch::needle_filter::avx2, orch::needle_filter::ssse3,
                    orch::needle_filter::bigram}) {
    auto got = needles::use_filter(want);
    BOOST_TEST_CONTEXT("filter " << static_cast<int>(want) << " runs as "
                                 << static_cast<int>(got)) {
      f();
    }
  }
  needles::use_filter(orch::needle_filter::avx2);
}

} // namespace

BOOST_AUTO_TEST_SUITE(needle_set)

BOOST_AUTO_TEST_CASE(finds_each_needle_first_like_a_plain_search) {
  with_each_filter([] {
    // Letters in both cases, a space, a backtick, and two bytes above ASCII.
    auto seen = compare_with_plain_search(
      {20261202, "abcABC `\xc3\xa9", 3000, 8, 1, 5, 120});
    // Both outcomes were exercised many times.
    BOOST_TEST(seen.found > 1000u);
    BOOST_TEST(seen.missing > 1000u);
  });
}

BOOST_AUTO_TEST_CASE(many_needles_in_long_texts_like_a_plain_search) {
  with_each_filter([] {
    // Up to 40 needles (buckets of the 16-at-a-time filter hold several) in
    // texts of up to 600 bytes (many blocks of 16, and a tail), over bytes
    // that share a half with each other in every way: the same low half in
    // both cases and outside letters (a A q Q ! 1), the same high half
    // (a b c), bytes above ASCII with the low halves of letters.
    auto seen = compare_with_plain_search(
      {20261203, "abcABCqQ!1 `\xe1\xc1\xa3", 1500, 40, 2, 5, 600});
    BOOST_TEST(seen.found > 1000u);
    BOOST_TEST(seen.missing > 1000u);
    // Needles found in the last 17 bytes, where blocks of 16 end, and in
    // the 16 before, where blocks of 32 end and one of 16 may follow.
    BOOST_TEST(seen.late > 100u);
    BOOST_TEST(seen.before_late > 100u);
  });
}

BOOST_AUTO_TEST_CASE(an_empty_needle_never_matches) {
  needles set;
  set.add("");
  set.add("Ab");
  set.build();
  std::vector<size_t> first;
  set.scan("xxaB", first);
  BOOST_REQUIRE_EQUAL(first.size(), 2u);
  BOOST_TEST(first[0] == needles::npos);
  BOOST_TEST(first[1] == 2u);
  set.scan("", first);
  BOOST_TEST(first[1] == needles::npos);
}

BOOST_AUTO_TEST_SUITE_END()
