// The scheduler policies `affine` (the default) and `lean`, loaded as
// CAF's scheduler module.
//
// `affine`: a FIFO queue per thread, and every actor has a home thread,
// the one it last ran on (its `context()`): a message that wakes it queues
// it there, whoever sends it. A thread whose queue is empty takes the
// oldest job of another's before it sleeps (and so becomes that actor's
// home). Measured on this 2-core VM, a message between actors on two
// threads costs 1.41 us of CPU against 0.18 us on one (bench/messaging),
// and one scheduler thread ran 100,000+ engine deliberations/s where two
// on one shared queue ran 60,000: what costs is cores handing actors,
// mailboxes and queues to each other. Keeping each actor on one thread
// (and each thread's jobs in its own queue) gave +11% engine and +6%
// scripted deliberations/s over `lean`; an actor's home picked by a hash
// of its address instead gave nothing, and CAF's `stealing` (the
// sender's thread, LIFO, idle threads polling) has a p99 of 10 ms.
// A sleeping thread is woken for a job queued at it, and also for a job
// queued at a busy thread (also by that thread itself, whose handler may
// have long to run): no job waits behind a handler while a thread sleeps,
// under load. While load is light, a job that a thread already awake
// takes soon wakes nobody (`takes_soon`): one that was rung less than
// 1 ms ago and was awake less than half its time of late takes it when
// its handler returns (running another's actor once). Model replies come
// in batches (bridges/llm_client.cpp gathers them), and a batch for
// agents of both lanes woke both threads, for a few microseconds of work
// each. So that a handler that runs long holds such a job 2 ms at most,
// threads sleep with a time-out of 2 ms when a thread was rung in the
// last 2 ms (not when traffic is sparse or the service idles), and the
// rule applies only while a sleeper sleeps so. (With 10 ms, the time-outs
// under sparse traffic cost more than the rule saved: `llm_concurrency`
// C=1 2,240 context switches against 965 before, C=4 2,780 against 1,300;
// with 2 ms 1,210-1,250 and 1,730-1,810, and C=100 kept its gain.)
// `llm_concurrency` C=100, 5 interleaved
// rounds: context switches 0.69 -> 0.48 and futex calls 0.81 -> 0.41 per
// model call, client CPU per call 31.9 -> 29.4 us by median; engine and
// scripted deliberations/s unchanged (a busy thread is awake over half
// its time, and under load none sleeps).
// An idle thread leaves the jobs queued at a thread that was rung and has
// not yet run to that thread: an actor stays at home.
// An actor pinned to an engine lane (actors/lanes.hpp: a council's
// deliberation actors, agent copies and scorers) has a fixed home instead,
// thread `lane % threads`; a thread that steals it runs it once, and its
// next message queues it at home again. A lane's job queued by the lane's
// own thread wakes no other thread (it was woken to steal it before):
// `deliberation --mode engine --clients 2`, medians 181,800 -> 191,416/s
// in 5 interleaved pairs of a fast hour, 2 of 4 pairs faster in a slow
// one; one client and model calls at C=100 the same within the noise.
//
// `lean`: one FIFO queue for all threads. On CAF's `sharing` policy, `perf` counted about three futex calls per
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
// CAF's worker loop is a template instantiated here for each policy. In
// Debian's CAF build it hands each job's actor id to the logger (a
// dynamic_cast and a thread-local write per job, ~7% of a deliberation's
// instructions) for log lines the service never asks for: left out of
// these instantiations. Their threads also run without a logger: CAF's logger
// is quiet in this service (configure_actor_system), and without one
// `scheduled_actor::resume` skips its own two look-ups of the logger's
// per-thread actor id per job (~1.5% of a deliberation's instructions).
// CAF sets a thread's logger when the thread starts and at every spawn
// (actor_system::spawn_impl), so `dequeue` unsets it when it is set.
#include <caf/logger.hpp>
#undef CAF_PUSH_AID_FROM_PTR
#define CAF_PUSH_AID_FROM_PTR(unused) static_cast<void>(0)

#include "runtime/scheduler.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include <cerrno>
#include <ctime>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scheduler/worker.hpp>

#include "actors/lanes.hpp"
#include "runtime/config.hpp"

namespace orch {

namespace {

/// A FIFO queue of jobs under a spin lock, held for one push or pop (the
/// threads meeting there never sleep in the kernel).
struct spin_queue {
  std::atomic<bool> busy{false};
  std::deque<caf::resumable*> jobs;
  /// The length, read without the lock.
  std::atomic<size_t> length{0};

