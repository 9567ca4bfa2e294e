#pragma once

// Helpers of the service suites: a private nats-server per test (JetStream,
// its own store, a free loopback port, stopped by pid), child processes
// (`orchestrator serve`, workers), and a reader of the events in the
// ORCHESTRATOR_EVENTS stream.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "bridges/nats_bridge.hpp"
#include "messages/events.hpp"

extern char** environ;

namespace orch::test {

/// A free TCP port on loopback.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// Whether something accepts connections on a loopback port.
inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  auto ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
            == 0;
  ::close(fd);
  return ok;
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

/// A private nats-server with JetStream for one test.
class nats_server {
public:
  explicit nats_server(const std::string& dir)
      : dir_(dir), port_(free_port()) {
    start();
  }

  void start() {
    const char* bin = ::access("/usr/sbin/nats-server", X_OK) == 0
                        ? "/usr/sbin/nats-server"
                        : "/usr/bin/nats-server";
    proc_ = child({bin, "-a", "127.0.0.1", "-p", std::to_string(port_), "-js",
                   "-sd", dir_ + "/js"},
                  {}, dir_ + "/nats.log");
    for (int i = 0; i < 200 && !port_open(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    BOOST_REQUIRE_MESSAGE(port_open(port_), "nats-server did not start");
  }

  /// Stops the server (SIGTERM; SIGKILL when `hard`) and waits for it.
  void stop(bool hard = false) {
    proc_.signal(hard ? SIGKILL : SIGTERM);
    proc_.wait(std::chrono::seconds(10));
    proc_.kill_now();
  }

  std::string url() const {
    return "nats://127.0.0.1:" + std::to_string(port_);
  }

private:
  std::string dir_;
  int port_;
  child proc_;
};

/// An event read back from the stream.
struct seen_event {
  std::string subject;
  nlohmann::json envelope;
  std::map<std::string, std::string> headers;

  const nlohmann::json& payload() const {
    return envelope["payload"];
  }
};

/// Connects a test client (fails the test when NATS is not there).
inline nats_link_ptr client(const std::string& url) {
  nats_settings s;
  s.url = url;
  s.retry_forever = false;
  s.name = "orch-test";
  auto link = nats_connect(s);
  BOOST_REQUIRE_MESSAGE(link, "cannot connect to " << url);
  BOOST_REQUIRE(!ensure_streams(**link));
  return *link;
}

/// Every event in ORCHESTRATOR_EVENTS now (as stored: JetStream already
/// dropped duplicate message ids).
inline std::vector<seen_event> stream_events(nats_link& link) {
  std::vector<seen_event> out;
  auto f = follow(link, "orchestration.>", true);
  if (!f)
    return out;
  while (auto m = (*f)->next(std::chrono::milliseconds(300))) {
    seen_event ev;
    ev.subject = m->subject;
    ev.headers = m->headers;
    auto ct = m->headers.find("Content-Type");
    if (ct != m->headers.end() && ct->second.find("msgpack") != std::string::npos)
      ev.envelope = nlohmann::json::from_msgpack(m->data, true, false);
    else
      ev.envelope = nlohmann::json::parse(m->data, nullptr, false);
    out.push_back(std::move(ev));
  }
  return out;
}

/// Waits until the stream holds orchestration.plan.completed for the plan;
/// returns every event of the stream then (empty on timeout).
inline std::vector<seen_event> await_plan(nats_link& link,
                                          const std::string& plan_id,
                                          std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    auto evs = stream_events(link);
    for (auto& ev : evs)
      if (ev.subject == subject::plan_completed
          && ev.envelope.is_object()
          && ev.payload().value("plan_id", "") == plan_id)
        return evs;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return {};
}

/// Events of one subject concerning one plan.
inline std::vector<seen_event> of(const std::vector<seen_event>& evs,
                                  const std::string& subj,
                                  const std::string& plan_id) {
  std::vector<seen_event> out;
  for (auto& ev : evs) {
    if (ev.subject != subj || !ev.envelope.is_object())
      continue;
    auto& p = ev.payload();
    if (p.value("plan_id", "") == plan_id
        || p.value("task_id", "").rfind(plan_id + "/", 0) == 0)
      out.push_back(ev);
  }
  return out;
}

/// Publishes a payload in the envelope (JSON, or msgpack).
inline void publish(nats_link& link, const std::string& subj,
                    const nlohmann::json& payload, bool msgpack = false,
                    const std::string& correlation = "corr-test",
                    const std::string& traceparent = "") {
  outbound_event ev;
  ev.subject = subj;
  ev.payload = payload.dump();
  ev.correlation_id = correlation;
  ev.idempotency_key = "test-" + std::to_string(now_ms()) + "-"
                       + std::to_string(std::rand());
  auto bytes = encode_envelope(ev, msgpack);
  std::map<std::string, std::string> h{
    {"Nats-Msg-Id", ev.idempotency_key},
    {"Content-Type", msgpack ? "application/msgpack" : "application/json"}};
  if (!traceparent.empty())
    h["traceparent"] = traceparent;
  BOOST_REQUIRE(!publish_sync(link, subj, bytes, h));
}

/// Publishes raw bytes with headers.
inline void publish_raw(nats_link& link, const std::string& subj,
                        const std::string& bytes,
                        std::map<std::string, std::string> h = {}) {
  h["Nats-Msg-Id"] = "raw-" + std::to_string(now_ms()) + "-"
                     + std::to_string(std::rand());
  BOOST_REQUIRE(!publish_sync(link, subj, bytes, h));
}

/// A plan payload with explicit tasks: (id, role, dependencies).
inline nlohmann::json
plan_payload(const std::string& plan_id,
             const std::vector<std::tuple<std::string, std::string,
                                          std::vector<std::string>>>& tasks) {
  auto arr = nlohmann::json::array();
  for (auto& [id, role, deps] : tasks)
    arr.push_back({{"task_id", id},
                   {"role", role},
                   {"description", "Implement " + id + " of " + plan_id
                                     + " with input validation"},
                   {"dependencies", deps},
                   {"priority", 1},
                   {"constraints",
                    {{"rubric", "secure and tested"},
                     {"requirements", {"input validation"}}}}});
  return {{"story_id", "story-" + plan_id},
          {"plan_id", plan_id},
          {"approved_by", "tester"},
          {"timestamp", 1764000000.5},
          {"tasks", arr}};
}

} // namespace orch::test
