#pragma once

// Case-insensitive search for many short needles in one pass over a text:
// the SCORER's checks and the `scripted` agent's critiques.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "messages/ascii.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#define ORCH_NEEDLE_SSSE3 1
#endif

namespace orch {

/// How a scan picks the positions worth comparing.
enum class needle_filter {
  /// 32 positions at a time by their first three characters (AVX2).
  avx2,
  /// 16 at a time, the same way (SSSE3).
  ssse3,
  /// One at a time by a bitmap of their first two characters.
  bigram,
};

/// Finds the first occurrence of many short needles in one pass over a text,
/// ignoring ASCII case: a filter of the needles' first characters picks the
/// positions worth comparing. Where the CPU has AVX2 or SSSE3 (checked at
/// run time), 32 or 16 positions at a time by their first three characters;
/// else, and for the last few positions, one at a time by a bitmap of their
/// first two.
class needle_set {
public:
  static constexpr size_t npos = std::string_view::npos;

  /// Adds a needle (any case); returns its id. Empty needles never match.
  size_t add(std::string_view needle) {
    needles_.push_back(to_lower(needle));
    return needles_.size() - 1;
  }

  /// Builds the index; call after the last `add`.
  void build() {
    bits_.assign(1024, 0);
    next_bits_.assign(1024, 0);
    short_bits_.assign(1024, 0);
    index_.clear();
    singles_.clear();
    for (size_t id = 0; id < needles_.size(); ++id) {
      auto& x = needles_[id];
      if (x.size() == 1) {
        singles_.push_back(id);
      } else if (x.size() > 1) {
        // The filter reads the text as it is: every case of the first two
        // characters gets its bit.
        for (auto a : {x[0], upper_char(x[0])})
          for (auto b : {x[1], upper_char(x[1])})
            set_bit(bits_, text_bigram(a, b));
        // A second filter: a needle of two characters matched already,
        // a longer one needs its second and third.
        if (x.size() == 2)
          set_bit(short_bits_, lower_bigram(x[0], x[1]));
        else
          set_bit(next_bits_, lower_bigram(x[1], x[2]));
        index_.emplace_back(lower_bigram(x[0], x[1]), id);
      }
    }
    std::sort(index_.begin(), index_.end());
    build_fingerprints();
  }

  /// Sets `first[id]` to the first position of each needle in `text`, or to
  /// `npos`.
  void scan(std::string_view text, std::vector<size_t>& first) const {
    first.assign(needles_.size(), npos);
    auto left = index_.size();
    auto n = text.size();
    size_t i = 0;
#if ORCH_NEEDLE_SSSE3
    auto f = filter();
    if (left > 0 && f == needle_filter::avx2)
      i = scan_blocks32(text, first, left);
    if (left > 0 && f != needle_filter::bigram)
      i = scan_blocks(text, i, first, left);
#endif
    const auto* bits = bits_.data();
    const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
    // One two-byte load and one bit test per position.
    for (; i + 1 < n && left > 0; ++i) {
      uint16_t w;
      std::memcpy(&w, begin + i, 2);
      if (test_bit(bits, w))
        verify(text, i, first, left);
    }
    for (auto id : singles_) {
      auto c = needles_[id][0];
      for (size_t i = 0; i < n; ++i) {
        if (lower_char(text[i]) == c) {
          first[id] = i;
          break;
        }
      }
    }
  }

  size_t size() const {
    return needles_.size();
  }

