// Benchmark: enqueue + lease + complete per second through the TASK QUEUE,
// for independent tasks, dependency chains and fan-out.
//
//   queue --tasks 200000 --shape chains [--plan-size 10]
//
// Prints one JSON line per shape.

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <arpa/inet.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <csignal>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "bench/bench_driver.hpp"
#include "bench/cpu_speed.hpp"
#include "bridges/redis_queue.hpp"
#include "runtime/supervisor.hpp"

using namespace orch;
using namespace orch::bench;

extern char** environ;

namespace {

/// Tasks of one shape: independent, chains of 10, or fan-out (1 root, 99
/// children); with `plan_size`, in plans of that many tasks each (as a
/// planner's tasks are), else in none.
std::vector<task_spec> make_tasks(const std::string& shape, int64_t n,
                                  int64_t plan_size) {
  std::vector<task_spec> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    task_spec t;
    t.task_id = "t" + std::to_string(i);
    t.role = "DEV";
    t.description = "task";
    t.priority = static_cast<int32_t>(i % 7);
    if (plan_size > 0)
      t.plan_id = "p" + std::to_string(i / plan_size);
    if (shape == "chains" && i % 10 != 0)
      t.dependencies.push_back("t" + std::to_string(i - 1));
    if (shape == "fanout" && i % 100 != 0)
      t.dependencies.push_back("t" + std::to_string(i - i % 100));
    out.push_back(std::move(t));
  }
  return out;
}

struct drive_state {
  task_queue_actor q;
  std::vector<task_spec> tasks;
  int64_t completed = 0;
  int64_t in_flight = 0;
  int32_t batch = 512;
  /// Completes each leased batch in one message (else one per task).
  bool batch_complete = true;
  /// Lease requests unanswered, and how many may be: with more than one,
  /// the queue works on the next lease while the driver completes the last.
  int leases_out = 0;
  int lease_window = 1;
  /// Enqueue: the next task to send, chunks not answered yet, and how many
  /// may be on their way at once.
  size_t next_chunk = 0;
  int chunks_out = 0;
  int enqueue_window = 4;
  /// When the last batch of tasks was queued (the enqueue phase's end).
  clock_type::time_point enqueued;
  std::promise<int64_t> done;
};

void lease_more(caf::event_based_actor* self, std::shared_ptr<drive_state> st);

void finish(caf::event_based_actor* self, std::shared_ptr<drive_state> st,
            int64_t n) {
  st->in_flight -= n;
  st->completed += n;
  if (st->completed == static_cast<int64_t>(st->tasks.size())) {
    st->done.set_value(st->completed);
    self->quit();
    return;
  }
  while (st->leases_out < st->lease_window
         && st->in_flight + st->leases_out * st->batch
              < st->batch * st->lease_window)
    lease_more(self, st);
}

void lease_more(caf::event_based_actor* self, std::shared_ptr<drive_state> st) {
  ++st->leases_out;
  self
    ->request(st->q, caf::infinite, atom::lease_v, std::string{"bench"},
              int32_t{60000}, st->batch)
    .then([=](std::vector<queued_task>& got) {
      --st->leases_out;
      st->in_flight += static_cast<int64_t>(got.size());
      if (st->batch_complete && !got.empty()) {
        std::vector<task_completion> done(got.size());
        for (size_t i = 0; i < got.size(); ++i) {
          done[i].task_id = std::move(got[i].task.task_id);
          done[i].worker = "bench";
        }
        self->request(st->q, caf::infinite, atom::complete_v, std::move(done))
          .then([=](std::vector<caf::error>& errs) {
            for (auto& e : errs)
              if (e) {
                std::fprintf(stderr, "queue: %s\n", render(e).c_str());
                std::exit(1);
              }
            finish(self, st, static_cast<int64_t>(errs.size()));
          });
      } else {
        for (auto& t : got)
          self
            ->request(st->q, caf::infinite, atom::complete_v,
                      std::move(t.task.task_id), std::string{"bench"},
                      std::string{})
            .then([=](queued_task&) { finish(self, st, 1); });
      }
      if (got.empty() && st->in_flight == 0 && st->leases_out == 0)
        lease_more(self, st); // nothing leased and nothing pending: retry
    });
}

