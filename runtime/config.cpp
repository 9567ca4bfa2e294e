#include "runtime/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

#include <unistd.h>

#include "actors/lanes.hpp"
#include "messages/ascii.hpp"
#include "messages/messages.hpp"

namespace orch {

namespace {

caf::error bad(const std::string& what) {
  return caf::make_error(ec::invalid_config, what);
}

caf::error parse_int(const char* name, const char* text, int32_t& out) {
  errno = 0;
  char* end = nullptr;
  auto v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < INT32_MIN
      || v > INT32_MAX)
    return bad(std::string{name} + "='" + text + "' is not an integer");
  out = static_cast<int32_t>(v);
  return caf::none;
}

caf::error parse_double(const char* name, const char* text, double& out) {
  errno = 0;
  char* end = nullptr;
  auto v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0')
    return bad(std::string{name} + "='" + text + "' is not a number");
  out = v;
  return caf::none;
}

caf::error parse_bool(const char* name, const char* text, bool& out) {
  auto x = to_lower(text);
  if (x == "1" || x == "true" || x == "yes" || x == "on") {
    out = true;
    return caf::none;
  }
  if (x == "0" || x == "false" || x == "no" || x == "off" || x.empty()) {
    out = false;
    return caf::none;
  }
  return bad(std::string{name} + "='" + text
             + "' is not a boolean (use true or false)");
}

} // namespace

caf::expected<std::vector<council_spec>> parse_councils(const std::string& x) {
  std::vector<council_spec> out;
  std::set<std::string> seen;
  size_t pos = 0;
  while (pos <= x.size()) {
    auto comma = x.find(',', pos);
    auto item = x.substr(pos, comma == std::string::npos ? std::string::npos
                                                         : comma - pos);
    pos = comma == std::string::npos ? x.size() + 1 : comma + 1;
    if (is_blank(item))
      continue;
    auto colon = item.find(':');
    council_spec spec;
    spec.role = normalize_role(item.substr(0, colon));
    if (spec.role.empty())
      return bad("COUNCILS: entry '" + item
                 + "' has no role; write ROLE:N, e.g. DEV:3");
    for (auto ch : spec.role)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_')
        return bad("COUNCILS: entry '" + item
                   + "': a role may only contain letters, digits and _; "
                     "write ROLE:N, e.g. DEV:3");
    if (colon != std::string::npos) {
      auto n = item.substr(colon + 1);
      while (!n.empty() && std::isspace(static_cast<unsigned char>(n.back())))
        n.pop_back();
      while (!n.empty() && std::isspace(static_cast<unsigned char>(n[0])))
        n.erase(0, 1);
      if (auto err = parse_int("COUNCILS", n.c_str(), spec.agents))
        return bad("COUNCILS: entry '" + item
                   + "' needs a whole number of agents after the colon, "
                     "e.g. DEV:3");
    }
    if (spec.agents < 1 || spec.agents > 256)
      return bad("COUNCILS: entry '" + item
                 + "' must have between 1 and 256 agents");
    if (!seen.insert(spec.role).second)
      return bad("COUNCILS: role " + spec.role + " appears twice");
    out.push_back(std::move(spec));
  }
  return out;
}

std::string to_string(const std::vector<council_spec>& xs) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += ',';
    out += x.role;
    out += ':';
    out += std::to_string(x.agents);
  }
  return out;
}

