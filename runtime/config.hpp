#pragma once

// Service configuration: environment first (ARCHITECTURE.md §7 names), then
// command-line flags, then validation with messages that say what to fix.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace orch {

/// One council to create at start-up.
struct council_spec {
  council_spec() = default;
  council_spec(std::string role, int32_t agents,
               std::map<std::string, std::string> params = {})
    : role(std::move(role)), agents(agents), params(std::move(params)) {
    // nop
  }

  std::string role;
  int32_t agents = 3;
  /// Parameters of its agents (agent_spec::params), e.g. a `scripted`
  /// agent's `style`.
  std::map<std::string, std::string> params;
};

struct config {
  int32_t grpc_port = 50055;
  int32_t http_port = 8080;
  std::string nats_url = "nats://localhost:4222";
  bool enable_nats = false;
  std::string redis_url;
  /// Prefix of the TASK QUEUE's keys in Redis.
  std::string redis_prefix = "orch:queue";
  /// scripted (alias mock) or vllm.
  std::string agent_type = "scripted";
  std::string vllm_url = "http://localhost:8000";
  std::string vllm_model = "Qwen/Qwen3-0.6B";
  double vllm_temperature = 0.7;
  int32_t vllm_max_tokens = 2048;
  int32_t vllm_timeout = 60;
  std::string vllm_api_key;
  /// Requests in flight per LLM endpoint.
  int32_t vllm_max_concurrency = 4096;
  /// HTTP retries on connection errors, 429 and 5xx.
  int32_t vllm_max_retries = 3;
  /// Longest wait, in us, between reading model replies while many calls
  /// are in flight (llm_client_settings::gather_max_us); 0 reads at once.
  int32_t vllm_gather_us = 2000;
  /// Who POSTs to http:// endpoints: builtin (the client's own HTTP/1.1
  /// connections) or curl; https:// always goes through libcurl.
  std::string vllm_http_client = "builtin";
  /// rule or llm.
  std::string architect_mode = "rule";
  std::vector<council_spec> councils
    = {{"DEV", 3}, {"QA", 3}, {"ARCHITECT", 3}, {"DEVOPS", 3}, {"DATA", 3}};
  /// Seconds.
  int32_t deliberation_timeout = 300;
  /// Seconds.
  int32_t deliberation_cleanup = 3600;
  /// Default rounds of peer review.
  int32_t rounds = 1;
  int32_t quorum = 1;
  std::string log_level = "info";
  std::string log_format = "text";
  /// YAML file with scorer rules; empty: built-in defaults.
  std::string scorer_rules;
  /// Scheduler threads; 0: the number of cores.
  int32_t threads = 0;
  /// Scheduler policy: `affine` (ours, runtime/scheduler.cpp: a FIFO queue
  /// per thread, every actor queued at the thread it last ran on, idle
  /// threads take jobs from busy ones), `lean` (ours: one FIFO queue under
  /// a spin lock, idle threads woken only as needed), CAF's `sharing` (one
  /// FIFO queue under a mutex, threads sleep on a condition variable) or
  /// CAF's `stealing` (a queue per thread, LIFO, idle threads poll).
  /// Measured with bench/deliberation on 2 cores: affine runs 11% more
  /// engine deliberations/s than lean (actors stay on one core); the FIFO
  /// queues keep p99 near 1.5 ms where stealing's LIFO queues starve some
  /// deliberations for 10 ms; lean runs a deliberation in 9% fewer
  /// instructions than sharing.
  std::string scheduler_policy = "affine";
  /// Scorer actors; 0: the number of scheduler threads.
  int32_t scorers = 0;
  /// Engine lanes (actors/lanes.hpp): each an ORCHESTRATOR with its
  /// councils, workers, agents and scorer pinned to one scheduler thread; a
  /// deliberation runs in one. 0: one per scheduler thread with the
  /// `affine` policy, none (1) with the others, which do not pin; 1: none.
  int32_t engine_lanes = 0;
  /// Upper bound on stored deliberation results.
  int32_t max_stored_results = 10000;
  // -- NATS (serve, submit) --
  std::string nats_creds;
  std::string nats_user;
  std::string nats_password;
  std::string nats_token;
  std::string nats_tls_ca;
  std::string nats_tls_cert;
  std::string nats_tls_key;
  /// Progress events: step, phase or off.
  std::string progress_events = "phase";
  /// Envelope of published events: json or msgpack (EVENT_FORMAT).
  std::string event_format = "json";
  /// Largest accepted event in bytes.
  int32_t max_payload = 1 << 20;
  /// Seconds in-flight tasks get to finish on SIGTERM.
  int32_t drain_timeout = 30;
  /// Tasks one process deliberates at once (MAX_IN_FLIGHT).
  int32_t max_in_flight = 16;
  /// Lease of a running task in seconds (LEASE_SECONDS).
  int32_t lease_seconds = 30;
  /// Time limit of one call to a `remote` agent (REMOTE_AGENT_TIMEOUT).
  int32_t remote_timeout = 120;
  /// Lease owner name (WORKER_ID); default host-pid.
  std::string worker_id;
  /// Deliberations running over gRPC at once at most
  /// (GRPC_MAX_DELIBERATIONS); more get RESOURCE_EXHAUSTED.
  int32_t grpc_max_deliberations = 256;
  /// Whether `serve` runs its DISPATCHER (DISPATCH); false leaves every
  /// task to the workers of the HTTP pull API.
  bool dispatch = true;
  // -- distributed CAF nodes --
  /// Nodes to place agents and scorers on (NODES, HOST:PORT,...).
  std::vector<std::string> nodes;
  /// Where `serve` accepts nodes that announce themselves, or where
  /// `orchestrator node` listens (NODE_LISTEN, HOST:PORT).
  std::string node_listen;
  /// The orchestrator a node announces itself to (NODE_ANNOUNCE).
  std::string node_announce;
  /// Shared secret nodes and orchestrators prove (NODE_SECRET).
  std::string node_secret;
  /// Mutual TLS between nodes (NODE_TLS_CERT, NODE_TLS_KEY, NODE_TLS_CA).
  std::string node_tls_cert;
  std::string node_tls_key;
  std::string node_tls_ca;
  /// Limit of one call to an agent or scorer on a node, in seconds, when
  /// the task sets none (NODE_CALL_TIMEOUT).
  int32_t node_call_timeout = 300;
  /// Middleman heartbeat in ms (NODE_HEARTBEAT_MS): a hung node is noticed
  /// after about four of them.
  int32_t node_heartbeat_ms = 500;