/// Sends the next chunk of 1,000 tasks; at most `enqueue_window` chunks are
/// on their way at once, as a producer that waits for the queue's answers
/// (the chunks' memory is reused instead of 200 chunks held at once).
void enqueue_next(caf::event_based_actor* self, std::shared_ptr<drive_state> st) {
  if (st->next_chunk >= st->tasks.size())
    return;
  auto first = st->tasks.begin() + static_cast<ptrdiff_t>(st->next_chunk);
  st->next_chunk = std::min(st->tasks.size(), st->next_chunk + 1000);
  auto last = st->tasks.begin() + static_cast<ptrdiff_t>(st->next_chunk);
  std::vector<task_spec> chunk(std::make_move_iterator(first),
                               std::make_move_iterator(last));
  ++st->chunks_out;
  self->request(st->q, caf::infinite, atom::add_v, std::move(chunk))
    .then([=](int32_t) {
      --st->chunks_out;
      if (st->next_chunk < st->tasks.size()) {
        enqueue_next(self, st);
      } else if (st->chunks_out == 0) {
        st->enqueued = clock_type::now();
        for (int i = 0; i < st->lease_window; ++i)
          lease_more(self, st);
      }
    });
}

void queue_driver(caf::event_based_actor* self,
                  std::shared_ptr<drive_state> st) {
  // Enqueue in chunks, then lease and complete until everything is done.
  // The tasks are moved into the messages, as a producer hands over what
  // it built.
  for (int i = 0; i < st->enqueue_window; ++i)
    enqueue_next(self, st);
}

/// A private redis-server on a free loopback port, stopped by pid.
struct redis_process {
  pid_t pid = -1;
  int port = 0;

  bool start() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0
        || getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      close(s);
      return false;
    }
    port = ntohs(a.sin_port);
    close(s);
    auto p = std::to_string(port);
    const char* argv[]
      = {"redis-server", "--bind",    "127.0.0.1", "--port",
         p.c_str(),      "--save",    "",          "--appendonly",
         "no",           "--logfile", "/dev/null", nullptr};
    if (posix_spawnp(&pid, "redis-server", nullptr, nullptr,
                     const_cast<char**>(argv), environ)
        != 0)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return true;
  }

  ~redis_process() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

} // namespace

