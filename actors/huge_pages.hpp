// Memory in 2 MiB pieces for the big structures of the in-memory TASK
// QUEUE (its entries, its table of ids).
//
// On the VMs this runs on, a first write to a 4 KiB page of fresh memory
// costs ~12 µs (a page fault) and a TLB miss walks two levels of page
// tables. Memory mapped here is aligned to 2 MiB and advised for
// transparent huge pages, then populated in one call: one huge page per
// 2 MiB where the kernel has one to give, and where it has not, its 4 KiB
// pages faulted in together (~2.5x cheaper per page than one by one).

#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include <sys/mman.h>

namespace orch {

/// 2 MiB, the size of an x86-64 huge page.
inline constexpr size_t huge_page_size = size_t{2} << 20;

#ifdef MADV_POPULATE_WRITE
inline constexpr int populate_write = MADV_POPULATE_WRITE;
#else
inline constexpr int populate_write = 23; // Linux 5.14; older headers lack it
#endif

/// `bytes` (a multiple of huge_page_size) of zeroed memory aligned to
/// huge_page_size; throws std::bad_alloc when the kernel has none.
inline void* map_huge(size_t bytes) {
  // Mapped with one huge page to spare, so that an aligned range lies
  // inside; the rest goes back at once.
  auto* raw = static_cast<char*>(mmap(nullptr, bytes + huge_page_size,
                                      PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (raw == MAP_FAILED)
    throw std::bad_alloc{};
  auto at = (reinterpret_cast<uintptr_t>(raw) + huge_page_size - 1)
            & ~(uintptr_t{huge_page_size} - 1);
  auto* p = reinterpret_cast<char*>(at);
  if (p > raw)
    munmap(raw, static_cast<size_t>(p - raw));
  if (auto tail = raw + bytes + huge_page_size - (p + bytes); tail > 0)
    munmap(p + bytes, static_cast<size_t>(tail));
  // Advice only: without transparent huge pages (or an older kernel) these
  // fail and the memory faults in by 4 KiB pages, as malloc's does.
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);
#endif
  madvise(p, bytes, populate_write);
  return p;
}

inline void unmap_huge(void* p, size_t bytes) {
  munmap(p, bytes);
}

/// Rounds `bytes` up to a multiple of huge_page_size.
inline size_t huge_round(size_t bytes) {
  return (bytes + huge_page_size - 1) & ~(huge_page_size - 1);
}

} // namespace orch
