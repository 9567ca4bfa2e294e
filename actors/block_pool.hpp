// Objects of one type carved out of 2 MiB blocks: the in-memory TASK
// QUEUE's entries.
//
// Each new task's ~600-byte entry used to come from malloc in fresh memory,
// and the first write to each 4 KiB page of it was a page fault: ~12 µs
// each on the VMs this runs on, more than everything else an enqueue does.
// Here memory comes in 2 MiB blocks aligned to 2 MiB and advised for
// transparent huge pages (one fault per block where the kernel has a huge
// page to give, and a 2 MiB TLB entry for ~3,400 entries) and populated in
// one call where it has not; an object freed goes to a free list that the
// next one takes.

#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#  include <sanitizer/asan_interface.h>
#  define ORCH_POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#  define ORCH_POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#  define ORCH_POOL_POISON(p, n) ((void) (p), (void) (n))
#  define ORCH_POOL_UNPOISON(p, n) ((void) (p), (void) (n))
#endif

namespace orch {

#ifdef MADV_POPULATE_WRITE
inline constexpr int populate_write = MADV_POPULATE_WRITE;
#else
inline constexpr int populate_write = 23; // Linux 5.14; older headers lack it
#endif

/// Makes and destroys objects of type `T` in blocks of `block_size` bytes.
/// Addresses stay until the object is destroyed; memory goes back to the
/// kernel when the pool does (a slot freed is reused, not returned).
template<class T>
class block_pool {
public:
  static constexpr size_t block_size = size_t{2} << 20;

  block_pool() = default;
  block_pool(const block_pool&) = delete;
  block_pool& operator=(const block_pool&) = delete;

  /// Unmaps the blocks; objects still alive are not destroyed (the owner
  /// destroys them first).
  ~block_pool() {
    for (auto* b : blocks_) {
      ORCH_POOL_UNPOISON(b, block_size);
      munmap(b, block_size);
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
    // Twice the size, so that a 2 MiB-aligned block lies inside; the rest
    // goes back at once.
    auto* raw = static_cast<char*>(mmap(nullptr, 2 * block_size,
                                        PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (raw == MAP_FAILED)
      throw std::bad_alloc{};
    auto at = (reinterpret_cast<uintptr_t>(raw) + block_size - 1)
              & ~(uintptr_t{block_size} - 1);
    auto* block = reinterpret_cast<char*>(at);
    if (block > raw)
      munmap(raw, static_cast<size_t>(block - raw));
    if (auto tail = raw + 2 * block_size - (block + block_size); tail > 0)
      munmap(block + block_size, static_cast<size_t>(tail));
    try {
      blocks_.push_back(block);
    } catch (...) {
      munmap(block, block_size);
      throw;
    }
    // Advice only: where the kernel has no transparent huge pages these
    // fail and the block faults in by 4 KiB pages as malloc's memory does.
#ifdef MADV_HUGEPAGE
    madvise(block, block_size, MADV_HUGEPAGE);
#endif
    // Fault the block in with one call instead of page by page (where no
    // huge page was there to take, ~2.5x faster per page here).
    madvise(block, block_size, populate_write);
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