  /// Scans with `want`, or the best the CPU has below it; returns the
  /// filter scans use now. For tests, which hold every filter to a plain
  /// search on a machine that has them; scans use the best by default.
  static needle_filter use_filter(needle_filter want) {
#if ORCH_NEEDLE_SSSE3
    if (want == needle_filter::avx2 && !cpu_has_avx2())
      want = needle_filter::ssse3;
    if (want == needle_filter::ssse3 && !cpu_has_ssse3())
      want = needle_filter::bigram;
#else
    want = needle_filter::bigram;
#endif
    filter_in_use() = want;
    return want;
  }

private:
  /// Records the needles that start at `text[i]`, a position that passed a
  /// filter: exact on the first two characters, a second filter on the
  /// second and third, then each needle of that first pair compared.
  void verify(std::string_view text, size_t i, std::vector<size_t>& first,
              size_t& left) const {
    auto n = text.size();
    auto second = lower_char(text[i + 1]);
    auto lb = lower_bigram(lower_char(text[i]), second);
    if (!test_bit(short_bits_.data(), lb)
        && (i + 2 == n
            || !test_bit(next_bits_.data(),
                         lower_bigram(second, lower_char(text[i + 2])))))
      return;
    auto it = std::lower_bound(index_.begin(), index_.end(),
                               std::make_pair(lb, size_t{0}));
    for (; it != index_.end() && it->first == lb; ++it) {
      auto id = it->second;
      if (first[id] == npos && matches_at(text, i, needles_[id])) {
        first[id] = i;
        --left;
      }
    }
  }

  /// The SSSE3 filter (the "Teddy" scheme of Hyperscan, as its authors
  /// describe it): the needles of two or more characters in 8 buckets; per
  /// position k of a needle's first three and per half of a byte, a table of
  /// the buckets that allow it there. A text byte looks up both of its
  /// halves with one byte shuffle each; a position is a candidate when some
  /// bucket allows its three bytes. A bucket allows more than its needles
  /// (the halves of different bytes combine), never less.
  void build_fingerprints() {
    for (auto& t : lo_)
      t.fill(0);
    for (auto& t : hi_)
      t.fill(0);
    // Neighbours in the sorted index share buckets: needles alike in their
    // first characters add fewer strangers to a bucket.
    for (size_t k = 0; k < index_.size(); ++k) {
      auto bit = static_cast<uint8_t>(1u << (k * 8 / index_.size()));
      auto& x = needles_[index_[k].second];
      for (size_t pos = 0; pos < 3; ++pos) {
        if (pos >= x.size()) {
          // Two characters: anything may follow.
          for (size_t h = 0; h < 16; ++h) {
            lo_[pos][h] |= bit;
            hi_[pos][h] |= bit;
          }
          continue;
        }
        for (auto c : {x[pos], upper_char(x[pos])}) {
          auto u = static_cast<unsigned char>(c);
          lo_[pos][u & 15] |= bit;
          hi_[pos][u >> 4] |= bit;
        }
      }
    }
  }

  /// The filter scans use.
  static needle_filter filter() {
    return filter_in_use().load(std::memory_order_relaxed);
  }

  static std::atomic<needle_filter>& filter_in_use() {
    static std::atomic<needle_filter> f{best_filter()};
    return f;
  }

  static needle_filter best_filter() {
#if ORCH_NEEDLE_SSSE3
    if (cpu_has_avx2())
      return needle_filter::avx2;
    if (cpu_has_ssse3())
      return needle_filter::ssse3;
#endif
    return needle_filter::bigram;
  }

#if ORCH_NEEDLE_SSSE3
  static bool cpu_has_ssse3() {
    return __builtin_cpu_supports("ssse3") != 0;
  }

  static bool cpu_has_avx2() {
    return __builtin_cpu_supports("avx2") != 0;
  }

