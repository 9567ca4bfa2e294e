#include "actors/process_runner.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/sandboxed_child.hpp"

namespace orch {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr int32_t default_timeout_ms = 10'000;
/// Processes (and threads) a child may add to those its user already has.
constexpr rlim_t process_allowance = 64;

/// Tasks (threads) of this process, from /proc (0 when unknown).
rlim_t threads_of_this_process() {
  int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[1024];
  auto n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  // Field 20 (num_threads), counted after the ")" that ends the name.
  const char* p = std::strrchr(buf, ')');
  for (int field = 2; p != nullptr && field < 20; ++field)
    p = std::strchr(p + 1, ' ');
  return p != nullptr ? static_cast<rlim_t>(std::strtoul(p + 1, nullptr, 10))
                      : 0;
}

/// Closes a file descriptor once.
void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

/// Appends up to the remaining capacity of the output buffer.
void append_output(command_result& res, const char* data, size_t size,
                   size_t max_output) {
  auto room = max_output > res.output.size() ? max_output - res.output.size()
                                             : size_t{0};
  if (size > room) {
    res.truncated = true;
    size = room;
  }
  res.output.append(data, size);
}

int64_t elapsed_ms(clock_type::time_point since) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  return duration_cast<milliseconds>(clock_type::now() - since).count();
}

/// Finds the program the way a shell with PATH=/usr/bin:/bin would.
std::string resolve_program(const std::string& name) {
  if (name.empty())
    return {};
  if (name.find('/') != std::string::npos)
    return name;
  for (const char* dir : {"/usr/bin/", "/bin/"}) {
    std::string path = dir;
    path += name;
    if (::access(path.c_str(), X_OK) == 0)
      return path;
  }
  return {};
}

/// Blocks SIGPIPE in the calling thread while writing to a child's stdin, so
/// that a child closing its input early gives EPIPE instead of killing us; a
/// SIGPIPE raised meanwhile is consumed before the old mask comes back.
class sigpipe_guard {
public:
  sigpipe_guard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }

  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;

  ~sigpipe_guard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        sigtimedwait(&set_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

private:
  sigset_t set_;
  sigset_t old_;
  bool was_pending_ = false;
};

