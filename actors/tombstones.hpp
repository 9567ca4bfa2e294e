// Tombstones of the in-memory TASK QUEUE: the final states of tasks that
// left memory, so that a late redelivery cannot enqueue a finished task
// again and a dependency on it still resolves.

#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace orch {

/// At most `capacity` (task id → final state) entries, oldest dropped first,
/// kept by a 64-bit hash of the id: a ring of hashes and states in the order
/// they were added, and an open-addressed index (linear probing, deletion by
/// backward shift) into it — 13 bytes per entry where a map of id strings
/// took ~150. Two ids with the same hash (about 1 in 10^13 per lookup at a
/// million entries) would make the newer one look finished already.
class tombstones {
public:
  explicit tombstones(size_t capacity) : capacity_(capacity) {
  }

  size_t size() const {
    return hashes_.size() < capacity_ ? hashes_.size() : capacity_;
  }

  /// The final state recorded for `id`.
  std::optional<uint8_t> find(std::string_view id) const {
    if (index_.empty())
      return std::nullopt; // nothing recorded: no need to hash `id`
    auto at = slot_of(hash(id));
    if (at == npos)
      return std::nullopt;
    return states_[index_[at] - 1];
  }

  /// Records `id`; the oldest entry leaves when the table is full.
  void add(std::string_view id, uint8_t state) {
    if (capacity_ == 0)
      return;
    auto h = hash(id);
    if (auto at = slot_of(h); at != npos) {
      states_[index_[at] - 1] = state;
      return;
    }
    uint32_t pos;
    if (hashes_.size() < capacity_) {
      hashes_.push_back(h);
      states_.push_back(state);
      pos = static_cast<uint32_t>(hashes_.size() - 1);
      if (hashes_.size() * 2 > index_.size())
        rebuild();
      else
        insert(pos);
      return;
    }
    // Full: the oldest entry's place in the ring takes the new one.
    pos = static_cast<uint32_t>(oldest_);
    erase(slot_of(hashes_[pos]));
    hashes_[pos] = h;
    states_[pos] = state;
    insert(pos);
    oldest_ = (oldest_ + 1) % capacity_;
  }

private:
  static constexpr size_t npos = static_cast<size_t>(-1);

  static uint64_t hash(std::string_view id) {
    return std::hash<std::string_view>{}(id);
  }

  size_t home(uint64_t h) const {
    // Fibonacci hashing spreads the index over all bits of the hash.
    return static_cast<size_t>((h * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  size_t slot_of(uint64_t h) const {
    if (index_.empty())
      return npos;
    for (auto i = home(h);; i = (i + 1) & mask_) {
      if (index_[i] == 0)
        return npos;
      if (hashes_[index_[i] - 1] == h)
        return i;
    }
  }

  void insert(uint32_t pos) {
    auto i = home(hashes_[pos]);
    while (index_[i] != 0)
      i = (i + 1) & mask_;
    index_[i] = pos + 1;
  }

  /// Empties slot `i` and moves later entries of its probe run back, so
  /// that no lookup stops early at the hole.
  void erase(size_t i) {
    for (auto j = (i + 1) & mask_; index_[j] != 0; j = (j + 1) & mask_) {
      auto k = home(hashes_[index_[j] - 1]);
      // Entry j may move to i when its home is not in (i, j] (cyclically).
      bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (!stays) {
        index_[i] = index_[j];
        i = j;
      }
    }
    index_[i] = 0;
  }

  /// Doubles the index (at least twice the entries) and fills it again.
  void rebuild() {
    size_t n = 16;
    int bits = 4;
    while (n < hashes_.size() * 2) {
      n *= 2;
      ++bits;
    }
    index_.assign(n, 0);
    mask_ = n - 1;
    shift_ = 64 - bits;
    for (uint32_t pos = 0; pos < hashes_.size(); ++pos)
      insert(pos);
  }

  size_t capacity_;
  /// Ring in the order entries were added; `oldest_` once it is full.
  std::vector<uint64_t> hashes_;
  std::vector<uint8_t> states_;
  size_t oldest_ = 0;
  /// Ring position + 1 per slot; 0 is empty.
  std::vector<uint32_t> index_;
  size_t mask_ = 0;
  int shift_ = 64;
};

} // namespace orch
