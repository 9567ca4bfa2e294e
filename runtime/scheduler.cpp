// The `lean` scheduler policy, loaded as CAF's scheduler module.
//
// On CAF's `sharing` policy, `perf` counted about three futex calls per
// model call of a deliberation, all at its one queue: threads blocking on
// the queue's mutex (a sleeper is woken while the enqueuing thread still
// holds it, and the two workers and the LLM bridge thread all take it for
// every job), idle threads sleeping on its condition variable, and a
// wake-up for every job, also when a woken thread has not yet run. `lean`
// keeps the one FIFO queue (no job waits behind a busy thread while
// another is idle, which kept sharing's p99 low) and changes the rest:
// - the queue is under a spin lock held for one push or pop, so threads
//   meeting there never sleep in the kernel;
// - a sleeping thread is woken only when more threads sleep than have been
//   woken, and outside any lock.
// Tried and dropped: idle threads watching the queue for 3-30 us before
// they sleep; it saved a third of the wake-ups with model calls in
// flight and cost more CPU than they did (3 to 30 us of spinning against
// one futex round trip).
//
// CAF's worker loop is a template instantiated here for this policy. In
// Debian's CAF build it hands each job's actor id to the logger (a
// dynamic_cast and a thread-local write per job, ~7% of a deliberation's
// instructions) for log lines the service never asks for: left out of
// this instantiation. Its threads also run without a logger: CAF's logger
// is quiet in this service (configure_actor_system), and without one
// `scheduled_actor::resume` skips its own two look-ups of the logger's
// per-thread actor id per job (~1.5% of a deliberation's instructions).
// CAF sets a thread's logger when the thread starts and at every spawn
// (actor_system::spawn_impl), so `dequeue` unsets it when it is set.
#include <caf/logger.hpp>
#undef CAF_PUSH_AID_FROM_PTR
#define CAF_PUSH_AID_FROM_PTR(unused) static_cast<void>(0)

#include "runtime/scheduler.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scheduler/worker.hpp>

#include "runtime/config.hpp"

namespace orch {

namespace {

class lean_policy : public caf::policy::unprofiled {
public:
  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    /// The queue, under a spin lock (held for a push or a pop).
    std::atomic<bool> busy{false};
    std::deque<caf::resumable*> queue;
    /// The queue's length, read without the lock.
    std::atomic<size_t> length{0};
    /// Sleeping threads wait on `cv`; `waking` of them have been woken
    /// and have not yet run (under `sleep_mtx`).
    std::mutex sleep_mtx;
    std::condition_variable cv;
    std::atomic<size_t> sleeping{0};
    size_t waking = 0;

    void lock() {
      while (busy.exchange(true, std::memory_order_acquire))
        while (busy.load(std::memory_order_relaxed))
          __builtin_ia32_pause();
    }

    void unlock() {
      busy.store(false, std::memory_order_release);
    }
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
  };

  template<class Coordinator>
  void enqueue(Coordinator* self, caf::resumable* job) {
    auto& d = self->data();
    d.lock();
    d.queue.push_back(job);
    d.length.store(d.queue.size(), std::memory_order_seq_cst);
    d.unlock();
    // Pairs with the sleeper's increment of `sleeping` and its look at
    // `length` after it: one of the two sees the other's write.
    if (d.sleeping.load(std::memory_order_seq_cst) == 0)
      return;
    bool wake = false;
    {
      std::lock_guard<std::mutex> guard{d.sleep_mtx};
      if (d.sleeping.load(std::memory_order_relaxed) > d.waking) {
        ++d.waking;
        wake = true;
      }
    }
    if (wake)
      d.cv.notify_one();
  }

  template<class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    enqueue(self, job);
  }

  template<class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template<class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template<class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template<class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& d = self->parent()->data();
    // No logger on this thread (see the top of this file).
    if (caf::logger::current_logger() != nullptr)
      caf::logger::set_current_actor_system(nullptr);
    for (;;) {
      if (d.length.load(std::memory_order_acquire) > 0) {
        d.lock();
        if (!d.queue.empty()) {
          auto* job = d.queue.front();
          d.queue.pop_front();
          d.length.store(d.queue.size(), std::memory_order_relaxed);
          d.unlock();
          return job;
        }
        d.unlock();
      }
      std::unique_lock<std::mutex> guard{d.sleep_mtx};
      d.sleeping.fetch_add(1, std::memory_order_seq_cst);
      if (d.length.load(std::memory_order_seq_cst) == 0) {
        d.cv.wait(guard);
        // A spurious return may take another's wake-up: at worst one more
        // notify later, never a thread left asleep with work queued.
        if (d.waking > 0)
          --d.waking;
      }
      d.sleeping.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  template<class Worker, class UnaryFunction>
  void foreach_resumable(Worker*, UnaryFunction) {}

  template<class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    auto& d = self->data();
    d.lock();
    std::deque<caf::resumable*> jobs;
    jobs.swap(d.queue);
    d.length.store(0, std::memory_order_relaxed);
    d.unlock();
    for (auto* job : jobs)
      f(job);
  }
};

} // namespace

void configure_scheduler(caf::actor_system_config& sys_cfg, const config& cfg) {
  if (cfg.scheduler_policy == "lean")
    sys_cfg.load<caf::scheduler::coordinator<lean_policy>>();
  else
    sys_cfg.set("scheduler.policy",
                caf::atom_from_string(cfg.scheduler_policy));
}

} // namespace orch
