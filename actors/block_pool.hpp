// Objects of one type carved out of 2 MiB blocks: the in-memory TASK
// QUEUE's entries.
//
// Each new task's ~600-byte entry used to come from malloc in fresh memory,
// and the first write to each 4 KiB page of it was a page fault: ~12 µs
// each on the VMs this runs on, more than everything else an enqueue does.
// Here memory comes in 2 MiB blocks from map_huge (actors/huge_pages.hpp:
// one huge page per block where the kernel has one to give, and one TLB
// entry for ~5,300 entries); an object freed goes to a free list that the
// next one takes. Blocks come from the process's page_reserve
// (actors/page_reserve.hpp), which makes the next ones ready on a thread of
// its own while this pool fills the current one.

#pragma once

#include <cstddef>
#include <new>
#include <utility>
#include <vector>

#include "actors/huge_pages.hpp"
#include "actors/page_reserve.hpp"

#if defined(__SANITIZE_ADDRESS__)
#  include <sanitizer/asan_interface.h>
#  define ORCH_POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#  define ORCH_POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#  define ORCH_POOL_POISON(p, n) ((void) (p), (void) (n))
#  define ORCH_POOL_UNPOISON(p, n) ((void) (p), (void) (n))
#endif

namespace orch {

/// Makes and destroys objects of type `T` in blocks of `block_size` bytes.
/// Addresses stay until the object is destroyed; memory goes back to the
/// kernel when the pool does (a slot freed is reused, not returned).
template<class T>
class block_pool {
public:
  static constexpr size_t block_size = huge_page_size;

  block_pool() = default;
  block_pool(const block_pool&) = delete;
  block_pool& operator=(const block_pool&) = delete;

  /// Unmaps the blocks; objects still alive are not destroyed (the owner
  /// destroys them first).
  ~block_pool() {
    for (auto* b : blocks_) {
      ORCH_POOL_UNPOISON(b, block_size);
      unmap_huge(b, block_size);
    }
  }

  template<class... Ts>
  T* make(Ts&&... xs) {
    auto* s = take();
    ORCH_POOL_UNPOISON(s, sizeof(slot));
    try {
      return ::new (static_cast<void*>(s)) T(std::forward<Ts>(xs)...);
    } catch (...) {
      give(s);
      throw;
    }
  }

  void destroy(T* x) {
    x->~T();
    give(reinterpret_cast<slot*>(x));
  }

  /// Blocks taken from the kernel so far.
  size_t blocks() const {
    return blocks_.size();
  }

private:
  union slot {
    slot* next;
    alignas(T) unsigned char bytes[sizeof(T)];
  };

  static_assert(sizeof(slot) <= block_size);

  slot* take() {
    if (free_ != nullptr) {
      auto* s = free_;
      ORCH_POOL_UNPOISON(s, sizeof(slot*));
      free_ = s->next;
      return s;
    }
    if (bump_ == end_)
      add_block();
    return bump_++;
  }

  void give(slot* s) {
    s->next = free_;
    free_ = s;
    ORCH_POOL_POISON(s, sizeof(slot));
  }

  void add_block() {
    auto* block = static_cast<char*>(page_reserve::instance().take());
    try {
      blocks_.push_back(block);
    } catch (...) {
      unmap_huge(block, block_size);
      throw;
    }
    ORCH_POOL_POISON(block, block_size);
    bump_ = reinterpret_cast<slot*>(block);
    end_ = bump_ + block_size / sizeof(slot);
  }

  slot* free_ = nullptr;
  slot* bump_ = nullptr;
  slot* end_ = nullptr;
  std::vector<char*> blocks_;
};

} // namespace orch

#undef ORCH_POOL_POISON
#undef ORCH_POOL_UNPOISON
