#pragma once

// PROCESS RUNNER: runs child processes with a time limit in a light sandbox,
// on threads of its own so that no scheduler thread ever blocks on a child.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "actors/actors.hpp"

namespace orch {

/// Runs `spec.argv` as a child process and waits for it, blocking the calling
/// thread for at most `spec.timeout_ms` (plus the time to reap the child).
///
/// - `spec.stdin_data` is written to the child's standard input, which is then
///   closed; standard output and standard error are captured into one buffer
///   of at most `spec.max_output` bytes (`truncated` tells whether more came;
///   the rest is drained and dropped so the child never blocks on a full pipe).
/// - On expiry of the limit the child's whole process group is killed with
///   SIGKILL: `timed_out` is true and `exit_code` is -1.
/// - A child killed by a signal reports 128 + the signal number.
/// - A program that is not found (searched in /usr/bin and /bin unless
///   `argv[0]` contains a slash) or cannot be executed reports 127 (126 when
///   it exists but cannot be executed) with a message naming it.
/// - Sandbox: the child leads a new process group, runs in a fresh temporary
///   directory (removed afterwards), sees only the environment
///   `PATH=/usr/bin:/bin` and `LANG=C.UTF-8`, inherits no file descriptor
///   beyond 0, 1 and 2, and is limited to CPU time of the limit rounded up to
///   seconds plus one, 1 GiB of address space, 64 open files, files of
///   64 MiB, no core dumps and 64 processes more than its user has. It runs
///   as PID 1 of a new PID namespace in a new network namespace (no
///   network) where the kernel allows them (root; others through
///   unprivileged user namespaces), with no_new_privs, and dies with the
///   service (PR_SET_PDEATHSIG). A service running as root runs the child
///   as nobody (65534), owner of the temporary directory. When the child
///   exits, everything it started is killed: in its PID namespace by the
///   kernel, which also reaps it (a container's init that never reaps
///   cannot leave zombies counting against the process limit), also what
///   left the process group (setsid); without one, the remaining members of
///   its process group.
///
/// A non-positive `timeout_ms` means 10 s; a negative `max_output` means 0.
/// Thread-safe: may run concurrently on several threads.
command_result run_command(const command_spec& spec);

/// Reaps the zombies of this process that run_command does not wait for:
/// orphans the kernel hands to PID 1 (the service as a container's first
/// process, without an init) or to a subreaper. Returns how many. Call it
/// from time to time when getpid() is 1.
int reap_orphans();

/// State of a PROCESS RUNNER worker: a detached actor that runs one command
/// at a time.
struct process_runner_state {
  /// Number of commands run so far.
  int64_t runs = 0;

  static inline const char* name = "process_runner";
};

/// Behavior of a PROCESS RUNNER worker. Must be spawned `caf::detached`: its
/// handler blocks in `run_command`.
process_runner_actor::behavior_type process_runner(
  process_runner_actor::stateful_pointer<process_runner_state> self);

/// State of a pool of PROCESS RUNNER workers.
struct process_runner_pool_state {
  /// The detached workers.
  std::vector<process_runner_actor> workers;

  /// Requests in flight per worker.
  std::vector<size_t> load;

  static inline const char* name = "process_runner_pool";
};

/// Behavior of a pool: forwards every command to the least loaded of its
/// workers and relays the answer. An ordinary event-based actor: it never
/// blocks.
process_runner_actor::behavior_type process_runner_pool(
  process_runner_actor::stateful_pointer<process_runner_pool_state> self,
  std::vector<process_runner_actor> workers);

/// Spawns a PROCESS RUNNER. With one worker (the default) that is a single
/// detached actor running commands one after the other; with more, a pool
/// actor in front of `workers` detached actors running commands in parallel.
process_runner_actor spawn_process_runner(caf::actor_system& sys,
                                          size_t workers = 1);

} // namespace orch
