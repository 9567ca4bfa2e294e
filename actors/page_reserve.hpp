// Blocks of 2 MiB made ready ahead of need, on a thread of their own.
//
// The in-memory TASK QUEUE takes a fresh 2 MiB block (actors/block_pool.hpp)
// every ~5,300 tasks, and the kernel zeroes it before the first write. On
// the VMs this runs on that zeroing is not steady: the host backs guest
// memory at its first touch, and `perf` put 40-60% of a slow run's time in
// `clear_page_erms` under the queue's own `madvise`, against 3% in a fast
// run of the same binary. Here a thread maps and populates the next blocks
// while the queue works, so the queue's thread takes memory that is ready.

#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace orch {

/// Hands out populated blocks of huge_page_size (actors/huge_pages.hpp),
/// each released with unmap_huge by whoever took it. Keeps up to as many
/// ready as were taken so far, at most `max_ahead`: memory is mapped ahead
/// only for a process that has shown it grows. Thread-safe.
class page_reserve {
public:
  static constexpr size_t default_max_ahead = 8;

  explicit page_reserve(size_t max_ahead = default_max_ahead);
  page_reserve(const page_reserve&) = delete;
  page_reserve& operator=(const page_reserve&) = delete;

  /// Stops the thread and unmaps the blocks still held.
  ~page_reserve();

  /// The process's reserve (the memory queue's pools take from it).
  static page_reserve& instance();

  /// A zeroed block aligned to huge_page_size: one made ready before when
  /// there is one, else mapped now on the caller's thread. Either way the
  /// thread then refills the reserve. Throws std::bad_alloc as map_huge.
  void* take();

  /// Blocks ready now.
  size_t ready() const;

  /// Blocks handed out that were ready (not mapped by the caller).
  size_t hits() const;

private:
  void run();

  const size_t max_ahead_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<void*> ready_;
  /// Blocks to keep ready: min(taken so far, max_ahead_).
  size_t target_ = 0;
  size_t hits_ = 0;
  bool stop_ = false;
  /// Started by the first take.
  std::thread thread_;
};

} // namespace orch