int main(int argc, char** argv) {
  int64_t tasks = 200'000;
  std::string shape = "all";
  config cfg;
  CLI::App app{"TASK QUEUE throughput: enqueue + lease + complete"};
  app.add_option("--tasks", tasks, "tasks per shape")->capture_default_str();
  app.add_option("--shape", shape, "independent, chains, fanout or all")
    ->capture_default_str();
  app.add_option("--threads", cfg.threads, "scheduler threads, 0 = cores")
    ->capture_default_str();
  app
    .add_option("--scheduler-policy", cfg.scheduler_policy,
                "scheduler: affine, lean, sharing or stealing")
    ->check(CLI::IsMember(scheduler_policies))
    ->capture_default_str();
  std::string backend = "all";
  std::string redis_url;
  std::string complete = "batch";
  int enqueue_window = 4;
  int lease_window = 1;
  int64_t plan_size = 0;
  size_t retain_max = 0;
  app.add_option("--retain-max", retain_max,
                 "finished tasks kept, oldest leave first (0: all, as "
                 "without RESULT_STORE_MAX)")
    ->capture_default_str();
  app.add_option("--plan-size", plan_size,
                 "tasks per plan (0: tasks without a plan)")
    ->check(CLI::NonNegativeNumber)
    ->capture_default_str();
  app.add_option("--lease-window", lease_window,
                 "lease requests of 512 tasks unanswered at once")
    ->check(CLI::PositiveNumber)
    ->capture_default_str();
  app.add_option("--enqueue-window", enqueue_window,
                 "chunks of 1,000 tasks on their way to the queue at once")
    ->check(CLI::PositiveNumber)
    ->capture_default_str();
  app.add_option("--complete", complete,
                 "batch: each leased batch completed in one message; each: "
                 "one message per task")
    ->check(CLI::IsMember({"batch", "each"}))
    ->capture_default_str();
  app.add_option("--backend", backend, "memory, redis or all")
    ->capture_default_str();
  app.add_option("--redis-url", redis_url,
                 "Redis to use (default: a private redis-server on a free "
                 "loopback port)");
  CLI11_PARSE(app, argc, argv);
  std::vector<std::string> backends;
  if (backend == "all")
    backends = {"memory", "redis"};
  else
    backends = {backend};
  redis_process redis;
  if (redis_url.empty()
      && std::find(backends.begin(), backends.end(), "redis")
           != backends.end()) {
    if (!redis.start()) {
      std::fprintf(stderr, "queue: cannot start redis-server\n");
      return 1;
    }
    redis_url = "redis://127.0.0.1:" + std::to_string(redis.port);
  }
  std::vector<std::string> shapes;
  if (shape == "all")
    shapes = {"independent", "chains", "fanout"};
  else
    shapes = {shape};
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  int run = 0;
  for (auto& b : backends)
    for (auto& s : shapes) {
      task_queue_settings qs;
      qs.sweep_interval_ms = 0;
      qs.retain_max = retain_max;
      task_queue_actor q;
      if (b == "memory") {
        q = spawn_memory_queue(sys, qs);
      } else {
        redis_queue_settings rs;
        rs.url = redis_url;
        rs.prefix = "bench:" + std::to_string(getpid()) + ":"
                    + std::to_string(++run);
        rs.queue = qs;
        auto rq = spawn_redis_queue(sys, rs);
        if (!rq) {
          std::fprintf(stderr, "queue: %s\n", render(rq.error()).c_str());
          return 1;
        }
        q = *rq;
        await_queue(sys, q, std::chrono::seconds(5));
      }
      auto st = std::make_shared<drive_state>();
      st->q = q;
      st->tasks = make_tasks(s, tasks, plan_size);
      st->batch_complete = complete == "batch";
      st->enqueue_window = enqueue_window;
      st->lease_window = lease_window;
      auto fut = st->done.get_future();
      auto start = clock_type::now();
      sys.spawn(queue_driver, st);
      auto n = fut.get();
      auto wall
        = std::chrono::duration<double>(clock_type::now() - start).count();
      auto enqueue_s
        = std::chrono::duration<double>(st->enqueued - start).count();
      std::printf("{\"bench\":\"queue\",\"backend\":\"%s\",\"shape\":\"%s\","
                  "\"complete\":\"%s\",\"lease_window\":%d,"
                  "\"plan_size\":%lld,\"retain_max\":%zu,"
                  "\"tasks\":%lld,\"wall_s\":%.3f,"
                  "\"enqueue_s\":%.3f,\"tasks_per_s\":%.0f,"
                  "\"peak_rss_mb\":%.1f,%s}\n",
                  b.c_str(), s.c_str(), complete.c_str(), lease_window,
                  static_cast<long long>(plan_size), retain_max,
                  static_cast<long long>(n), wall, enqueue_s, n / wall,
                  peak_rss_mb(),
              cpu_speed_json().c_str());
      // The next shape starts when this queue is gone: freeing its tasks
      // takes a core for a while and would be charged to the next run.
      caf::scoped_actor self{sys};
      self->monitor(q);
      self->send_exit(q, caf::exit_reason::user_shutdown);
      self->receive([](const caf::down_msg&) {});
    }
  return 0;
}