caf::error apply_environment(config& cfg, const env_lookup& getenv) {
  auto str = [&](const char* name, std::string& out) {
    if (auto v = getenv(name))
      out = v;
  };
  auto num = [&](const char* name, int32_t& out) -> caf::error {
    if (auto v = getenv(name))
      return parse_int(name, v, out);
    return caf::none;
  };
  if (auto err = num("GRPC_PORT", cfg.grpc_port))
    return err;
  if (auto err = num("HTTP_PORT", cfg.http_port))
    return err;
  str("NATS_URL", cfg.nats_url);
  if (auto v = getenv("ENABLE_NATS"))
    if (auto err = parse_bool("ENABLE_NATS", v, cfg.enable_nats))
      return err;
  str("REDIS_URL", cfg.redis_url);
  str("REDIS_PREFIX", cfg.redis_prefix);
  str("AGENT_TYPE", cfg.agent_type);
  str("VLLM_URL", cfg.vllm_url);
  str("VLLM_MODEL", cfg.vllm_model);
  if (auto v = getenv("VLLM_TEMPERATURE"))
    if (auto err = parse_double("VLLM_TEMPERATURE", v, cfg.vllm_temperature))
      return err;
  if (auto err = num("VLLM_MAX_TOKENS", cfg.vllm_max_tokens))
    return err;
  if (auto err = num("VLLM_TIMEOUT", cfg.vllm_timeout))
    return err;
  str("VLLM_API_KEY", cfg.vllm_api_key);
  if (auto err = num("VLLM_MAX_CONCURRENCY", cfg.vllm_max_concurrency))
    return err;
  if (auto err = num("VLLM_MAX_RETRIES", cfg.vllm_max_retries))
    return err;
  if (auto err = num("VLLM_GATHER_US", cfg.vllm_gather_us))
    return err;
  str("VLLM_HTTP_CLIENT", cfg.vllm_http_client);
  str("ARCHITECT_MODE", cfg.architect_mode);
  if (auto v = getenv("COUNCILS")) {
    auto xs = parse_councils(v);
    if (!xs)
      return std::move(xs.error());
    cfg.councils = std::move(*xs);
  }
  if (auto err = num("DELIBERATION_TIMEOUT", cfg.deliberation_timeout))
    return err;
  if (auto err = num("DELIBERATION_CLEANUP", cfg.deliberation_cleanup))
    return err;
  if (auto err = num("DELIBERATION_ROUNDS", cfg.rounds))
    return err;
  if (auto err = num("DELIBERATION_QUORUM", cfg.quorum))
    return err;
  str("LOG_LEVEL", cfg.log_level);
  str("LOG_FORMAT", cfg.log_format);
  str("SCORER_RULES", cfg.scorer_rules);
  if (auto err = num("SCHEDULER_THREADS", cfg.threads))
    return err;
  str("SCHEDULER_POLICY", cfg.scheduler_policy);
  if (auto err = num("SCORERS", cfg.scorers))
    return err;
  if (auto err = num("ENGINE_LANES", cfg.engine_lanes))
    return err;
  if (auto err = num("RESULT_STORE_MAX", cfg.max_stored_results))
    return err;
  str("NATS_CREDS", cfg.nats_creds);
  str("NATS_USER", cfg.nats_user);
  str("NATS_PASSWORD", cfg.nats_password);
  str("NATS_TOKEN", cfg.nats_token);
  str("NATS_TLS_CA", cfg.nats_tls_ca);
  str("NATS_TLS_CERT", cfg.nats_tls_cert);
  str("NATS_TLS_KEY", cfg.nats_tls_key);
  str("PROGRESS_EVENTS", cfg.progress_events);
  str("EVENT_FORMAT", cfg.event_format);
  if (auto err = num("MAX_PAYLOAD", cfg.max_payload))
    return err;
  if (auto err = num("DRAIN_TIMEOUT", cfg.drain_timeout))
    return err;
  if (auto err = num("MAX_IN_FLIGHT", cfg.max_in_flight))
    return err;
  if (auto err = num("LEASE_SECONDS", cfg.lease_seconds))
    return err;
  if (auto err = num("REMOTE_AGENT_TIMEOUT", cfg.remote_timeout))
    return err;
  str("WORKER_ID", cfg.worker_id);
  if (auto err = num("GRPC_MAX_DELIBERATIONS", cfg.grpc_max_deliberations))
    return err;
  if (auto v = getenv("DISPATCH"))
    if (auto err = parse_bool("DISPATCH", v, cfg.dispatch))
      return err;
  if (auto v = getenv("NODES")) {
    cfg.nodes.clear();
    std::string item;
    std::string all = v;
    all += ',';
    for (auto ch : all) {
      if (ch != ',') {
        if (!std::isspace(static_cast<unsigned char>(ch)))
          item += ch;
        continue;
      }
      if (!item.empty())
        cfg.nodes.push_back(item);
      item.clear();
    }
  }
  str("NODE_LISTEN", cfg.node_listen);
  str("NODE_ANNOUNCE", cfg.node_announce);
  str("NODE_SECRET", cfg.node_secret);
  str("NODE_TLS_CERT", cfg.node_tls_cert);
  str("NODE_TLS_KEY", cfg.node_tls_key);
  str("NODE_TLS_CA", cfg.node_tls_ca);
  if (auto err = num("NODE_CALL_TIMEOUT", cfg.node_call_timeout))
    return err;
  if (auto err = num("NODE_HEARTBEAT_MS", cfg.node_heartbeat_ms))
    return err;
  return caf::none;
}

