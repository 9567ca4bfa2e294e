// The rig of the fault-injection run (bench/faults.cpp): for one row, a
// private nats-server (JetStream), redis-server with AOF and the test LLM
// server on loopback, `orchestrator serve` processes (replicas, CAF nodes)
// started, killed and started again, and what the event stream holds.

#pragma once

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/stub_process.hpp"
#include "bridges/nats_link.hpp"
#include "messages/events.hpp"
#include "tests/child_process.hpp"
#include "tests/llm_stub/llm_stub.hpp"

namespace orch::bench {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace orch::test;

inline double secs(clock_type::duration d) {
  return std::chrono::duration<double>(d).count();
}

/// Run-wide settings.
struct settings {
  std::string binary;
  int tasks = 60;
  int latency_ms = 200;
};

/// A NATS client subscribed to every event that never reads (raw protocol,
/// a small receive buffer): the server has to cut it as a slow consumer.
struct stuck_subscriber {
  int fd = -1;

  explicit stuck_subscriber(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      return;
    std::string hello = "CONNECT {\"verbose\":false,\"name\":\"stuck\"}\r\n"
                        "SUB orchestration.> 1\r\nSUB > 2\r\n";
    if (::write(fd, hello.data(), hello.size()) < 0)
      std::perror("stuck subscriber");
  }

  ~stuck_subscriber() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// The servers and processes of one row.
class rig {
public:
  rig(const settings& s, std::string name) : s_(s), name_(std::move(name)) {}

  ~rig() {
    stuck_.reset();
    serves_.clear();
    nodes_.clear();
    link_.reset();
    nats_.kill_now();
    redis_.kill_now();
    stub_.stop();
    if (!tmpfs_.empty())
      ::umount2(tmpfs_.c_str(), MNT_DETACH);
  }

  /// Puts the JetStream store on a tmpfs of `mib` MiB (root only).
  bool store_on_tmpfs(int mib) {
    auto at = dir_.path + "/jsfs";
    std::string opts = "size=" + std::to_string(mib) + "m";
    if (::mkdir(at.c_str(), 0755) != 0
        || ::mount("tmpfs", at.c_str(), "tmpfs", 0, opts.c_str()) != 0)
      return false;
    tmpfs_ = at;
    store_ = at;
    return true;
  }

  std::string start(int replicas, int nodes) {
    if (!stub_.start())
      return "the test LLM server did not start";
    stub_.set_latency_ms(s_.latency_ms);
    nats_port_ = free_port();
    start_nats();
    if (!port_open(nats_port_))
      return "nats-server did not start";
    redis_port_ = free_port();
    start_redis();
    if (!port_open(redis_port_))
      return "redis-server did not start";
    for (int i = 0; i < nodes; ++i) {
      node_ports_.push_back(free_port());
      start_node(i);
    }
    for (int i = 0; i < nodes; ++i)
      if (!await_port(node_ports_[static_cast<size_t>(i)]))
        return "a node did not listen";
    for (int i = 0; i < replicas; ++i)
      start_serve();
    nats_settings ns;
    ns.url = nats_url();
    ns.name = "faults-observer";
    auto link = nats_connect(ns);
    if (!link)
      return "cannot connect to nats-server";
    link_ = *link;
    for (int i = 0; i < 100 && !health(*link_).connected; ++i)
      std::this_thread::sleep_for(milliseconds(50));
    if (auto err = ensure_streams(*link_))
      return "streams: " + render(err);
    return {};
  }

  void start_nats() {
    std::vector<std::string> argv{
      "/usr/sbin/nats-server",    "-a",  "127.0.0.1", "-p",
      std::to_string(nats_port_), "-js", "-sd",       store_};
    if (::access(argv[0].c_str(), X_OK) != 0)
      argv[0] = "/usr/bin/nats-server";
    nats_ = child(argv, {}, dir_.path + "/nats.log");
    await_port(nats_port_);
  }

