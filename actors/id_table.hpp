// A table of heap entries by string id: the in-memory TASK QUEUE's tasks.
//
// std::unordered_map<std::string, entry> put each entry (then ~600 bytes) in
// its own node with the cached hash at the node's end, so a look-up missed
// the cache on the bucket, on the node before it and on each node's hash,
// and a rehash read every node. Here the table is a flat array of (hash,
// entry) slots with linear probing: a look-up reads one slot's cache line
// and then the entry it wants, and a rehash touches only the array. Entries
// live in a block_pool (2 MiB blocks, see there) instead of one malloc each,
// and an array of 1 MiB or more in huge pages too (actors/huge_pages.hpp):
// its look-ups land anywhere in it, and with 4 KiB pages nearly each one
// missed the TLB.

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

#include "actors/block_pool.hpp"

namespace orch {

/// Owns entries of type `T`, found by the id `KeyOf{}(entry)` returns. An
/// entry's address stays until it is erased. At most half of the slots are
/// used; deletion shifts the following slots back (no tombstone slots).
template<class T, class KeyOf>
class id_table {
public:
  id_table() = default;
  id_table(const id_table&) = delete;
  id_table& operator=(const id_table&) = delete;

  ~id_table() {
    for (auto& s : slots_)
      if (s.entry != nullptr)
        pool_.destroy(s.entry);
  }

  size_t size() const {
    return size_;
  }

  /// The entry with this id, if any.
  T* find(std::string_view id) const {
    if (size_ == 0)
      return nullptr;
    return slots_[probe(id, hash(id))].entry;
  }

  /// Asks the CPU to fetch the slot where `id` would be, for a look-up
  /// soon after: a batch prefetches some ids ahead of the one it works on,
  /// so that its cache misses overlap instead of coming one at a time.
  void prefetch(std::string_view id) const {
    if (!slots_.empty())
      __builtin_prefetch(&slots_[home(hash(id))]);
  }

  /// The entry with id `id`, and whether it is new: when there is none, an
  /// entry is constructed in place from `xs`, and it must have the id `id`
  /// (the id may live in what `xs` moves in: it is not read after that).
  template<class... Ts>
  std::pair<T*, bool> try_emplace(std::string_view id, Ts&&... xs) {
    if ((size_ + 1) * 2 > slots_.size())
      grow();
    auto h = hash(id);
    auto& s = slots_[probe(id, h)];
    if (s.entry != nullptr)
      return {s.entry, false};
    auto* x = pool_.make(std::forward<Ts>(xs)...);
    s = slot{h, x};
    ++size_;
    return {x, true};
  }

  /// Removes and destroys `x`, which is in the table.
  void erase(T* x) {
    auto at = probe(KeyOf{}(*x), hash(KeyOf{}(*x)));
    pool_.destroy(slots_[at].entry);
    slots_[at] = slot{};
    --size_;
    // Backward shift: move later slots of the cluster into the hole when
    // their home is at or before it.
    auto mask = slots_.size() - 1;
    for (auto hole = at, i = (at + 1) & mask; slots_[i].entry != nullptr;
         i = (i + 1) & mask) {
      auto h = home(slots_[i].hash);
      if (((i - h) & mask) >= ((i - hole) & mask)) {
        slots_[hole] = slots_[i];
        slots_[i] = slot{};
        hole = i;
      }
    }
  }

  /// Calls `f(entry)` for every entry, in no particular order.
  template<class F>
  void for_each(F f) const {
    for (auto& s : slots_)
      if (s.entry != nullptr)
        f(*s.entry);
  }

private:
  struct slot {
    uint64_t hash = 0;
    T* entry = nullptr;
  };

  /// Zeroed slots (all bits zero: empty), in huge pages from 1 MiB on.
  class slot_array {
  public:
    slot_array() = default;

    explicit slot_array(size_t n) : n_(n) {
      if (mapped())
        data_ = static_cast<slot*>(map_huge(huge_round(bytes())));
      else
        data_ = new slot[n]();
    }

    slot_array(const slot_array&) = delete;
    slot_array& operator=(const slot_array&) = delete;

    ~slot_array() {
      if (data_ == nullptr)
        return;
      if (mapped())
        unmap_huge(data_, huge_round(bytes()));
      else
        delete[] data_;
    }

    void swap(slot_array& other) noexcept {
      std::swap(data_, other.data_);
      std::swap(n_, other.n_);
    }

    size_t size() const {
      return n_;
    }

    bool empty() const {
      return n_ == 0;
    }

    slot& operator[](size_t i) {
      return data_[i];
    }

    const slot& operator[](size_t i) const {
      return data_[i];
    }

    slot* begin() const {
      return data_;
    }

    slot* end() const {
      return data_ + n_;
    }

  private:
    size_t bytes() const {
      return n_ * sizeof(slot);
    }

    /// In huge pages (from map_huge), else from new[].
    bool mapped() const {
      return bytes() >= huge_page_size / 2;
    }

    slot* data_ = nullptr;
    size_t n_ = 0;
  };

  static uint64_t hash(std::string_view id) {
    return std::hash<std::string_view>{}(id);
  }

  size_t home(uint64_t h) const {
    // Fibonacci hashing spreads the slot over all bits of the hash.
    return static_cast<size_t>((h * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  /// The slot holding `id`, or the empty slot where it would go.
  size_t probe(std::string_view id, uint64_t h) const {
    auto mask = slots_.size() - 1;
    auto i = home(h);
    while (slots_[i].entry != nullptr
           && (slots_[i].hash != h || KeyOf{}(*slots_[i].entry) != id))
      i = (i + 1) & mask;
    return i;
  }

  void grow() {
    slot_array old(slots_.empty() ? 16 : slots_.size() * 2);
    old.swap(slots_);
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(slots_.size()));
    auto mask = slots_.size() - 1;
    for (auto& s : old)
      if (s.entry != nullptr) {
        auto i = home(s.hash);
        while (slots_[i].entry != nullptr)
          i = (i + 1) & mask;
        slots_[i] = s;
      }
  }

  block_pool<T> pool_;
  slot_array slots_;
  size_t size_ = 0;
  unsigned shift_ = 64;
};

} // namespace orch