  void lock() {
    while (busy.exchange(true, std::memory_order_acquire))
      while (busy.load(std::memory_order_relaxed))
        __builtin_ia32_pause();
  }

  void unlock() {
    busy.store(false, std::memory_order_release);
  }

  /// Adds job; returns the length after (stored seq_cst: a thread going
  /// to sleep looks at it after announcing that it sleeps).
  size_t push(caf::resumable* job) {
    lock();
    jobs.push_back(job);
    auto n = jobs.size();
    length.store(n, std::memory_order_seq_cst);
    unlock();
    return n;
  }

  /// The oldest job, or nullptr.
  caf::resumable* pop() {
    if (length.load(std::memory_order_acquire) == 0)
      return nullptr;
    lock();
    caf::resumable* job = nullptr;
    if (!jobs.empty()) {
      job = jobs.front();
      jobs.pop_front();
      length.store(jobs.size(), std::memory_order_relaxed);
    }
    unlock();
    return job;
  }

  /// Empties the queue into f (at shutdown); returns whether it held a
  /// job. f may queue more (cleaning an actor up tells others).
  template<class F>
  bool drain(F f) {
    lock();
    std::deque<caf::resumable*> all;
    all.swap(jobs);
    length.store(0, std::memory_order_relaxed);
    unlock();
    for (auto* job : all)
      f(job);
    return !all.empty();
  }
};

/// CAF's worker loop sets the thread's logger; the policies' `dequeue`
/// unsets it (see the top of this file).
void drop_logger() {
  if (caf::logger::current_logger() != nullptr)
    caf::logger::set_current_actor_system(nullptr);
}

class lean_policy : public caf::policy::unprofiled {
public:
  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    spin_queue queue;
    /// Sleeping threads wait on `cv`; `waking` of them have been woken
    /// and have not yet run (under `sleep_mtx`).
    std::mutex sleep_mtx;
    std::condition_variable cv;
    std::atomic<size_t> sleeping{0};
    size_t waking = 0;
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
  };

