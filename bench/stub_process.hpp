#pragma once

// The project's OpenAI-compatible stub server as a child process, for the
// benchmarks that need a model endpoint with a fixed latency.

#include <csignal>
#include <string>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace orch::bench {

/// The stub server as a child process.
struct stub_process {
  pid_t pid = -1;
  uint16_t port = 0;

  bool start(const std::string& exe, int latency_ms) {
    int out[2];
    if (pipe(out) != 0)
      return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    auto latency = std::to_string(latency_ms);
    const char* argv[] = {exe.c_str(),    "--port",        "0",
                          "--latency-ms", latency.c_str(), nullptr};
    auto rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr,
                          const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      return false;
    }
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n')
      line += c;
    close(out[0]);
    auto colon = line.find(':');
    if (colon == std::string::npos)
      return false;
    port = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
    return port != 0;
  }

  ~stub_process() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

/// The directory of this executable, where the build puts `llm_stub`.
inline std::string own_dir() {
  char buf[4096];
  auto n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return ".";
  std::string path{buf, static_cast<size_t>(n)};
  return path.substr(0, path.rfind('/'));
}

/// The `orchestrator` binary of the same build (beside bench/).
inline std::string orchestrator_beside() {
  return own_dir() + "/../orchestrator";
}

} // namespace orch::bench