  void start_redis() {
    auto rdir = dir_.path + "/redis";
    ::mkdir(rdir.c_str(), 0755);
    redis_ = child({"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port",
                    std::to_string(redis_port_), "--dir", rdir, "--save", "",
                    "--appendonly", "yes", "--appendfsync", "always"},
                   {}, dir_.path + "/redis.log");
    await_port(redis_port_);
  }

  void start_node(int i) {
    auto port = node_ports_[static_cast<size_t>(i)];
    auto env = model_env();
    env.push_back("NODE_SECRET=" + secret_);
    auto proc = child(
      {s_.binary, "node", "--listen", "127.0.0.1:" + std::to_string(port)},
      std::move(env), dir_.path + "/node-" + std::to_string(i) + ".log");
    if (static_cast<size_t>(i) < nodes_.size())
      nodes_[static_cast<size_t>(i)] = std::move(proc);
    else
      nodes_.push_back(std::move(proc));
  }

  void start_serve() {
    auto env = model_env();
    env.insert(env.end(),
               {"NATS_URL=" + nats_url(),
                "REDIS_URL=redis://127.0.0.1:" + std::to_string(redis_port_),
                "REDIS_PREFIX=faults", "HTTP_PORT=0", "GRPC_PORT=0",
                "LEASE_SECONDS=5", "MAX_IN_FLIGHT=4", "LOG_LEVEL=info",
                "WORKER_ID=replica-" + std::to_string(++serves_started_)});
    if (!node_ports_.empty()) {
      std::string list;
      for (auto p : node_ports_)
        list += (list.empty() ? "" : ",") + std::string{"127.0.0.1:"}
                + std::to_string(p);
      env.push_back("NODES=" + list);
      env.push_back("NODE_SECRET=" + secret_);
    }
    serves_.emplace_back(
      std::vector<std::string>{s_.binary, "serve"}, std::move(env),
      dir_.path + "/serve-" + std::to_string(serves_started_) + ".log");
  }

  std::vector<std::string> model_env() const {
    return {"AGENT_TYPE=vllm", "VLLM_URL=" + stub_.url(),
            "VLLM_MODEL=stub-model", "VLLM_TIMEOUT=3"};
  }

  std::string nats_url() const {
    return "nats://127.0.0.1:" + std::to_string(nats_port_);
  }

  /// The events of the stream from its start to its end as it is now:
  /// (subject, payload); reading stops early when none comes for `idle` or
  /// `limit` has passed.
  std::vector<std::pair<std::string, json>>
  events(milliseconds limit = milliseconds(60000),
         milliseconds idle = milliseconds(300)) {
    std::vector<std::pair<std::string, json>> out;
    auto f = follow(*link_, "orchestration.>", true);
    if (!f) {
      if (std::getenv("FAULTS_DEBUG"))
        std::fprintf(stderr, "%s: cannot read the stream: %s\n", name_.c_str(),
                     render(f.error()).c_str());
      return out;
    }
    auto until = clock_type::now() + limit;
    while (clock_type::now() < until) {
      auto m = (*f)->next(idle);
      if (!m)
        break;
      auto env = json::parse(m->data, nullptr, false);
      if (env.is_object() && env.contains("payload"))
        out.emplace_back(m->subject, env["payload"]);
      if ((*f)->caught_up())
        break;
    }
    return out;
  }

  static bool await_port(int port) {
    for (int i = 0; i < 200; ++i) {
      if (port_open(port))
        return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  const settings& s_;
  std::string name_;
  scratch_dir dir_;
  std::string store_ = dir_.path + "/js";
  std::string tmpfs_;
  std::string secret_ = "faults-node-secret-0123456789";
  llm_stub_server stub_{{}};
  int nats_port_ = 0;
  int redis_port_ = 0;
  std::vector<int> node_ports_;
  child nats_;
  child redis_;
  std::vector<child> nodes_;
  std::vector<child> serves_;
  int serves_started_ = 0;
  std::optional<stuck_subscriber> stuck_;
  nats_link_ptr link_;
};

} // namespace orch::bench