caf::expected<std::pair<std::string, uint16_t>>
parse_host_port(const std::string& x, const std::string& what) {
  auto colon = x.rfind(':');
  auto fail = [&] {
    return bad(what + "='" + x + "' must look like HOST:PORT (port 1..65535)");
  };
  if (colon == std::string::npos || colon == 0 || colon + 1 == x.size())
    return fail();
  auto digits = x.substr(colon + 1);
  if (digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return fail();
  auto port = std::stoi(digits);
  if (port < 1 || port > 65535)
    return fail();
  return std::make_pair(x.substr(0, colon), static_cast<uint16_t>(port));
}

caf::error validate(const config& cfg) {
  auto port = [](const char* name, int32_t x) -> caf::error {
    if (x < 1 || x > 65535)
      return bad(std::string{name} + "=" + std::to_string(x)
                 + " is not a port; use 1..65535");
    return caf::none;
  };
  if (cfg.grpc_port != 0)
    if (auto err = port("GRPC_PORT", cfg.grpc_port))
      return err;
  if (cfg.http_port != 0)
    if (auto err = port("HTTP_PORT", cfg.http_port))
      return err;
  auto type = to_lower(cfg.agent_type);
  if (type != "scripted" && type != "mock" && type != "vllm"
      && type != "remote")
    return bad("AGENT_TYPE='" + cfg.agent_type
               + "' is not available in this build; use scripted (the "
                 "deterministic backend, alias mock), vllm (any "
                 "OpenAI-compatible endpoint) or remote (workers over NATS)");
  auto mode = to_lower(cfg.architect_mode);
  if (mode != "rule" && mode != "llm")
    return bad("ARCHITECT_MODE='" + cfg.architect_mode
               + "' is unknown; use rule or llm");
  if (type == "vllm" || mode == "llm") {
    if (cfg.vllm_url.rfind("http://", 0) != 0
        && cfg.vllm_url.rfind("https://", 0) != 0)
      return bad("VLLM_URL='" + redact_url(cfg.vllm_url)
                 + "' must start with http:// or https://");
    if (is_blank(cfg.vllm_model))
      return bad("VLLM_MODEL is empty; name the served model");
  }
  if (cfg.vllm_temperature < 0 || cfg.vllm_temperature > 2)
    return bad("VLLM_TEMPERATURE=" + std::to_string(cfg.vllm_temperature)
               + " must be between 0 and 2");
  if (cfg.vllm_max_tokens < 1)
    return bad("VLLM_MAX_TOKENS must be at least 1");
  if (cfg.vllm_timeout < 1)
    return bad("VLLM_TIMEOUT=" + std::to_string(cfg.vllm_timeout)
               + " must be at least 1 second");
  if (cfg.vllm_max_concurrency < 1)
    return bad("VLLM_MAX_CONCURRENCY must be at least 1");
  if (cfg.vllm_max_retries < 0 || cfg.vllm_max_retries > 10)
    return bad("VLLM_MAX_RETRIES must be between 0 and 10");
  if (cfg.vllm_gather_us < 0 || cfg.vllm_gather_us > 100'000)
    return bad("VLLM_GATHER_US=" + std::to_string(cfg.vllm_gather_us)
               + " must be between 0 (replies read at once) and 100000 us");
  if (cfg.vllm_http_client != "builtin" && cfg.vllm_http_client != "curl")
    return bad("VLLM_HTTP_CLIENT='" + cfg.vllm_http_client
               + "' is unknown; use builtin (the client's own HTTP/1.1) or "
                 "curl (libcurl)");
  if (cfg.councils.empty())
    return bad("COUNCILS is empty; give at least one ROLE:N, e.g. DEV:3");
  if (cfg.deliberation_timeout < 1)
    return bad("DELIBERATION_TIMEOUT="
               + std::to_string(cfg.deliberation_timeout)
               + " must be at least 1 second");
  if (cfg.deliberation_cleanup < 1)
    return bad("DELIBERATION_CLEANUP="
               + std::to_string(cfg.deliberation_cleanup)
               + " must be at least 1 second");
  if (cfg.rounds < 0 || cfg.rounds > 20)
    return bad("rounds=" + std::to_string(cfg.rounds)
               + " must be between 0 and 20");
  if (cfg.quorum < 1)
    return bad("quorum=" + std::to_string(cfg.quorum) + " must be at least 1");
  static const std::set<std::string> levels{"trace", "debug",    "info", "warn",
                                            "error", "critical", "off"};
  if (levels.count(to_lower(cfg.log_level)) == 0)
    return bad("LOG_LEVEL='" + cfg.log_level
               + "' is unknown; use trace, debug, info, warn, error or off");
  auto fmt = to_lower(cfg.log_format);
  if (fmt != "text" && fmt != "json")
    return bad("LOG_FORMAT='" + cfg.log_format
               + "' is unknown; use text or "
                 "json");
  if (std::find(scheduler_policies.begin(), scheduler_policies.end(),
                cfg.scheduler_policy)
      == scheduler_policies.end())
    return bad("SCHEDULER_POLICY='" + cfg.scheduler_policy
               + "' is unknown; use affine, lean, sharing or stealing");
  if (cfg.threads < 0 || cfg.threads > 256)
    return bad("threads=" + std::to_string(cfg.threads)
               + " must be between 0 (= cores) and 256");
  if (cfg.scorers < 0 || cfg.scorers > 256)
    return bad("scorers=" + std::to_string(cfg.scorers)
               + " must be between 0 (= threads) and 256");
  if (cfg.engine_lanes < 0 || cfg.engine_lanes > static_cast<int32_t>(max_lanes))
    return bad("ENGINE_LANES=" + std::to_string(cfg.engine_lanes)
               + " must be between 0 (= one per scheduler thread) and "
               + std::to_string(max_lanes));
  if (!cfg.redis_url.empty() && cfg.redis_url.rfind("redis://", 0) != 0)
    // Not echoed: a malformed URL may hold a password anywhere.
    return bad("REDIS_URL must look like redis://[:password@]host:port[/db]");
  if (is_blank(cfg.redis_prefix))
    return bad("REDIS_PREFIX must not be blank");
  auto pe = to_lower(cfg.progress_events);
  if (pe != "step" && pe != "phase" && pe != "off")
    return bad("PROGRESS_EVENTS='" + cfg.progress_events
               + "' is unknown; use step, phase or off");
  auto ef = to_lower(cfg.event_format);
  if (ef != "json" && ef != "msgpack")
    return bad("EVENT_FORMAT='" + cfg.event_format
               + "' is unknown; use json or msgpack");
  if (cfg.max_payload < 1024)
    return bad("MAX_PAYLOAD=" + std::to_string(cfg.max_payload)
               + " must be at least 1024 bytes");
  if (cfg.drain_timeout < 0)
    return bad("DRAIN_TIMEOUT must not be negative");
  if (cfg.max_in_flight < 1 || cfg.max_in_flight > 100000)
    return bad("MAX_IN_FLIGHT=" + std::to_string(cfg.max_in_flight)
               + " must be between 1 and 100000");
  if (cfg.grpc_max_deliberations < 1)
    return bad("GRPC_MAX_DELIBERATIONS must be at least 1");
  if (cfg.lease_seconds < 1)
    return bad("LEASE_SECONDS must be at least 1");
  if (cfg.remote_timeout < 1)
    return bad("REMOTE_AGENT_TIMEOUT must be at least 1 second");
  if (cfg.nats_url.rfind("nats://", 0) != 0
      && cfg.nats_url.rfind("tls://", 0) != 0)
    return bad("NATS_URL must look like nats://host:port (or tls://)");
  if (!cfg.nats_tls_cert.empty() != !cfg.nats_tls_key.empty())
    return bad("NATS_TLS_CERT and NATS_TLS_KEY go together; set both");
  if (cfg.max_stored_results < 1)
    return bad("RESULT_STORE_MAX=" + std::to_string(cfg.max_stored_results)
               + " must be at least 1");
  for (auto& n : cfg.nodes)
    if (auto hp = parse_host_port(n, "NODES entry"); !hp)
      return std::move(hp.error());
  if (!cfg.node_listen.empty())
    if (auto hp = parse_host_port(cfg.node_listen, "NODE_LISTEN"); !hp)
      return std::move(hp.error());
  if (!cfg.node_announce.empty())
    if (auto hp = parse_host_port(cfg.node_announce, "NODE_ANNOUNCE"); !hp)
      return std::move(hp.error());
  auto tls_set = !cfg.node_tls_cert.empty() + !cfg.node_tls_key.empty()
                 + !cfg.node_tls_ca.empty();
  if (tls_set != 0 && tls_set != 3)
    return bad("NODE_TLS_CERT, NODE_TLS_KEY and NODE_TLS_CA go together "
               "(mutual TLS with one CA); set all three");
  if (cfg.node_call_timeout < 1)
    return bad("NODE_CALL_TIMEOUT must be at least 1 second");
  if (cfg.node_heartbeat_ms < 50 || cfg.node_heartbeat_ms > 60'000)
    return bad("NODE_HEARTBEAT_MS must be between 50 and 60000");
  // Files named by the configuration exist and can be read now, not at the
  // first connection attempt (which would keep the service not ready).
  for (auto [name, path] : {std::pair{"NATS_CREDS", &cfg.nats_creds},
                            std::pair{"NATS_TLS_CA", &cfg.nats_tls_ca},
                            std::pair{"NATS_TLS_CERT", &cfg.nats_tls_cert},
                            std::pair{"NATS_TLS_KEY", &cfg.nats_tls_key},
                            std::pair{"NODE_TLS_CA", &cfg.node_tls_ca},
                            std::pair{"NODE_TLS_CERT", &cfg.node_tls_cert},
                            std::pair{"NODE_TLS_KEY", &cfg.node_tls_key}})
    if (!path->empty() && ::access(path->c_str(), R_OK) != 0)
      return bad(std::string{name} + "=" + *path + " cannot be read ("
                 + std::strerror(errno) + "); name a readable file");
  return caf::none;
}

caf::error validate_nodes(const config& cfg) {
  if (cfg.node_secret.empty() && !cfg.node_tls())
    return bad("nodes must authenticate each other: set NODE_SECRET (the "
               "same on every node and orchestrator) or NODE_TLS_CERT, "
               "NODE_TLS_KEY and NODE_TLS_CA (mutual TLS with one CA)");
  if (!cfg.node_secret.empty() && cfg.node_secret.size() < 16)
    return bad("NODE_SECRET is too short; use at least 16 characters");
  return caf::none;
}

int32_t scheduler_threads(const config& cfg) {
  if (cfg.threads > 0)
    return cfg.threads;
  auto n = static_cast<int32_t>(std::thread::hardware_concurrency());
  return n > 0 ? n : 2;
}

int32_t engine_lanes(const config& cfg) {
  if (cfg.engine_lanes > 0)
    return cfg.engine_lanes;
  if (cfg.scheduler_policy != "affine")
    return 1;
  return std::min(scheduler_threads(cfg), static_cast<int32_t>(max_lanes));
}

} // namespace orch
