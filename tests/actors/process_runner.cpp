#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/process_runner.hpp"

using namespace orch;

namespace {

/// Milliseconds since `start`.
int64_t ms_since(std::chrono::steady_clock::time_point start) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now() - start).count();
}

command_spec sh(const std::string& script, std::string input = {},
                int32_t timeout_ms = 5000, int32_t max_output = 16384) {
  command_spec spec;
  spec.argv = {"sh", "-c", script};
  spec.stdin_data = std::move(input);
  spec.timeout_ms = timeout_ms;
  spec.max_output = max_output;
  return spec;
}

/// A directory every command may write to (the runner drops root to
/// nobody); removed with its content.
struct meeting_dir {
  std::string path;
  meeting_dir() {
    char tmpl[] = "/tmp/orch-meet.XXXXXX";
    path = ::mkdtemp(tmpl);
    ::chmod(path.c_str(), 0777);
  }
  ~meeting_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

/// Command `i` of `n` that meet in `dir`: it arrives, waits until all `n`
/// are there (20 s at most) and prints how many it saw. Each prints `n`
/// only when all ran at the same time, however slow the machine.
command_spec meet(const meeting_dir& dir, int i, int n) {
  auto count = "$(ls " + dir.path + " | wc -l)";
  return sh("touch " + dir.path + "/" + std::to_string(i)
              + "; k=0; while [ " + count + " -lt " + std::to_string(n)
              + " ] && [ $k -lt 400 ]; do sleep 0.05; k=$((k + 1)); done; "
                "echo "
              + count,
            {}, 30000);
}

struct runner_config : caf::actor_system_config {
  runner_config() {
    add_message_types<caf::id_block::orch>();
    set("scheduler.max-threads", 2);
    set("logger.verbosity", caf::atom("quiet"));
  }
};

struct runner_fixture {
  runner_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  command_result run(const process_runner_actor& runner, command_spec spec) {
    command_result out;
    self->request(runner, caf::infinite, atom::run_v, std::move(spec))
      .receive([&](command_result& x) { out = std::move(x); },
               [&](caf::error& err) { BOOST_FAIL(render(err)); });
    return out;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(process_runner)

BOOST_AUTO_TEST_CASE(exit_codes_are_reported) {
  auto ok = run_command(sh("exit 0"));
  BOOST_TEST(ok.exit_code == 0);
  BOOST_TEST(!ok.timed_out);
  auto three = run_command(sh("exit 3"));
  BOOST_TEST(three.exit_code == 3);
  auto killed = run_command(sh("kill -9 $$"));
  BOOST_TEST(killed.exit_code == 128 + 9);
  command_spec direct;
  direct.argv = {"false"};
  BOOST_TEST(run_command(direct).exit_code == 1);
}

BOOST_AUTO_TEST_CASE(stdin_is_delivered_and_output_captured) {
  auto res = run_command(sh("tr a-z A-Z; echo err >&2", "hello\n"));
  BOOST_TEST(res.exit_code == 0);
  BOOST_TEST(res.output == "HELLO\nerr\n");
  BOOST_TEST(!res.truncated);
  // A child that never reads its input still finishes.
  auto ignoring = run_command(sh("echo done", std::string(1 << 20, 'x')));
  BOOST_TEST(ignoring.exit_code == 0);
  BOOST_TEST(ignoring.output == "done\n");
}

BOOST_AUTO_TEST_CASE(large_input_and_output_do_not_deadlock) {
  // 4 MiB through cat: the child blocks on a full output pipe unless the
  // runner reads while it writes.
  std::string input(4 << 20, 'z');
  command_spec spec;
  spec.argv = {"cat"};
  spec.stdin_data = input;
  spec.max_output = 8 << 20;
  spec.timeout_ms = 10000;
  auto res = run_command(spec);
  BOOST_TEST(res.exit_code == 0);
  BOOST_TEST(!res.timed_out);
  BOOST_TEST(res.output.size() == input.size());
  BOOST_TEST((res.output == input));
}

BOOST_AUTO_TEST_CASE(output_is_truncated_and_drained) {
  auto res = run_command(
    sh("head -c 1000000 /dev/zero | tr '\\0' a; exit 7", {}, 5000, 1000));
  BOOST_TEST(res.output.size() == 1000u);
  BOOST_TEST(res.truncated);
  // Draining lets the child run to its own end.
  BOOST_TEST(res.exit_code == 7);
  auto none = run_command(sh("echo hi", {}, 5000, 0));
  BOOST_TEST(none.output.empty());
  BOOST_TEST(none.truncated);
}

BOOST_AUTO_TEST_CASE(command_not_found_is_127) {
  command_spec spec;
  spec.argv = {"no-such-command-xyz", "--help"};
  auto res = run_command(spec);
  BOOST_TEST(res.exit_code == 127);
  BOOST_TEST(res.output.find("no-such-command-xyz") != std::string::npos,
             res.output);
  spec.argv = {"/nonexistent/tool"};
  res = run_command(spec);
  BOOST_TEST(res.exit_code == 127);
  BOOST_TEST(res.output.find("/nonexistent/tool") != std::string::npos);
  spec.argv = {};
  BOOST_TEST(run_command(spec).exit_code == 127);
}

BOOST_AUTO_TEST_CASE(timeout_kills_the_process_group) {
  auto start = std::chrono::steady_clock::now();
  // The grandchild holds the output pipe open: it must die too.
  auto res = run_command(sh("sleep 30 & sleep 30", {}, 300));
  auto took = ms_since(start);
  BOOST_TEST(res.timed_out);
  BOOST_TEST(res.exit_code == -1);
  BOOST_TEST(res.duration_ms >= 300);
  BOOST_TEST(took < 3000);
}

BOOST_AUTO_TEST_CASE(leftover_children_do_not_hold_the_result) {
  auto start = std::chrono::steady_clock::now();
  auto res = run_command(sh("sleep 30 & echo started", {}, 5000));
  auto took = ms_since(start);
  BOOST_TEST(!res.timed_out);
  BOOST_TEST(res.exit_code == 0);
  BOOST_TEST(res.output == "started\n");
  BOOST_TEST(took < 3000);
}

BOOST_AUTO_TEST_CASE(child_runs_sandboxed) {
  auto res = run_command(sh("pwd; echo \"$PATH\"; env | grep -c =; "
                            "ulimit -n; ls /proc/self/fd | wc -l"));
  BOOST_TEST_REQUIRE(res.exit_code == 0, res.output);
  std::vector<std::string> lines;
  std::string line;
  for (auto c : res.output) {
    if (c == '\n') {
      lines.push_back(line);
      line.clear();
    } else {
      line += c;
    }
  }
  BOOST_REQUIRE_EQUAL(lines.size(), 5u);
  auto dir = lines[0];
  BOOST_TEST(dir.find("orch-run-") != std::string::npos, dir);
  BOOST_TEST(!std::filesystem::exists(dir));
  BOOST_TEST(lines[1] == "/usr/bin:/bin");
  // PATH, LANG and what sh itself adds (PWD).
  BOOST_TEST(std::stoi(lines[2]) <= 4, lines[2]);
  BOOST_TEST(lines[3] == "64");
  // 0, 1, 2 and the one ls opens for the listing.
  BOOST_TEST(std::stoi(lines[4]) <= 4, lines[4]);
}

BOOST_AUTO_TEST_CASE(escapes_are_stopped) {
  // A fork bomb stops at the process limit and is gone afterwards.
  auto bomb = run_command(sh("i=0; while [ $i -lt 300 ]; do sleep 30 & "
                             "i=$((i+1)); done; echo spawned $i",
                             {}, 2000));
  BOOST_TEST(bomb.output.find("fork") != std::string::npos, bomb.output);
  // A file past 64 MiB: the write fails (SIGXFSZ, 128 + 25) and the file
  // stays at the limit.
  auto big = run_command(sh("head -c 100000000 /dev/zero > big; "
                            "echo status $?; wc -c < big"));
  BOOST_TEST(big.output.find("status 153") != std::string::npos, big.output);
  BOOST_TEST(big.output.find("67108864") != std::string::npos, big.output);
  // Memory past 1 GiB cannot be had.
  auto mem = run_command(
    {{"/usr/bin/python3", "-c", "x = bytearray(2 << 30)"}, {}, 10000, 4096});
  BOOST_TEST(mem.exit_code != 0);
  BOOST_TEST(mem.output.find("MemoryError") != std::string::npos, mem.output);
  // No network: a port listening on the host's loopback is out of reach.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE_EQUAL(
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  BOOST_REQUIRE_EQUAL(::listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto port = std::to_string(ntohs(addr.sin_port));
  command_spec net;
  net.argv = {"/bin/bash", "-c",
              "echo hi > /dev/tcp/127.0.0.1/" + port + " && echo reached"};
  net.timeout_ms = 5000;
  auto reached = run_command(net);
  ::close(fd);
  BOOST_TEST(reached.output.find("reached") == std::string::npos,
             reached.output);
  // No privileges: no_new_privs, and as root an unprivileged user that
  // cannot write outside its directory.
  auto who = run_command(sh("grep NoNewPrivs /proc/self/status; id -u; "
                            "touch /etc/orch-sandbox-escape 2>&1 || "
                            "echo refused"));
  BOOST_TEST(who.output.find("NoNewPrivs:\t1") != std::string::npos,
             who.output);
  if (::geteuid() == 0) {
    BOOST_TEST(who.output.find("\n65534\n") != std::string::npos, who.output);
    BOOST_TEST(who.output.find("refused") != std::string::npos, who.output);
    BOOST_TEST(!std::filesystem::exists("/etc/orch-sandbox-escape"));
  }
}

BOOST_AUTO_TEST_CASE(nothing_outlives_the_command) {
  if (::geteuid() != 0)
    return; // PID namespaces need root or unprivileged user namespaces
  // The command runs in a PID namespace of its own, as the child of the
  // namespace's first process.
  auto self = run_command(sh("echo $$"));
  BOOST_TEST(self.output == "2\n");
  // A process that left the group (setsid) dies with the command, and so
  // does a fork bomb: its zombies are reaped in the namespace, not left to
  // an init that may never reap them, so the next command may fork at once.
  auto marker = std::filesystem::temp_directory_path()
                / ("orch-escape-" + std::to_string(::getpid()));
  std::filesystem::remove(marker);
  // The escapee waits 1 s before it writes (forking 300 processes takes a
  // loaded sanitizer build more than the 0.3 s it waited before), and the
  // marker is checked 1.5 s after the command started.
  auto started = std::chrono::steady_clock::now();
  auto escape = run_command(
    sh("setsid sh -c 'sleep 1; touch " + marker.string()
       + "' > /dev/null 2>&1 & "
         "i=0; while [ $i -lt 300 ]; do sleep 30 & i=$((i+1)); done"));
  BOOST_TEST(escape.output.find("fork") != std::string::npos, escape.output);
  auto next = run_command(sh("sleep 0.6 & wait; echo forked"));
  BOOST_TEST(next.output == "forked\n");
  std::this_thread::sleep_until(started + std::chrono::milliseconds(1500));
  BOOST_TEST(!std::filesystem::exists(marker));
  std::filesystem::remove(marker);
}

BOOST_AUTO_TEST_CASE(orphans_are_reaped_by_a_first_process) {
  // An orphan handed to the nearest subreaper, as to PID 1 in a container
  // (the service started without an init): reap_orphans collects it and
  // leaves run_command's own children alone.
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    auto middle = ::fork();
    if (middle == 0) {
      if (::fork() == 0) {
        ::usleep(200000);
        ::_exit(0);
      }
      ::_exit(0); // its child becomes an orphan
    }
    ::waitpid(middle, nullptr, 0);
    auto res = run_command(sh("echo ok"));
    if (res.output != "ok\n")
      ::_exit(10);
    ::usleep(600000);
    auto n = reap_orphans();
    ::_exit(n == 1 && reap_orphans() == 0 ? 0 : 20 + n);
  }
  int status = 0;
  BOOST_REQUIRE_EQUAL(::waitpid(pid, &status, 0), pid);
  BOOST_CHECK(WIFEXITED(status));
  BOOST_CHECK_EQUAL(WEXITSTATUS(status), 0);
}

BOOST_AUTO_TEST_CASE(runs_in_parallel_on_threads) {
  meeting_dir dir;
  command_result a;
  command_result b;
  std::thread t{[&] { a = run_command(meet(dir, 0, 2)); }};
  b = run_command(meet(dir, 1, 2));
  t.join();
  BOOST_TEST(a.output == "2\n");
  BOOST_TEST(b.output == "2\n");
}

BOOST_FIXTURE_TEST_CASE(actor_runs_commands, runner_fixture) {
  auto runner = spawn_process_runner(sys);
  auto res = run(runner, sh("cat", "via actor"));
  BOOST_TEST(res.exit_code == 0);
  BOOST_TEST(res.output == "via actor");
  res = run(runner, sh("exit 4"));
  BOOST_TEST(res.exit_code == 4);
}

BOOST_FIXTURE_TEST_CASE(pool_runs_commands_in_parallel, runner_fixture) {
  auto pool = spawn_process_runner(sys, 3);
  meeting_dir dir;
  for (int i = 0; i < 3; ++i)
    self->send(pool, atom::run_v, meet(dir, i, 3));
  int got = 0;
  self->receive_for(got, 3)([&](command_result& res) {
    BOOST_TEST(res.exit_code == 0);
    BOOST_TEST(res.output == "3\n");
  });
  auto res = run(pool, sh("echo again"));
  BOOST_TEST(res.output == "again\n");
}

BOOST_AUTO_TEST_SUITE_END()