/// A temporary directory, removed with all its content on destruction.
class temp_dir {
public:
  temp_dir() {
    std::error_code err;
    auto base = std::filesystem::temp_directory_path(err);
    if (err)
      base = "/tmp";
    auto pattern = (base / "orch-run-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr)
      path_ = std::move(pattern);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  ~temp_dir() {
    if (!path_.empty()) {
      std::error_code err;
      std::filesystem::remove_all(path_, err);
    }
  }

  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

/// The children run_command waits for itself (reap_orphans leaves them).
std::mutex children_mtx;
std::set<pid_t> children;

/// Opens a pidfd for `pid`, or returns -1 when the kernel has none.
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  static_cast<void>(pid);
  return -1;
#endif
}

void set_nonblocking(int fd) {
  auto flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0)
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int32_t exit_code_of(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

} // namespace

command_result run_command(const command_spec& spec) {
  command_result res;
  auto start = clock_type::now();
  auto max_output = spec.max_output > 0 ? static_cast<size_t>(spec.max_output)
                                        : size_t{0};
  auto timeout_ms = spec.timeout_ms > 0 ? spec.timeout_ms : default_timeout_ms;
  auto fail = [&](int32_t code, const std::string& msg) {
    res.exit_code = code;
    append_output(res, msg.data(), msg.size(), max_output);
    res.duration_ms = elapsed_ms(start);
    return res;
  };
  if (spec.argv.empty() || spec.argv.front().empty())
    return fail(127, "command not found: (empty command)\n");
  auto program = resolve_program(spec.argv.front());
  if (program.empty())
    return fail(127, "command not found: " + spec.argv.front() + "\n");
  temp_dir dir;
  if (dir.path().empty())
    return fail(126, "cannot create a temporary directory for "
                       + spec.argv.front() + "\n");
  // Arguments and environment as C arrays, built before fork.
  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (auto& arg : spec.argv)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::string env_path = "PATH=/usr/bin:/bin";
  std::string env_lang = "LANG=C.UTF-8";
  char* envp[] = {env_path.data(), env_lang.data(), nullptr};
  auto exec_error = "cannot execute " + spec.argv.front() + "\n";
  // Pipes: close-on-exec so that children of other threads never inherit
  // them (which would delay our EOF).
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  if (::pipe2(in_pipe, O_CLOEXEC) != 0)
    return fail(126, "cannot create a pipe for " + spec.argv.front() + "\n");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    close_fd(in_pipe[0]);
    close_fd(in_pipe[1]);
    return fail(126, "cannot create a pipe for " + spec.argv.front() + "\n");
  }
  auto cpu_seconds = static_cast<rlim_t>((timeout_ms + 999) / 1000 + 1);
  // As root the child becomes an unprivileged user of its own (root ignores
  // RLIMIT_NPROC and may write anywhere); the temporary directory is its.
  auto drop_root = ::geteuid() == 0;
  if (drop_root
      && ::chown(dir.path().c_str(), sandbox::uid, sandbox::gid) != 0)
    return fail(126, "cannot hand the temporary directory to the sandbox "
                     "user for " + spec.argv.front() + "\n");
  // RLIMIT_NPROC counts every task of the user: ours (threads) included
  // when the child keeps our user.
  auto nproc = process_allowance
               + (drop_root ? rlim_t{0} : threads_of_this_process());
  sandbox::child_setup cs{in_pipe[0],
                 out_pipe[1],
                 dir.path().c_str(),
                 program.c_str(),
                 argv.data(),
                 envp,
                 rlimit{cpu_seconds, cpu_seconds + 1},
                 rlimit{nproc, nproc},
                 drop_root,
                 false,
                 exec_error.c_str(),
                 exec_error.size()};
  sigpipe_guard guard;
  std::unique_lock<std::mutex> registering{children_mtx};
  auto pid = sandbox::start_child(cs);
  if (pid > 0)
    children.insert(pid);
  registering.unlock();
  close_fd(in_pipe[0]);
  close_fd(out_pipe[1]);
  int& in_fd = in_pipe[1];
  int& out_fd = out_pipe[0];
  if (pid < 0) {
    close_fd(in_fd);
    close_fd(out_fd);
    return fail(126, "cannot fork for " + spec.argv.front() + "\n");
  }
  // Both sides set the group to avoid racing the child's exec.
  ::setpgid(pid, pid);
  set_nonblocking(in_fd);
  set_nonblocking(out_fd);
  int pid_fd = open_pidfd(pid);
  auto deadline = start + std::chrono::milliseconds(timeout_ms);
  size_t in_offset = 0;
  if (spec.stdin_data.empty())
    close_fd(in_fd);
  bool child_done = false;
  int status = 0;
  // Reaps the child if it has exited: first kills what is left of its group
  // (while the zombie still pins the group id), then collects the status.
  auto try_reap = [&] {
    siginfo_t info;
    std::memset(&info, 0, sizeof(info));
    if (::waitid(P_PID, static_cast<id_t>(pid), &info,
                 WEXITED | WNOHANG | WNOWAIT)
          != 0
        || info.si_pid != pid)
      return;
    ::kill(-pid, SIGKILL);
    if (::waitpid(pid, &status, 0) == pid) {
      child_done = true;
      close_fd(in_fd);
      close_fd(pid_fd);
    }
  };
  char buf[65536];
  for (;;) {
    if (!child_done)
      try_reap();
    if (child_done && out_fd < 0)
      break;
    auto now = clock_type::now();
    if (now >= deadline) {
      if (!child_done) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR)
          ; // retry
        child_done = true;
        res.timed_out = true;
      }
      break;
    }
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    auto remaining = duration_cast<milliseconds>(deadline - now).count() + 1;
    pollfd fds[3];
    nfds_t n = 0;
    int out_idx = -1;
    int in_idx = -1;
    if (out_fd >= 0) {
      out_idx = static_cast<int>(n);
      fds[n++] = pollfd{out_fd, POLLIN, 0};
    }
    if (in_fd >= 0) {
      in_idx = static_cast<int>(n);
      fds[n++] = pollfd{in_fd, POLLOUT, 0};
    }
    if (!child_done && pid_fd >= 0)
      fds[n++] = pollfd{pid_fd, POLLIN, 0};
    // Without a pidfd, look at the child again every few milliseconds.
    auto wait_ms = remaining;
    if (!child_done && pid_fd < 0)
      wait_ms = std::min<decltype(remaining)>(remaining, 5);
    auto rc = ::poll(fds, n, static_cast<int>(wait_ms));
    if (rc < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (out_idx >= 0 && fds[out_idx].revents != 0) {
      for (;;) {
        auto got = ::read(out_fd, buf, sizeof(buf));
        if (got > 0) {
          append_output(res, buf, static_cast<size_t>(got), max_output);
          continue;
        }
        if (got < 0 && errno == EINTR)
          continue;
        if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
          close_fd(out_fd);
        break;
      }
    }
    if (in_idx >= 0 && in_fd >= 0 && fds[in_idx].revents != 0) {
      if ((fds[in_idx].revents & POLLOUT) != 0) {
        auto left = spec.stdin_data.size() - in_offset;
        auto put = ::write(in_fd, spec.stdin_data.data() + in_offset,
                           std::min<size_t>(left, sizeof(buf)));
        if (put > 0) {
          in_offset += static_cast<size_t>(put);
          if (in_offset == spec.stdin_data.size())
            close_fd(in_fd);
        } else if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                   && errno != EINTR) {
          close_fd(in_fd); // EPIPE: the child stopped reading.
        }
      } else {
        close_fd(in_fd); // POLLERR or POLLHUP.
      }
    }
  }
  close_fd(in_fd);
  close_fd(out_fd);
  close_fd(pid_fd);
  // What is left of the group (killed above) goes before the next child
  // starts: dying processes still count against the process limit.
  for (int i = 0; i < 200 && ::kill(-pid, 0) == 0; ++i) {
    ::kill(-pid, SIGKILL);
    ::usleep(5000);
  }
  {
    std::lock_guard<std::mutex> guard{children_mtx};
    children.erase(pid);
  }
  res.exit_code = res.timed_out ? -1 : exit_code_of(status);
  res.duration_ms = elapsed_ms(start);
  return res;
}

