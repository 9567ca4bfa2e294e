// The READY tasks of the in-memory TASK QUEUE in lease order: higher
// priority first, then lower enqueue sequence number.
//
// A std::set of (priority, seq) allocated, compared its way down and
// rebalanced for every task made ready and every task leased. Here each
// priority has a FIFO for items that arrive in rising seq order (every
// task ready when it is queued) and a binary heap for the rest (tasks made
// ready late, by a dependency completing or a retry); the next item is the
// smaller front of the two. Removal is lazy: a removed seq is remembered
// and skipped when it comes to the front, so nothing is searched for and
// no removed item is ever read through its pointer.

#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

namespace orch {

/// Items `T*` by (priority, seq). Each seq belongs to one item; pushing a
/// seq again after removing it is allowed (the item comes out once).
template<class T>
class ready_queue {
public:
  size_t size() const {
    return size_;
  }

  bool empty() const {
    return size_ == 0;
  }

  void push(int32_t priority, int64_t seq, T* x) {
    auto& l = levels_[priority];
    if (l.fifo.empty() || l.fifo.back().seq < seq) {
      l.fifo.push_back(item{seq, x});
    } else {
      l.late.push_back(item{seq, x});
      std::push_heap(l.late.begin(), l.late.end(), later);
    }
    ++size_;
  }

  /// Removes the item pushed with `seq` and not popped since.
  void remove(int64_t seq) {
    ++removed_[seq];
    --size_;
  }

  /// Takes the first item out; nullptr when there is none.
  T* pop() {
    while (!levels_.empty()) {
      auto at = levels_.begin();
      auto& l = at->second;
      item next;
      if (!l.fifo.empty()
          && (l.late.empty() || l.fifo.front().seq < l.late.front().seq)) {
        next = l.fifo.front();
        l.fifo.pop_front();
      } else if (!l.late.empty()) {
        std::pop_heap(l.late.begin(), l.late.end(), later);
        next = l.late.back();
        l.late.pop_back();
      } else {
        levels_.erase(at);
        continue;
      }
      if (!removed_.empty())
        if (auto r = removed_.find(next.seq); r != removed_.end()) {
          if (--r->second == 0)
            removed_.erase(r);
          continue;
        }
      --size_;
      return next.x;
    }
    return nullptr;
  }

private:
  struct item {
    int64_t seq = 0;
    T* x = nullptr;
  };

  /// Heap order: the smallest seq on top.
  static bool later(const item& a, const item& b) {
    return a.seq > b.seq;
  }

  struct level {
    std::deque<item> fifo;
    std::vector<item> late;
  };

  std::map<int32_t, level, std::greater<int32_t>> levels_;
  /// Removed seqs, with how many of their items are still queued.
  std::unordered_map<int64_t, uint32_t> removed_;
  size_t size_ = 0;
};

} // namespace orch
