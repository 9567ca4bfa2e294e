#pragma once

// The speed of each CPU this process may run on, measured alone, printed
// by the benchmarks with their figures. The VMs this runs on change from
// hour to hour, and one vCPU at a time can run the engine at half the
// other's rate (`taskset -c N bench/deliberation --threads 1`: 56,000
// against 92,000 deliberations/s, and an hour later the other way round)
// while both do plain arithmetic at the same speed: what differs is the
// cache, as a walk of 1 MiB (the size of a Zen core's L2) shows, 14-16 ns
// a step on the slow vCPU against 9 on the other. A figure means little
// without the state it was taken in, so every benchmark line carries both
// measures, and the price of a cache line between two CPUs, which is what
// a message from one scheduler thread to another pays:
// - alu_steps_per_us: a chain of dependent integer operations (no memory);
// - chase_1mib_ns: one step of a random walk through 1 MiB of memory;
// - line_round_trip_ns: a cache line written by the first CPU, then the
//   second, and back (two threads pinned to the first two CPUs allowed);
// - syscall_ns: one system call that does nothing (getppid), which the
//   kernel's entry and exit cost: on the VM of 2026-12-05 (a paravirtual
//   KVM guest) 1,070-1,210 ns, several times a bare machine's, and every
//   socket call, wake-up and page fault pays it: it is what the client's
//   system time per model call follows;
// - sleep_2ms_late_us: how late a 2 ms sleep wakes, on average: what a
//   timer of the model stub (and so every model call of llm_concurrency)
//   is late by, beside the queueing (86-110 us for short sleeps on that
//   VM, 0.23 ms mean and up to 1.1 ms for 50 ms).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace orch::bench {

namespace detail {

inline bool pin_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
}

} // namespace detail

struct cpu_speed {
  double alu_steps_per_us = 0;
  double chase_1mib_ns = 0;
};

/// Measures CPU `cpu` from a thread pinned to it (zeros when it cannot be).
inline cpu_speed measure_cpu(int cpu) {
  cpu_speed out;
  std::thread t{[cpu, &out] {
    if (!detail::pin_to(cpu))
      return;
    using clock = std::chrono::steady_clock;
    using us = std::chrono::duration<double, std::micro>;
    auto alu = [](uint64_t n) {
      uint64_t x = 88172645463325252ull;
      for (uint64_t i = 0; i < n; ++i) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x *= 2685821657736338717ull;
      }
      return x;
    };
    volatile uint64_t sink = alu(2'000'000); // the core at full speed
    constexpr uint64_t alu_steps = 20'000'000;
    auto start = clock::now();
    sink = alu(alu_steps);
    out.alu_steps_per_us = alu_steps / us{clock::now() - start}.count();
    // One cache line per node, visited in a random cycle.
    constexpr size_t lines = (size_t{1} << 20) / 64;
    constexpr size_t stride = 64 / sizeof(uint32_t);
    std::vector<uint32_t> order(lines);
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), std::mt19937{7});
    std::vector<uint32_t> next(lines * stride);
    for (size_t i = 0; i < lines; ++i)
      next[order[i] * stride] = order[(i + 1) % lines] * stride;
    uint32_t at = 0;
    for (size_t i = 0; i < lines; ++i) // into the cache
      at = next[at];
    constexpr size_t walk = 2'000'000;
    start = clock::now();
    for (size_t i = 0; i < walk; ++i)
      at = next[at];
    out.chase_1mib_ns = us{clock::now() - start}.count() * 1000 / walk;
    sink = at;
    static_cast<void>(sink);
  }};
  t.join();
  return out;
}

/// Nanoseconds for a cache line to go from CPU a to CPU b and back: each
/// thread waits for the other's write before it writes; 100,000 trips or
/// 200 ms, whichever ends first (0 when the threads cannot be pinned).
inline double line_round_trip_ns(int a, int b) {
  alignas(64) std::atomic<uint32_t> ball{0};
  std::atomic<bool> pinned{true};
  std::atomic<bool> stop{false};
  constexpr uint32_t trips = 100'000;
  auto other = std::thread{[&] {
    if (!detail::pin_to(b))
      pinned = false;
    for (uint32_t i = 0; i < trips; ++i) {
      while (ball.load(std::memory_order_acquire) != 2 * i + 1)
        if (stop.load(std::memory_order_relaxed))
          return;
      ball.store(2 * i + 2, std::memory_order_release);
    }
  }};
  double out = 0;
  std::thread{[&] {
    if (!detail::pin_to(a))
      pinned = false;
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    uint32_t done = 0;
    while (done < trips) {
      ball.store(2 * done + 1, std::memory_order_release);
      while (ball.load(std::memory_order_acquire) != 2 * done + 2) {
      }
      ++done;
      if (done % 1024 == 0
          && clock::now() - start > std::chrono::milliseconds(200))
        break;
    }
    std::chrono::duration<double, std::nano> took = clock::now() - start;
    out = took.count() / done;
    stop = true;
  }}.join();
  other.join();
  return pinned ? out : 0;
}

/// Nanoseconds of one getppid system call, the mean of 20,000.
inline double syscall_ns() {
  using clock = std::chrono::steady_clock;
  constexpr int calls = 20'000;
  auto start = clock::now();
  for (int i = 0; i < calls; ++i)
    syscall(SYS_getppid);
  std::chrono::duration<double, std::nano> took = clock::now() - start;
  return took.count() / calls;
}

/// Microseconds a sleep of 2 ms wakes late, the mean of 10.
inline double sleep_late_us() {
  using clock = std::chrono::steady_clock;
  constexpr int sleeps = 10;
  constexpr auto nap = std::chrono::milliseconds(2);
  std::chrono::duration<double, std::micro> late{0};
  for (int i = 0; i < sleeps; ++i) {
    auto start = clock::now();
    std::this_thread::sleep_for(nap);
    late += clock::now() - start - nap;
  }
  return late.count() / sleeps;
}

/// `"cpu_speed":{"alu_steps_per_us":[...],"chase_1mib_ns":[...],...}` for
/// every CPU this process may use, one after the other (the others idle),
/// and the kernel's figures.
inline std::string cpu_speed_json() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::string alu, chase;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &allowed))
        continue;
      cpus.push_back(cpu);
      auto s = measure_cpu(cpu);
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%s%.1f", alu.empty() ? "" : ",",
                    s.alu_steps_per_us);
      alu += buf;
      std::snprintf(buf, sizeof(buf), "%s%.2f", chase.empty() ? "" : ",",
                    s.chase_1mib_ns);
      chase += buf;
    }
  }
  char trip[32] = "null";
  if (cpus.size() >= 2)
    std::snprintf(trip, sizeof(trip), "%.0f",
                  line_round_trip_ns(cpus[0], cpus[1]));
  char kernel[96];
  std::snprintf(kernel, sizeof(kernel),
                ",\"syscall_ns\":%.0f,\"sleep_2ms_late_us\":%.0f", syscall_ns(),
                sleep_late_us());
  return "\"cpu_speed\":{\"alu_steps_per_us\":[" + alu + "],\"chase_1mib_ns\":["
         + chase + "],\"line_round_trip_ns\":" + trip + kernel + "}";
}

} // namespace orch::bench
