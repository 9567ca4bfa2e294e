#include "actors/sandboxed_child.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <initializer_list>

#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace orch::sandbox {

namespace {

/// The kernel's struct sigaction for rt_sigaction (not glibc's).
struct kernel_sigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

/// Ends the child.
[[noreturn]] void child_exit(int code) {
  ::syscall(SYS_exit_group, code);
  __builtin_unreachable();
}

/// The child's side, in raw system calls only: it may have been started by
/// clone(2) behind glibc's back (no fork handlers ran, so no libc lock and no
/// sanitizer interceptor may be touched), and it never returns.
[[noreturn]] void run_child(const child_setup& cs) {
  // Signals: default dispositions (an ignored SIGPIPE would survive exec)
  // and an empty mask for the new program.
  kernel_sigaction dfl{SIG_DFL, 0, nullptr, 0};
  for (int sig : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD})
    ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
  uint64_t no_signals = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &no_signals, nullptr,
            sizeof(uint64_t));
  ::syscall(SYS_setpgid, 0, 0);
  if (::syscall(SYS_dup3, cs.stdin_fd, STDIN_FILENO, 0) < 0
      || ::syscall(SYS_dup3, cs.output_fd, STDOUT_FILENO, 0) < 0
      || ::syscall(SYS_dup3, cs.output_fd, STDERR_FILENO, 0) < 0)
    child_exit(127);
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
#endif
  {
    for (int fd = 3; fd < 65536; ++fd)
      ::syscall(SYS_close, fd);
  }
  if (cs.dir != nullptr && ::syscall(SYS_chdir, cs.dir) != 0)
    child_exit(126);
  // Dies with the service; gains no privileges through setuid programs.
  ::syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  ::syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  // No network: a new network namespace has only a loopback that is down.
  // Started without one: root may create one; others through a user
  // namespace where the kernel allows unprivileged ones; else the child
  // keeps the host's network.
  if (!cs.isolated && ::syscall(SYS_unshare, CLONE_NEWNET) != 0)
    ::syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNET);
  rlimit as{address_space_limit, address_space_limit};
  rlimit files{open_files_limit, open_files_limit};
  rlimit fsize{file_size_limit, file_size_limit};
  rlimit core{0, 0};
  struct {
    int resource;
    const rlimit* limit;
  } const limits[] = {{RLIMIT_CPU, &cs.cpu},     {RLIMIT_AS, &as},
                      {RLIMIT_NOFILE, &files},   {RLIMIT_FSIZE, &fsize},
                      {RLIMIT_CORE, &core},      {RLIMIT_NPROC, &cs.nproc}};
  for (auto& l : limits)
    ::syscall(SYS_prlimit64, 0, l.resource, l.limit, nullptr);
  if (cs.drop_root
      && (::syscall(SYS_setgroups, 0, nullptr) != 0
          || ::syscall(SYS_setresgid, gid, gid, gid)
               != 0
          || ::syscall(SYS_setresuid, uid, uid, uid)
               != 0))
    child_exit(126);
  // First process of a PID namespace: the command runs as its child (to
  // the first process the kernel delivers no signal it sends itself, such
  // as `kill -9 $$`), and this process stays as the namespace's init: it
  // reaps what is orphaned in there and ends with the command.
  pid_t command = 0;
  if (cs.isolated) {
    command = static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
    if (command < 0)
      child_exit(126);
  }
  if (command == 0) {
    ::syscall(SYS_execve, cs.program, cs.argv, cs.envp);
    auto code = errno == ENOENT ? 127 : 126;
    ::syscall(SYS_write, STDERR_FILENO, cs.exec_error, cs.exec_error_len);
    child_exit(code);
  }
  for (;;) {
    int status = 0;
    auto got = ::syscall(SYS_wait4, -1, &status, __WALL, nullptr);
    if (got < 0 && errno != EINTR)
      child_exit(126);
    if (got == command)
      child_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                     : WEXITSTATUS(status));
  }
}

} // namespace

pid_t start_child(child_setup& cs) {
  unsigned long flags = CLONE_NEWPID | CLONE_NEWNET | SIGCHLD;
  if (!cs.drop_root)
    flags |= CLONE_NEWUSER;
  auto pid = static_cast<pid_t>(::syscall(SYS_clone, flags, 0, 0, 0, 0));
  if (pid == 0) {
    cs.isolated = true;
    run_child(cs);
  }
  if (pid > 0)
    return pid;
  pid = ::fork();
  if (pid == 0)
    run_child(cs);
  return pid;
}

} // namespace orch::sandbox