  template<class Coordinator>
  void enqueue(Coordinator* self, caf::resumable* job) {
    auto& d = self->data();
    d.queue.push(job);
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
    drop_logger();
    for (;;) {
      if (auto* job = d.queue.pop())
        return job;
      std::unique_lock<std::mutex> guard{d.sleep_mtx};
      d.sleeping.fetch_add(1, std::memory_order_seq_cst);
      if (d.queue.length.load(std::memory_order_seq_cst) == 0) {
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

  /// At shutdown, after the threads stopped: releases every job left,
  /// also those that releasing others queued.
  template<class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    while (self->data().queue.drain(f)) {
    }
  }
};

class affine_policy : public caf::policy::unprofiled {
public:
  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    /// Threads asleep (or going to sleep).
    std::atomic<size_t> sleeping{0};
    /// Round robin for jobs that have no home yet.
    std::atomic<size_t> next{0};
    /// When a thread was last woken by a ring (steady clock, ns): while
    /// that is recent, threads sleep with a time-out (see `dequeue`).
    std::atomic<int64_t> rung_at{0};
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
    // CAF makes each thread's data as a copy of one made first.
    worker_data(const worker_data&) {}
    spin_queue queue;
    /// The thread sleeps while `asleep`, in a futex wait on `bell` until a
    /// waker rings it (sets it to 1). A futex, not a condition variable:
    /// glibc's pthread_cond_wait takes its mutex back marked as contended,
    /// so every sleep cost one more system call (a futex wake at the
    /// unlock that nobody waited for), a third of the scheduler's futex
    /// calls with model calls in flight.
    std::atomic<bool> asleep{false};
    std::atomic<uint32_t> bell{0};
    /// While asleep: whether it sleeps with a time-out (it then looks at
    /// every queue again within `rescue_ns`, rung or not).
    std::atomic<bool> timed{false};
    /// When the thread was last woken by a ring (steady clock, ns), and
    /// the share of its time it spent awake, in 1/1024, over its last few
    /// sleeps (a moving mean; a thread starts busy). Written by the thread,
    /// read by others to decide whether a sleeper need be woken
    /// (`takes_soon`).
    std::atomic<int64_t> awake_since{0};
    std::atomic<uint32_t> busy{1024};
    /// When the thread last woke, rung or not (its own).
    int64_t up_since = 0;

    /// The thread fell asleep at `fell` and woke at `now` (ns), `rung`.
    void woke(int64_t fell, int64_t now, bool rung) {
      auto share = 1024 * (fell - up_since)
                   / std::max<int64_t>(now - up_since, 1);
      auto mean = (3 * busy.load(std::memory_order_relaxed)
                   + static_cast<uint32_t>(std::clamp<int64_t>(share, 0, 1024)))
                  / 4;
      busy.store(mean, std::memory_order_relaxed);
      up_since = now;
      if (rung)
        awake_since.store(now, std::memory_order_relaxed);
    }

    /// Whether the thread sleeps and was rung: it runs soon and takes its
    /// own jobs, which the others leave to it (an actor stays at home).
    bool about_to_run() const {
      return asleep.load(std::memory_order_seq_cst)
             && bell.load(std::memory_order_relaxed) != 0;
    }

    /// Wakes the thread if it sleeps and nobody woke it yet (the first to
    /// ring makes the system call).
    bool wake() {
      if (!asleep.load(std::memory_order_seq_cst)
          || bell.exchange(1, std::memory_order_seq_cst) != 0)
        return false;
      futex(FUTEX_WAKE_PRIVATE, 1, nullptr);
      return true;
    }

    /// Sleeps until the bell rings (returns at once if it rang already),
    /// or for at most `limit_ns` when that is positive; whether it rang.
    bool sleep(int64_t limit_ns) {
      timespec limit{static_cast<time_t>(limit_ns / 1'000'000'000),
                     static_cast<long>(limit_ns % 1'000'000'000)};
      while (bell.load(std::memory_order_acquire) == 0)
        if (futex(FUTEX_WAIT_PRIVATE, 0, limit_ns > 0 ? &limit : nullptr) != 0
            && errno == ETIMEDOUT)
          return bell.load(std::memory_order_acquire) != 0;
      return true;
    }

  private:
    long futex(int op, uint32_t val, const timespec* limit) {
      static_assert(sizeof(bell) == sizeof(uint32_t));
      return syscall(SYS_futex, reinterpret_cast<uint32_t*>(&bell), op, val,
                     limit, nullptr, 0);
    }
  };

  /// Where a job is queued: its thread, and whether that is an engine
  /// lane's (fixed) or only where it last ran.
  struct place {
    size_t thread;
    bool lane;
  };

  /// The thread of an actor's engine lane (actors/lanes.hpp), else the
  /// thread job last ran on (an actor's context), else `otherwise`. An
  /// actor is queued only while it does not run (its mailbox hands it to
  /// the scheduler once), so its context is not being written.
  template<class Coordinator>
  static place home(Coordinator* c, caf::resumable* job, size_t otherwise) {
    if (job->subtype() != caf::resumable::scheduled_actor)
      return {otherwise, false};
    auto* actor = static_cast<caf::scheduled_actor*>(job);
    if (auto lane = pinned_lane(actor))
      return {*lane % c->num_workers(), true};
    auto* ctx = actor->context();
    for (size_t i = 0; i < c->num_workers(); ++i)
      if (c->worker_by_id(i) == ctx)
        return {i, false};
    return {otherwise, false};
  }

  /// Queues job at thread w. `by_w` says thread w queues a job of its own
  /// engine lane: it waits for w, and no thread is woken for it (another
  /// would take it to the other core).
  template<class Coordinator>
  void push(Coordinator* c, size_t w, caf::resumable* job,
            bool by_w = false) {
    auto& q = c->worker_by_id(w)->data();
    q.queue.push(job);
    if (by_w)
      return;
    // Pairs with a sleeper's store of `asleep` and `sleeping` and its look
    // at every queue's length after them: one of the two sees the other's
    // write.
    if (c->data().sleeping.load(std::memory_order_seq_cst) == 0)
      return;
    if (job->subtype() == caf::resumable::scheduled_actor && takes_soon(c))
      return;
    if (q.asleep.load(std::memory_order_seq_cst)) {
      q.wake();
      return;
    }
    // w is busy (maybe for long: it may be the thread that queued the job,
    // in a handler that has more to do): a sleeping thread takes the job.
    for (size_t i = 0; i < c->num_workers(); ++i)
      if (i != w && c->worker_by_id(i)->data().wake())
        return;
  }

  /// A job queued for a sleeper is left to a lightly loaded thread for
  /// `lazy_ns` after it woke (see takes_soon); a thread counts as lightly
  /// loaded while awake less than `light_share` (in 1/1024) of its time of
  /// late; a sleeper looks at every queue again within `rescue_ns` while a
  /// thread was rung less than `active_ns` ago.
  static constexpr int64_t lazy_ns = 1'000'000;
  static constexpr uint32_t light_share = 512;
  static constexpr int64_t rescue_ns = 2'000'000;
  static constexpr int64_t active_ns = 2'000'000;

  /// Whether a job just queued is taken soon enough that no sleeper need
  /// be woken for it: a thread is awake, or rung, that woke less than
  /// `lazy_ns` ago and was awake less than half its time of late, so it
  /// takes the job when its handler returns; and a sleeper sleeps with a
  /// time-out, so a handler that runs long holds the job `rescue_ns` at
  /// most. A thread awake longer, or busier, may be in a long handler or
  /// under a load that needs every thread.
  template<class Coordinator>
  static bool takes_soon(Coordinator* c) {
    bool taker = false;
    bool rescuer = false;
    // The clock is read only for an awake, lightly loaded thread (none
    // under load).
    int64_t now = 0;
    for (size_t i = 0; i < c->num_workers(); ++i) {
      auto& d = c->worker_by_id(i)->data();
      auto light = d.busy.load(std::memory_order_relaxed) < light_share;
      // Pairs like `push`'s look at `asleep`: a thread seen awake here
      // looks at every queue before it sleeps.
      if (d.asleep.load(std::memory_order_seq_cst)) {
        if (d.bell.load(std::memory_order_relaxed) != 0)
          taker = taker || light;
        else
          rescuer = rescuer || d.timed.load(std::memory_order_relaxed);
      } else if (light) {
        if (now == 0)
          now = clock_ns();
        taker = taker
                || now - d.awake_since.load(std::memory_order_relaxed) < lazy_ns;
      }
    }
    return taker && rescuer;
  }

  static int64_t clock_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
  }

  template<class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    auto rr = self->data().next.fetch_add(1, std::memory_order_relaxed);
    push(self, home(self, job, rr % self->num_workers()).thread, job);
  }

  template<class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    push(self->parent(), self->id(), job);
  }

  template<class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    auto* c = self->parent();
    auto at = home(c, job, self->id());
    push(c, at.thread, job, at.lane && at.thread == self->id());
  }