  /// Whether this process talks to nodes (NODES or NODE_LISTEN).
  bool distributed() const {
    return !nodes.empty() || !node_listen.empty();
  }

  /// Whether node links use TLS (all three NODE_TLS_* set).
  bool node_tls() const {
    return !node_tls_cert.empty();
  }
};

/// Splits "HOST:PORT"; the error names `what`.
caf::expected<std::pair<std::string, uint16_t>>
parse_host_port(const std::string& x, const std::string& what);

/// Reads a variable; returns nullptr when unset.
using env_lookup = std::function<const char*(const char*)>;

/// Applies the environment to `cfg`. Fails with a message naming the variable
/// and what to fix when a value does not parse.
caf::error apply_environment(config& cfg, const env_lookup& getenv);

/// Parses COUNCILS, e.g. "DEV:3,QA:3".
caf::expected<std::vector<council_spec>> parse_councils(const std::string& x);

/// Renders councils back to "DEV:3,QA:3".
std::string to_string(const std::vector<council_spec>& xs);

/// Checks the whole configuration; the error says what to fix.
caf::error validate(const config& cfg);

/// Checks what talking to nodes needs (a secret or mutual TLS); for `node`
/// and for `serve` with NODES or NODE_LISTEN.
caf::error validate_nodes(const config& cfg);

/// The values of `scheduler_policy` (SCHEDULER_POLICY).
inline const std::vector<std::string> scheduler_policies{
  "affine", "lean", "sharing", "stealing"};

/// Number of scheduler threads `cfg` asks for (the core count by default).
int32_t scheduler_threads(const config& cfg);

/// Number of engine lanes `cfg` asks for (1: none).
int32_t engine_lanes(const config& cfg);

} // namespace orch
