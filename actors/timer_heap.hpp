#pragma once

// Items by a time, earliest first: a binary heap in one vector whose items
// know their place in it (the member `Slot`), so that an item leaves in
// O(log n) without a search, and nothing is allocated per item. The memory
// TASK QUEUE keeps its leases by expiry and its retries by due time in two
// of these (a `std::set` of (time, entry) allocated, searched and
// rebalanced for each lease and each completion).

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace orch {

template<class T, size_t T::*Slot>
class timer_heap {
public:
  /// The value of `Slot` of an item that is not in the heap.
  static constexpr size_t npos = static_cast<size_t>(-1);

  bool empty() const {
    return xs_.empty();
  }

  size_t size() const {
    return xs_.size();
  }

  /// The earliest (time, item).
  const std::pair<int64_t, T*>& top() const {
    return xs_.front();
  }

  /// Adds `x` at time `t`; an item already in moves to `t`.
  void insert(int64_t t, T* x) {
    if (x->*Slot != npos) {
      erase(x);
    }
    xs_.emplace_back(t, x);
    x->*Slot = xs_.size() - 1;
    up(xs_.size() - 1);
  }

  /// Removes `x`; nothing when it is not in.
  void erase(T* x) {
    auto i = x->*Slot;
    if (i == npos)
      return;
    x->*Slot = npos;
    auto last = xs_.size() - 1;
    if (i != last) {
      xs_[i] = xs_[last];
      xs_[i].second->*Slot = i;
      xs_.pop_back();
      // The moved item may belong above or below its new place.
      if (!up(i))
        down(i);
    } else {
      xs_.pop_back();
    }
  }

  /// Removes the earliest item.
  void pop() {
    erase(xs_.front().second);
  }

private:
  bool less(size_t a, size_t b) const {
    return xs_[a].first < xs_[b].first;
  }

  void swap_at(size_t a, size_t b) {
    std::swap(xs_[a], xs_[b]);
    xs_[a].second->*Slot = a;
    xs_[b].second->*Slot = b;
  }

  /// Moves the item at `i` up while it is earlier than its parent; true
  /// when it moved.
  bool up(size_t i) {
    auto start = i;
    while (i > 0) {
      auto parent = (i - 1) / 2;
      if (!less(i, parent))
        break;
      swap_at(i, parent);
      i = parent;
    }
    return i != start;
  }

  void down(size_t i) {
    auto n = xs_.size();
    for (;;) {
      auto l = 2 * i + 1;
      if (l >= n)
        return;
      auto m = l + 1 < n && less(l + 1, l) ? l + 1 : l;
      if (!less(m, i))
        return;
      swap_at(i, m);
      i = m;
    }
  }

  std::vector<std::pair<int64_t, T*>> xs_;
};

} // namespace orch