int reap_orphans() {
  std::lock_guard<std::mutex> guard{children_mtx};
  int n = 0;
  for (;;) {
    siginfo_t info;
    std::memset(&info, 0, sizeof(info));
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0
        || info.si_pid == 0 || children.count(info.si_pid) != 0)
      return n; // none, or run_command's own (it reaps that one)
    ::waitpid(info.si_pid, nullptr, WNOHANG);
    ++n;
  }
}

// -- actors -------------------------------------------------------------------

process_runner_actor::behavior_type process_runner(
  process_runner_actor::stateful_pointer<process_runner_state> self) {
  return {
    [self](atom::run, const command_spec& spec) -> command_result {
      ++self->state.runs;
      return run_command(spec);
    },
  };
}

process_runner_actor::behavior_type process_runner_pool(
  process_runner_actor::stateful_pointer<process_runner_pool_state> self,
  std::vector<process_runner_actor> workers) {
  self->state.load.assign(workers.size(), 0);
  self->state.workers = std::move(workers);
  // The workers have no other owner: take them down with the pool.
  self->attach_functor([workers = self->state.workers] {
    for (auto& worker : workers)
      caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
  });
  return {
    [self](atom::run, command_spec& spec) -> caf::result<command_result> {
      auto& st = self->state;
      if (st.workers.empty())
        return caf::make_error(ec::process_failed, "no process runner workers");
      auto least = std::min_element(st.load.begin(), st.load.end());
      auto idx = static_cast<size_t>(least - st.load.begin());
      ++st.load[idx];
      auto rp = self->make_response_promise<command_result>();
      self
        ->request(st.workers[idx], caf::infinite, atom::run_v, std::move(spec))
        .then(
          [self, rp, idx](command_result& res) mutable {
            --self->state.load[idx];
            rp.deliver(std::move(res));
          },
          [self, rp, idx](caf::error& err) mutable {
            --self->state.load[idx];
            rp.deliver(std::move(err));
          });
      return rp;
    },
  };
}

process_runner_actor spawn_process_runner(caf::actor_system& sys,
                                          size_t workers) {
  if (workers <= 1)
    return sys.spawn<caf::detached>(process_runner);
  std::vector<process_runner_actor> pool;
  pool.reserve(workers);
  for (size_t i = 0; i < workers; ++i)
    pool.push_back(sys.spawn<caf::detached>(process_runner));
  return sys.spawn(process_runner_pool, std::move(pool));
}

} // namespace orch
