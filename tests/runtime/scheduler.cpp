// The scheduler policies `affine` (the default) and `lean`
// (runtime/scheduler.cpp): selected by SCHEDULER_POLICY, each runs every
// message sent from scheduler threads and from other threads, wakes a
// sleeping thread for a job while the other one is busy, survives idle
// spells, and stops cleanly; `affine` keeps an actor on one thread and,
// while load is light, leaves a job to a thread that is awake.

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <typeinfo>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/lanes.hpp"
#include "runtime/config.hpp"
#include "runtime/supervisor.hpp"

using namespace orch;
using std::chrono::seconds;

namespace {

/// An actor system of two threads on `policy`.
struct two_threads {
  config cfg;
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;

  explicit two_threads(const std::string& policy) {
    cfg.threads = 2;
    cfg.scheduler_policy = policy;
    configure_actor_system(sys_cfg, cfg);
    sys = std::make_unique<caf::actor_system>(sys_cfg);
  }
};

/// The policies of ours.
const std::vector<std::string> ours{"affine", "lean"};

/// Runs f on an actor system of two threads of each of our policies.
template<class F>
void for_each_policy(F f) {
  for (auto& policy : ours) {
    BOOST_TEST_CONTEXT(policy) {
      two_threads t{policy};
      f(*t.sys);
    }
  }
}

/// What `counter` c has counted.
int ask_count(caf::actor_system& sys, const caf::actor& c) {
  caf::scoped_actor self{sys};
  int seen = -1;
  self->request(c, seconds(30), caf::get_atom_v)
    .receive([&](int x) { seen = x; },
             [&](caf::error& err) { BOOST_FAIL(to_string(err)); });
  return seen;
}

/// Counts `int` messages and answers `get_atom` with the count.
caf::behavior counter(caf::event_based_actor*, std::shared_ptr<int> n) {
  return {
    [=](int) { ++*n; },
    [=](caf::get_atom) { return *n; },
  };
}

/// Answers a request for `hops` by asking the next actor for `hops - 1`.
caf::behavior relay(caf::event_based_actor* self, caf::actor next) {
  return {
    [=](int hops) -> caf::result<int> {
      if (hops == 0)
        return 0;
      auto rp = self->make_response_promise<int>();
      self->request(next, caf::infinite, hops - 1).then([=](int x) mutable {
        rp.deliver(x + 1);
      });
      return rp;
    },
  };
}

/// Leaves both threads of an `affine` system lightly loaded and recently
/// woken: 40 requests to actors of lanes 0 and 1 in turn, 300 us apart
/// (each thread is then awake a few percent of its time).
void go_light(caf::actor_system& sys) {
  auto echo = [](caf::event_based_actor*) -> caf::behavior {
    return {[](int x) { return x; }};
  };
  std::vector<caf::actor> lanes{spawn_in_lane(sys, lane{0, 2}, echo),
                                spawn_in_lane(sys, lane{1, 2}, echo)};
  caf::scoped_actor self{sys};
  for (int i = 0; i < 40; ++i) {
    self->request(lanes[i % 2], seconds(30), i)
      .receive([](int) {},
               [&](caf::error& err) { BOOST_FAIL(to_string(err)); });
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(scheduler)

BOOST_AUTO_TEST_CASE(affine_is_the_default_and_each_policy_is_what_runs) {
  BOOST_CHECK_EQUAL(config{}.scheduler_policy, "affine");
  for (auto policy : {"affine", "lean", "sharing"}) {
    two_threads f{policy};
    std::string type = typeid(f.sys->scheduler()).name();
    BOOST_TEST_CONTEXT(policy) {
      BOOST_CHECK_EQUAL(type.find("affine_policy") != std::string::npos,
                        policy == std::string{"affine"});
      BOOST_CHECK_EQUAL(type.find("lean_policy") != std::string::npos,
                        policy == std::string{"lean"});
    }
  }
}

BOOST_AUTO_TEST_CASE(messages_from_any_thread_all_arrive) {
  // Four threads that are not the scheduler's send in bursts with idle
  // spells between them (every scheduler thread falls asleep and must be
  // woken again).
  for_each_policy([](caf::actor_system& sys) {
    auto n = std::make_shared<int>(0);
    auto c = sys.spawn(counter, n);
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; ++t)
      senders.emplace_back([&] {
        for (int burst = 0; burst < 5; ++burst) {
          for (int i = 0; i < 2000; ++i)
            caf::anon_send(c, i);
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      });
    for (auto& t : senders)
      t.join();
    BOOST_CHECK_EQUAL(ask_count(sys, c), 4 * 5 * 2000);
  });
}

BOOST_AUTO_TEST_CASE(chains_of_requests_between_actors_complete) {
  // 64 chains of 50 actors asking each other: every job but the first of
  // a chain is enqueued by a scheduler thread.
  for_each_policy([](caf::actor_system& sys) {
    constexpr int chains = 64;
    constexpr int length = 50;
    std::vector<caf::actor> heads;
    for (int c = 0; c < chains; ++c) {
      caf::actor next = sys.spawn(relay, caf::actor{});
      for (int i = 1; i < length; ++i)
        next = sys.spawn(relay, next);
      heads.push_back(next);
    }
    caf::scoped_actor self{sys};
    int done = 0;
    for (auto& h : heads) {
      self->request(h, seconds(30), length - 1)
        .receive([&](int x) { done += x == length - 1; },
                 [&](caf::error& err) { BOOST_FAIL(to_string(err)); });
    }
    BOOST_CHECK_EQUAL(done, chains);
  });
}

BOOST_AUTO_TEST_CASE(a_sleeping_thread_takes_a_job_while_the_other_is_busy) {
  // `busy` holds its scheduler thread until `other` has run. With two
  // threads, `other` can only run on the second one, asleep until the
  // message to `other` wakes it: without that wake-up `busy` gives up
  // after 10 s and reports it. `busy` spawns `other` itself, so that with
  // `affine` `other`'s home is the thread `busy` holds: the job is queued
  // there, and the sleeping thread must take it from that queue.
  for_each_policy([](caf::actor_system& sys) {
    std::promise<void> other_ran;
    auto ran = other_ran.get_future();
    auto other_behavior = [&](caf::event_based_actor*) -> caf::behavior {
      return {[&](int) { other_ran.set_value(); }};
    };
    auto busy = sys.spawn([&](caf::event_based_actor* self) -> caf::behavior {
      return {[&, self](int) -> bool {
        auto other = self->spawn(other_behavior);
        self->send(other, 1);
        return ran.wait_for(seconds(10)) == std::future_status::ready;
      }};
    });
    // Both threads asleep first.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    caf::scoped_actor self{sys};
    bool ok = false;
    self->request(busy, seconds(30), 1)
      .receive([&](bool x) { ok = x; },
               [&](caf::error& err) { BOOST_FAIL(to_string(err)); });
    BOOST_CHECK_MESSAGE(ok, "the second thread never took the job");
  });
}

BOOST_AUTO_TEST_CASE(a_light_thread_takes_a_job_without_waking_the_other) {
  // Both threads lightly loaded: `sender` (lane 0) sends to `receiver`
  // (lane 1), then stays busy for 200 us. The other thread sleeps and is
  // not woken: the sender's thread, woken less than 1 ms before, takes the
  // job when its handler returns (`receiver` runs there once). Without
  // that rule the sleeping thread is woken for it and runs it.
  two_threads f{"affine"};
  go_light(*f.sys);
  // Threads by the hash of their id (a thread id is no message type).
  auto me = [] { return std::hash<std::thread::id>{}(std::this_thread::get_id()); };
  std::mutex mtx;
  size_t receiver_ran = 0;
  auto receiver = spawn_in_lane(
    *f.sys, lane{1, 2}, [&](caf::event_based_actor*) -> caf::behavior {
      return {[&](int) {
        std::lock_guard<std::mutex> guard{mtx};
        receiver_ran = me();
      }};
    });
  auto sender = spawn_in_lane(
    *f.sys, lane{0, 2}, [&](caf::event_based_actor* self) -> caf::behavior {
      return {[&, self](int x) {
        self->send(receiver, x);
        auto until = std::chrono::steady_clock::now()
                     + std::chrono::microseconds(200);
        while (std::chrono::steady_clock::now() < until) {
        }
        return me();
      }};
    });
  caf::scoped_actor self{*f.sys};
  int together = 0;
  for (int i = 0; i < 20; ++i) {
    size_t sender_ran = 1;
    self->request(sender, seconds(30), i)
      .receive([&](size_t id) { sender_ran = id; },
               [&](caf::error& err) { BOOST_FAIL(to_string(err)); });
    // The receiver has run once the sender's thread is free again.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard<std::mutex> guard{mtx};
    together += receiver_ran == sender_ran;
  }
  // The other thread, sleeping with a time-out of 2 ms, may wake within
  // the 200 us and take the job itself (about one time in ten).
  BOOST_CHECK_GE(together, 14);
}

BOOST_AUTO_TEST_CASE(a_job_left_to_a_light_thread_in_a_long_handler_runs) {
  // As above, but the sender's handler holds its thread until the
  // receiver has run. The other thread, left asleep, sleeps with a
  // time-out: it looks at the queues within 2 ms and runs the receiver.
  // Without that the receiver waits for the handler (10 s, then -1).
  two_threads f{"affine"};
  go_light(*f.sys);
  std::promise<void> receiver_ran;
  auto ran = receiver_ran.get_future();
  auto receiver = spawn_in_lane(
    *f.sys, lane{1, 2}, [&](caf::event_based_actor*) -> caf::behavior {
      return {[&](int) { receiver_ran.set_value(); }};
    });
  auto sender = spawn_in_lane(
    *f.sys, lane{0, 2}, [&](caf::event_based_actor* self) -> caf::behavior {
      return {[&, self](int x) -> int64_t {
        auto start = std::chrono::steady_clock::now();
        self->send(receiver, x);
        if (ran.wait_for(seconds(10)) != std::future_status::ready)
          return -1;
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - start)
          .count();
      }};
    });
  caf::scoped_actor self{*f.sys};
  int64_t waited = -2;
  self->request(sender, seconds(30), 1)
    .receive([&](int64_t ms) { waited = ms; },
             [&](caf::error& err) { BOOST_FAIL(to_string(err)); });
  BOOST_CHECK_GE(waited, 0);
  BOOST_CHECK_LT(waited, 1000);
}

BOOST_AUTO_TEST_CASE(an_actor_stays_on_the_thread_it_ran_on) {
  // With `affine`, an actor woken again and again (from a thread that is
  // not the scheduler's, with pauses that let it go idle) runs on one
  // thread; `lean`'s one queue hands it to whichever thread wakes first.
  two_threads f{"affine"};
  std::mutex mtx;
  std::map<std::thread::id, int> runs;
  auto a = f.sys->spawn([&](caf::event_based_actor*) -> caf::behavior {
    return {
      [&](int) {
        std::lock_guard<std::mutex> guard{mtx};
        ++runs[std::this_thread::get_id()];
      },
      [&](caf::get_atom) {
        std::lock_guard<std::mutex> guard{mtx};
        return static_cast<int>(runs.size());
      },
    };
  });
  for (int i = 0; i < 200; ++i) {
    caf::anon_send(a, i);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  caf::scoped_actor self{*f.sys};
  self->request(a, seconds(30), caf::get_atom_v)
    .receive([&](int) {}, [&](caf::error& err) { BOOST_FAIL(to_string(err)); });
  std::lock_guard<std::mutex> guard{mtx};
  int most = 0;
  int all = 0;
  for (auto& [id, n] : runs) {
    most = std::max(most, n);
    all += n;
  }
  BOOST_CHECK_EQUAL(all, 200);
  // A thread still awake from its last job may take one queued at the
  // sleeping other before that wakes (seen twice in 200 under ASan); the
  // actor then stays there. `lean` splits it about evenly (100 and 100).
  BOOST_CHECK_GE(most, 190);
}

BOOST_AUTO_TEST_CASE(actors_pinned_to_a_lane_run_on_its_thread) {
  // Four actors spawned by one actor (which, unpinned, would keep them on
  // its own thread), pinned to lanes 0, 1, 0, 1: asked again and again,
  // the two of a lane run on one thread, and the lanes on two.
  two_threads f{"affine"};
  std::mutex mtx;
  std::vector<std::map<std::thread::id, int>> runs(4);
  auto pinned = [&](caf::event_based_actor*, size_t i) -> caf::behavior {
    return {
      [&, i](int x) {
        std::lock_guard<std::mutex> guard{mtx};
        ++runs[i][std::this_thread::get_id()];
        return x;
      },
    };
  };
  std::promise<std::vector<caf::actor>> spawned;
  f.sys->spawn([&](caf::event_based_actor* self) {
    std::vector<caf::actor> xs;
    for (uint32_t i = 0; i < 4; ++i)
      xs.push_back(spawn_in_lane(self->system(), lane{i % 2, 2}, pinned,
                                 size_t{i}));
    spawned.set_value(xs);
  });
  auto actors = spawned.get_future().get();
  caf::scoped_actor self{*f.sys};
  for (int i = 0; i < 100; ++i)
    for (auto& a : actors) {
      self->request(a, seconds(30), i)
        .receive([&](int x) { BOOST_CHECK_EQUAL(x, i); },
                 [&](caf::error& err) { BOOST_FAIL(to_string(err)); });
      // Lets the thread that answered go to sleep: an idle thread still
      // awake may take a job queued at a sleeping one (it then runs there
      // once, and goes home with its next message).
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  std::lock_guard<std::mutex> guard{mtx};
  std::vector<std::thread::id> home(4);
  for (size_t i = 0; i < 4; ++i) {
    BOOST_TEST_CONTEXT("actor " << i) {
      int most = 0;
      int all = 0;
      for (auto& [id, n] : runs[i]) {
        all += n;
        if (n > most) {
          most = n;
          home[i] = id;
        }
      }
      BOOST_CHECK_EQUAL(all, 100);
      BOOST_CHECK_GE(most, 95);
    }
  }
  BOOST_CHECK(home[0] == home[2]);
  BOOST_CHECK(home[1] == home[3]);
  BOOST_CHECK(home[0] != home[1]);
}

BOOST_AUTO_TEST_CASE(a_lane_s_own_jobs_wake_no_other_thread) {
  // Two actors of lane 0 pass a count back and forth, each busy for 50 us
  // after it sent: the job it queued waits for the lane's thread, which is
  // busy. The other thread sleeps throughout and is not woken for it
  // (before, it was woken, took the job and ran it on the other core).
  two_threads f{"affine"};
  std::mutex mtx;
  std::vector<std::map<std::thread::id, int>> runs(2);
  std::promise<void> finished;
  auto player = [&](caf::event_based_actor* self, size_t i) -> caf::behavior {
    return {
      [&, self, i](int n, caf::actor& peer) {
        {
          std::lock_guard<std::mutex> guard{mtx};
          ++runs[i][std::this_thread::get_id()];
        }
        if (n == 0) {
          finished.set_value();
          return;
        }
        self->send(peer, n - 1, caf::actor_cast<caf::actor>(self));
        auto until = std::chrono::steady_clock::now()
                     + std::chrono::microseconds(50);
        while (std::chrono::steady_clock::now() < until) {
        }
      },
    };
  };
  auto a = spawn_in_lane(*f.sys, lane{0, 2}, player, size_t{0});
  auto b = spawn_in_lane(*f.sys, lane{0, 2}, player, size_t{1});
  // Both threads asleep first.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  caf::anon_send(a, 399, b);
  BOOST_REQUIRE(finished.get_future().wait_for(seconds(30))
                == std::future_status::ready);
  std::lock_guard<std::mutex> guard{mtx};
  std::set<std::thread::id> threads;
  for (size_t i = 0; i < 2; ++i) {
    BOOST_TEST_CONTEXT("actor " << i) {
      int all = 0;
      for (auto& [id, n] : runs[i]) {
        all += n;
        threads.insert(id);
      }
      BOOST_CHECK_EQUAL(all, 200);
    }
  }
  BOOST_CHECK_EQUAL(threads.size(), 1u);
}

BOOST_AUTO_TEST_CASE(the_system_stops_with_work_still_queued) {
  // Actors with messages left when the system goes: the destructor
  // returns (every thread is told to stop and joins), and no actor
  // outlives it (the jobs still queued are released).
  // A count of its own per actor: the actors run on both threads at once.
  for (auto& policy : ours) {
    std::vector<std::shared_ptr<int>> ns;
    {
      two_threads f{policy};
      for (int a = 0; a < 100; ++a) {
        ns.push_back(std::make_shared<int>(0));
        auto c = f.sys->spawn(counter, ns.back());
        for (int i = 0; i < 100; ++i)
          caf::anon_send(c, i);
      }
    }
    long left = 0;
    for (auto& n : ns)
      left += n.use_count() - 1;
    BOOST_CHECK_MESSAGE(left == 0, policy << ": " << left << " actors left");
  }
}

BOOST_AUTO_TEST_SUITE_END()
