#pragma once

// Case-insensitive search for many short needles in one pass over a text:
// the SCORER's checks and the `scripted` agent's critiques.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "messages/ascii.hpp"

namespace orch {

/// Finds the first occurrence of many short needles in one pass over a text,
/// ignoring ASCII case: a bitmap of the needles' first two characters filters
/// the positions worth comparing.
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
  }

  /// Sets `first[id]` to the first position of each needle in `text`, or to
  /// `npos`.
  void scan(std::string_view text, std::vector<size_t>& first) const {
    first.assign(needles_.size(), npos);
    auto left = index_.size();
    auto n = text.size();
    const auto* bits = bits_.data();
    const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
    const auto* last = begin + (n > 0 ? n - 1 : 0);
    // The hot loop: one two-byte load and one bit test per position.
    for (auto* q = begin; q < last; ++q) {
      uint16_t w;
      std::memcpy(&w, q, 2);
      if ((bits[w >> 6] & (uint64_t{1} << (w & 63))) == 0)
        continue;
      auto i = static_cast<size_t>(q - begin);
      auto second = lower_char(text[i + 1]);
      auto lb = lower_bigram(lower_char(text[i]), second);
      if (!test_bit(short_bits_.data(), lb)
          && (i + 2 == n
              || !test_bit(next_bits_.data(),
                           lower_bigram(second, lower_char(text[i + 2])))))
        continue;
      auto it = std::lower_bound(index_.begin(), index_.end(),
                                 std::make_pair(lb, size_t{0}));
      for (; it != index_.end() && it->first == lb; ++it) {
        auto id = it->second;
        if (first[id] == npos && matches_at(text, i, needles_[id])) {
          first[id] = i;
          --left;
        }
      }
      if (left == 0)
        break;
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

private:
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
};

} // namespace orch