  /// The filter below, 32 positions at a time (AVX2 shuffles bytes within
  /// each 16-byte half, so both halves get the same tables); returns where
  /// the next filter goes on.
  __attribute__((target("avx2"))) size_t
  scan_blocks32(std::string_view text, std::vector<size_t>& first,
                size_t& left) const {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    auto n = text.size();
    const auto nibble = _mm256_set1_epi8(0x0f);
    const auto zero = _mm256_setzero_si256();
    __m256i lo[3];
    __m256i hi[3];
    for (size_t k = 0; k < 3; ++k) {
      lo[k] = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(lo_[k].data())));
      hi[k] = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi_[k].data())));
    }
    size_t p = 0;
    for (; p + 34 <= n; p += 32) {
      auto m = _mm256_set1_epi8(-1);
      for (size_t k = 0; k < 3; ++k) {
        auto v = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(s + p + k));
        auto l = _mm256_and_si256(v, nibble);
        auto h = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);
        m = _mm256_and_si256(m,
                             _mm256_and_si256(_mm256_shuffle_epi8(lo[k], l),
                                              _mm256_shuffle_epi8(hi[k], h)));
      }
      auto mask = ~static_cast<uint32_t>(
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(m, zero)));
      while (mask != 0) {
        verify(text, p + static_cast<size_t>(__builtin_ctz(mask)), first,
               left);
        if (left == 0)
          return n;
        mask &= mask - 1;
      }
    }
    return p;
  }

  /// Verifies the candidates of the positions from `from` on whose three
  /// bytes are in the text, 16 at a time; returns where the one-at-a-time
  /// loop goes on.
  __attribute__((target("ssse3"))) size_t
  scan_blocks(std::string_view text, size_t from, std::vector<size_t>& first,
              size_t& left) const {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    auto n = text.size();
    const auto nibble = _mm_set1_epi8(0x0f);
    const auto zero = _mm_setzero_si128();
    __m128i lo[3];
    __m128i hi[3];
    for (size_t k = 0; k < 3; ++k) {
      lo[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lo_[k].data()));
      hi[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi_[k].data()));
    }
    size_t p = from;
    for (; p + 18 <= n; p += 16) {
      auto m = _mm_set1_epi8(-1);
      for (size_t k = 0; k < 3; ++k) {
        auto v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + p + k));
        auto l = _mm_and_si128(v, nibble);
        auto h = _mm_and_si128(_mm_srli_epi16(v, 4), nibble);
        m = _mm_and_si128(m, _mm_and_si128(_mm_shuffle_epi8(lo[k], l),
                                           _mm_shuffle_epi8(hi[k], h)));
      }
      auto mask = ~static_cast<unsigned>(
                    _mm_movemask_epi8(_mm_cmpeq_epi8(m, zero)))
                  & 0xffffu;
      while (mask != 0) {
        verify(text, p + static_cast<size_t>(__builtin_ctz(mask)), first,
               left);
        if (left == 0)
          return n;
        mask &= mask - 1;
      }
    }
    return p;
  }
#endif

  /// Two characters as a key, the first in the high byte.
  static uint16_t lower_bigram(char a, char b) {
    return static_cast<uint16_t>((static_cast<unsigned char>(a) << 8)
                                 | static_cast<unsigned char>(b));
  }

  /// Two characters as the hot loop reads them from the text: one
  /// little-endian 16-bit load, the first character in the low byte.
  static uint16_t text_bigram(char a, char b) {
    unsigned char bytes[2] = {static_cast<unsigned char>(a),
                              static_cast<unsigned char>(b)};
    uint16_t w;
    std::memcpy(&w, bytes, 2);
    return w;
  }

  static char upper_char(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }

  static void set_bit(std::vector<uint64_t>& bits, uint16_t b) {
    bits[b >> 6] |= uint64_t{1} << (b & 63);
  }

  static bool test_bit(const uint64_t* bits, uint16_t b) {
    return ((bits[b >> 6] >> (b & 63)) & 1) != 0;
  }


  /// Compares from the third character on: the bigram matched already.
  static bool matches_at(std::string_view text, size_t pos,
                         const std::string& needle) {
    if (needle.size() > text.size() - pos)
      return false;
    for (size_t k = 2; k < needle.size(); ++k)
      if (lower_char(text[pos + k]) != needle[k])
        return false;
    return true;
  }

  std::vector<std::string> needles_;
  /// One bit per two-character sequence of the text that may start a
  /// needle, in any case.
  std::vector<uint64_t> bits_;
  /// One bit per lower-case second and third character of a needle.
  std::vector<uint64_t> next_bits_;
  /// One bit per needle of two characters.
  std::vector<uint64_t> short_bits_;
  /// (lower-case first two characters, needle), sorted.
  std::vector<std::pair<uint16_t, size_t>> index_;
  std::vector<size_t> singles_;
  /// Per position 0..2 of a needle: the buckets allowing a byte whose low
  /// (lo_) or high (hi_) half is the index.
  std::array<std::array<uint8_t, 16>, 3> lo_{};
  std::array<std::array<uint8_t, 16>, 3> hi_{};
};

} // namespace orch
