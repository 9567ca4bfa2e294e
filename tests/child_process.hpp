#pragma once

// Child processes for tests and benchmarks: spawn with extra environment and
// output in a file, signal, wait with a limit; free loopback ports; a
// scratch directory; a private nats-server. No test framework in here.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace orch::test {

/// The loopback address at `port`.
inline sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

/// A free TCP port on loopback.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto addr = loopback(0);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// A socket connected to a loopback port, or -1.
inline int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto addr = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Whether something accepts connections on a loopback port.
inline bool port_open(int port) {
  int fd = connect_loopback(port);
  if (fd < 0)
    return false;
  ::close(fd);
  return true;
}

/// Whether the server on a loopback port sends `greeting` first, within 5 s
/// (tells a server that greets, as NATS does, from a stranger on its port).
inline bool greets_with(int port, const std::string& greeting) {
  int fd = connect_loopback(port);
  if (fd < 0)
    return false;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string got;
  char buf[64];
  while (got.size() < greeting.size()) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return got.rfind(greeting, 0) == 0;
}

/// A child process with stdout and stderr in a file.
class child {
public:
  child() = default;

  child(std::vector<std::string> argv, std::vector<std::string> env,
        std::string log)
      : log_(std::move(log)) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e)
      envs.emplace_back(*e);
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& e : envs)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), envp.data())
        != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }

  child(child&& other) noexcept
      : pid_(other.pid_), log_(std::move(other.log_)) {
    other.pid_ = -1;
  }

  child& operator=(child&& other) noexcept {
    kill_now();
    pid_ = other.pid_;
    log_ = std::move(other.log_);
    other.pid_ = -1;
    return *this;
  }

  ~child() {
    kill_now();
  }

  pid_t pid() const {
    return pid_;
  }

  bool running() const {
    return pid_ > 0;
  }

  void signal(int sig) {
    if (pid_ > 0)
      ::kill(pid_, sig);
  }

  /// Waits for the exit; its status (exit code, or 128 + signal), or -1
  /// after `limit`.
  int wait(std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0) {
      int status = 0;
      auto r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > until)
        return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

  std::string output() const {
    std::ifstream in{log_};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

private:
  pid_t pid_ = -1;
  std::string log_;
};

/// What run_process saw.
struct process_result {
  int exit_code = 0;
  bool timed_out = false;
  std::string output;
};

/// Runs a program with `env` added to ours and waits for it at most
/// `limit` (then SIGKILL: timed_out, exit code -1). The program under test
/// runs as a plain child, not in the dry-run sandbox (which has no network
/// and a 1 GiB address space that sanitizer builds cannot live with).
inline process_result run_process(std::vector<std::string> argv,
                                  std::vector<std::string> env,
                                  std::chrono::milliseconds limit) {
  char tmpl[] = "/tmp/orch-run-log.XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd >= 0)
    ::close(fd);
  process_result out;
  {
    child proc(std::move(argv), std::move(env), tmpl);
    out.exit_code = proc.wait(limit);
    if (out.exit_code == -1 && proc.running()) {
      proc.kill_now();
      out.timed_out = true;
    }
    out.output = proc.output();
  }
  ::unlink(tmpl);
  return out;
}

/// A scratch directory removed at the end.
struct scratch_dir {
  std::string path;
  scratch_dir() {
    char tmpl[] = "/tmp/orch-test.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~scratch_dir() {
    std::string cmd = "rm -rf '" + path + "'";
    if (std::system(cmd.c_str()) != 0)
      std::fprintf(stderr, "cannot remove %s\n", path.c_str());
  }
};

/// Starts `nats-server -js` on a loopback port with its store under `dir`
/// and waits until it accepts connections (at most 5 s).
/// `extra` are more arguments (authentication, TLS).
inline child start_nats_server(const std::string& dir, int port,
                               const std::vector<std::string>& extra = {}) {
  const char* bin = ::access("/usr/sbin/nats-server", X_OK) == 0
                      ? "/usr/sbin/nats-server"
                      : "/usr/bin/nats-server";
  std::vector<std::string> argv{bin,  "-a",  "127.0.0.1", "-p",
                                std::to_string(port), "-js", "-sd",
                                dir + "/js"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  child proc(std::move(argv), {}, dir + "/nats.log");
  for (int i = 0; i < 200 && !port_open(port); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  return proc;
}

/// Resident set size of a process in MiB (0 when unknown).
inline double rss_mb(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return 0;
}

} // namespace orch::test
