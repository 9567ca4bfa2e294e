#pragma once

// The PROCESS RUNNER's child (process_runner.cpp): started in its sandbox
// (new PID and network namespaces where the kernel allows, limits, no
// privileges, a user of its own) and made to exec the command, in raw
// system calls only. Internal to process_runner.cpp and sandboxed_child.cpp.

#include <cstddef>

#include <sys/resource.h>
#include <sys/types.h>

namespace orch::sandbox {

/// Address space a child may use.
constexpr rlim_t address_space_limit = rlim_t{1} << 30;

/// Files a child may hold open.
constexpr rlim_t open_files_limit = 64;

/// Largest file a child may write.
constexpr rlim_t file_size_limit = rlim_t{64} << 20;

/// The unprivileged user a child runs as when the service runs as root.
constexpr uid_t uid = 65534;
constexpr gid_t gid = 65534;

/// Everything the child needs, prepared before it starts: the child of a
/// multithreaded process may only make system calls.
struct child_setup {
  int stdin_fd;
  int output_fd;
  const char* dir;
  const char* program;
  char* const* argv;
  char* const* envp;
  rlimit cpu;
  rlimit nproc;
  /// Drop to `uid` (the service runs as root).
  bool drop_root;
  /// Started in new PID and network namespaces already (see start_child).
  bool isolated;
  const char* exec_error;
  size_t exec_error_len;
};

/// Starts the child, as PID 1 of a new PID namespace (and in a new network
/// namespace) where the kernel allows: root may; others through a user
/// namespace of their own where unprivileged ones are allowed. When that
/// first process exits, the kernel kills and reaps everything else in the
/// namespace, also what left the process group (setsid) and what the
/// container's init would never reap. Elsewhere a plain fork. Returns the
/// child's pid, or -1 when none started.
pid_t start_child(child_setup& cs);

} // namespace orch::sandbox