  template<class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    internal_enqueue(self, job);
  }

  template<class Worker>
  caf::resumable* dequeue(Worker* self) {
    drop_logger();
    auto* c = self->parent();
    auto& mine = self->data();
    auto n = c->num_workers();
    for (;;) {
      if (auto* job = mine.queue.pop())
        return job;
      for (size_t i = 1; i < n; ++i) {
        auto& other = c->worker_by_id((self->id() + i) % n)->data();
        if (!other.about_to_run())
          if (auto* job = other.queue.pop())
            return job;
      }
      // A waker that sees `asleep` sees the bell silent; a ring meant for
      // a sleep before this one at worst wakes this one for nothing.
      mine.bell.store(0, std::memory_order_relaxed);
      auto fell = clock_ns();
      auto timed = fell - c->data().rung_at.load(std::memory_order_relaxed)
                   < active_ns;
      mine.timed.store(timed, std::memory_order_relaxed);
      mine.asleep.store(true, std::memory_order_seq_cst);
      c->data().sleeping.fetch_add(1, std::memory_order_seq_cst);
      bool any = false;
      for (size_t i = 0; i < n && !any; ++i) {
        auto& d = c->worker_by_id(i)->data();
        any = d.queue.length.load(std::memory_order_seq_cst) > 0
              && (&d == &mine || !d.about_to_run());
      }
      if (!any) {
        auto rung = mine.sleep(timed ? rescue_ns : 0);
        auto now = clock_ns();
        mine.woke(fell, now, rung);
        if (rung)
          c->data().rung_at.store(now, std::memory_order_relaxed);
      }
      mine.asleep.store(false, std::memory_order_relaxed);
      c->data().sleeping.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  template<class Worker, class UnaryFunction>
  void foreach_resumable(Worker* self, UnaryFunction f) {
    self->data().queue.drain(f);
  }

  /// At shutdown, after every thread's queue was emptied (CAF empties
  /// them in turn, and releasing a job may queue another at a thread
  /// emptied before: it would be left, with the cycle through its mailbox
  /// that LeakSanitizer reported in the nodes suite): empties them all
  /// again until none holds a job.
  template<class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    for (bool any = true; any;) {
      any = false;
      for (size_t i = 0; i < self->num_workers(); ++i)
        any = self->worker_by_id(i)->data().queue.drain(f) || any;
    }
  }
};

} // namespace

void configure_scheduler(caf::actor_system_config& sys_cfg, const config& cfg) {
  if (cfg.scheduler_policy == "affine")
    sys_cfg.load<caf::scheduler::coordinator<affine_policy>>();
  else if (cfg.scheduler_policy == "lean")
    sys_cfg.load<caf::scheduler::coordinator<lean_policy>>();
  else
    sys_cfg.set("scheduler.policy",
                caf::atom_from_string(cfg.scheduler_policy));
}

} // namespace orch
