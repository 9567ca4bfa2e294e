#include "runtime/ops.hpp"

#include <cmath>
#include <cstdio>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "bridges/nats_consumers.hpp"
#include "bridges/nats_link.hpp"
#include "bridges/nats_sink.hpp"
#include "messages/json_codec.hpp"

namespace orch {

// -- readiness ----------------------------------------------------------------

bool readiness_board::update(bool ready, const std::string& reason) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (ready == ready_ && reason == reason_)
    return false;
  ready_ = ready;
  reason_ = reason;
  return true;
}

std::pair<bool, std::string> readiness_board::get() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {ready_, reason_};
}

// -- Prometheus text ----------------------------------------------------------

void prometheus_text::family(const std::string& name, const std::string& type,
                             const std::string& help) {
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type
          + "\n";
}

void prometheus_text::sample(const std::string& name,
                             const std::map<std::string, std::string>& labels,
                             double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    bool first = true;
    for (auto& [k, v] : labels) {
      if (!first)
        out_ += ',';
      first = false;
      out_ += k + "=\"";
      for (auto c : v) {
        if (c == '\\' || c == '"')
          out_ += '\\';
        if (c == '\n') {
          out_ += "\\n";
          continue;
        }
        out_ += c;
      }
      out_ += '"';
    }
    out_ += '}';
  }
  char buf[64];
  if (std::floor(value) == value && std::fabs(value) < 1e15)
    std::snprintf(buf, sizeof(buf), " %.0f\n", value);
  else
    std::snprintf(buf, sizeof(buf), " %.6g\n", value);
  out_ += buf;
}

// -- what the actors say ------------------------------------------------------

namespace {

using std::chrono::seconds;

/// One question to an actor with a short limit; `fallback` when it does not
/// answer.
template<class T, class Handle, class... Ts>
T ask(caf::actor_system& sys, const Handle& h, T fallback, Ts... xs) {
  if (!h)
    return fallback;
  caf::scoped_actor self{sys};
  T out = std::move(fallback);
  self->request(h, seconds(2), xs...)
    .receive([&](T& x) { out = std::move(x); }, [](caf::error&) {});
  return out;
}

struct snapshot {
  orchestrator_stats stats;
  std::map<std::string, int64_t> counters;
  std::map<std::string, int64_t> queue;
  int32_t in_flight = 0;
  std::vector<council_info> councils;
  std::vector<std::string> llm_failing;
  std::map<std::string, int64_t> sink;
  std::map<std::string, int64_t> consumers;
  bool nats_connected = false;
  std::vector<node_info> nodes;
};

snapshot take(const ops_context& ctx) {
  auto& sys = *ctx.sys;
  snapshot s;
  s.stats = ask(sys, ctx.orchestrator, orchestrator_stats{}, atom::stats_v);
  s.counters = ask(sys, ctx.orchestrator, std::map<std::string, int64_t>{},
                   atom::stats_v, atom::get_v);
  s.queue = ask(sys, ctx.queue, std::map<std::string, int64_t>{},
                atom::counts_v);
  s.in_flight = ask(sys, ctx.dispatcher, int32_t{0}, atom::status_v);
  s.councils = ask(sys, ctx.orchestrator, std::vector<council_info>{},
                   atom::list_v);
  s.llm_failing = ask(sys, ctx.llm, std::vector<std::string>{},
                      atom::status_v);
  if (ctx.sink)
    s.sink = sink_counters(sys, ctx.sink);
  if (ctx.consumers)
    s.consumers = ctx.consumers->counters();
  if (ctx.link)
    s.nats_connected = health(*ctx.link).connected;
  if (ctx.placement)
    s.nodes = ask(sys, ctx.placement, std::vector<node_info>{}, atom::list_v);
  return s;
}

http_response json_response(int status, const nlohmann::json& doc) {
  return {status, "application/json", compact_json(doc)};
}

std::string metrics(const ops_context& ctx) {
  auto s = take(ctx);
  auto [ready, reason] = ctx.readiness->get();
  prometheus_text p;
  p.family("orchestrator_ready", "gauge",
           "1 when NATS, the task queue and the councils are ready.");
  p.sample("orchestrator_ready", ready ? 1 : 0);
  p.family("orchestrator_uptime_seconds", "gauge", "Seconds since start.");
  p.sample("orchestrator_uptime_seconds",
           std::chrono::duration<double>(std::chrono::steady_clock::now()
                                         - ctx.started)
             .count());
  p.family("orchestrator_deliberations_total", "counter",
           "Deliberations run, by role.");
  for (auto& [role, n] : s.stats.role_counts)
    p.sample("orchestrator_deliberations_total", {{"role", role}},
             static_cast<double>(n));
  p.family("orchestrator_deliberations_failed_total", "counter",
           "Deliberations that failed.");
  p.sample("orchestrator_deliberations_failed_total",
           static_cast<double>(s.stats.failed_deliberations));
  p.family("orchestrator_orchestrations_total", "counter",
           "Deliberations followed by the architect's selection.");
  p.sample("orchestrator_orchestrations_total",
           static_cast<double>(s.stats.total_orchestrations));
  p.family("orchestrator_deliberation_duration_seconds", "histogram",
           "Duration of successful deliberations.");
  for (auto& [key, n] : s.counters)
    if (key.rfind("duration_le ", 0) == 0) {
      auto le = key.substr(12);
      if (le != "+Inf")
        le = std::to_string(std::stod(le) / 1000.0);
      p.sample("orchestrator_deliberation_duration_seconds_bucket",
               {{"le", le}}, static_cast<double>(n));
    }
  auto counter = [&](const char* k) {
    auto i = s.counters.find(k);
    return i == s.counters.end() ? 0.0 : static_cast<double>(i->second);
  };
  p.sample("orchestrator_deliberation_duration_seconds_sum",
           counter("duration_sum_ms") / 1000.0);
  p.sample("orchestrator_deliberation_duration_seconds_count",
           counter("duration_count"));
  p.family("orchestrator_deliberation_duration_quantile_seconds", "gauge",
           "Duration quantiles of the recent deliberations.");
  for (auto [q, v] : {std::pair{"0.5", s.stats.p50_ms},
                      std::pair{"0.95", s.stats.p95_ms},
                      std::pair{"0.99", s.stats.p99_ms}})
    p.sample("orchestrator_deliberation_duration_quantile_seconds",
             {{"quantile", q}}, v / 1000.0);
  p.family("orchestrator_agent_calls_total", "counter",
           "Agents' answers in deliberations, by backend and outcome.");
  for (auto& [key, n] : s.counters)
    if (key.rfind("agent_calls ", 0) == 0) {
      auto rest = key.substr(12);
      auto sp = rest.find(' ');
      p.sample("orchestrator_agent_calls_total",
               {{"backend", rest.substr(0, sp)},
                {"outcome", rest.substr(sp + 1)}},
               static_cast<double>(n));
    }
  p.family("orchestrator_councils", "gauge", "Councils configured.");
  p.sample("orchestrator_councils", static_cast<double>(s.councils.size()));
  p.family("orchestrator_llm_calls_total", "counter", "Model calls.");
  p.sample("orchestrator_llm_calls_total",
           static_cast<double>(s.stats.usage.calls));
  p.family("orchestrator_llm_tokens_total", "counter",
           "Model tokens, by kind.");
  p.sample("orchestrator_llm_tokens_total", {{"kind", "prompt"}},
           static_cast<double>(s.stats.usage.prompt_tokens));
  p.sample("orchestrator_llm_tokens_total", {{"kind", "completion"}},
           static_cast<double>(s.stats.usage.completion_tokens));
  p.family("orchestrator_llm_retries_total", "counter",
           "HTTP retries and re-asks of model calls.");
  p.sample("orchestrator_llm_retries_total",
           static_cast<double>(s.stats.usage.retries));
  p.family("orchestrator_llm_circuits_open", "gauge",
           "LLM endpoints whose circuit is open.");
  p.sample("orchestrator_llm_circuits_open",
           static_cast<double>(s.llm_failing.size()));
  p.family("orchestrator_queue_tasks", "gauge", "Tasks in the queue, by state.");
  for (auto& [state, n] : s.queue)
    p.sample("orchestrator_queue_tasks", {{"state", state}},
             static_cast<double>(n));
  p.family("orchestrator_tasks_in_flight", "gauge",
           "Tasks this process deliberates right now.");
  p.sample("orchestrator_tasks_in_flight", s.in_flight);
  p.family("orchestrator_grpc_requests_total", "counter",
           "gRPC calls by method and status code.");
  if (ctx.grpc_counters)
    for (auto& [key, n] : ctx.grpc_counters()) {
      auto sp = key.find(' ');
      p.sample("orchestrator_grpc_requests_total",
               {{"method", key.substr(0, sp)}, {"code", key.substr(sp + 1)}},
               static_cast<double>(n));
    }
  p.family("orchestrator_nats_connected", "gauge", "1 when NATS is connected.");
  p.sample("orchestrator_nats_connected", s.nats_connected ? 1 : 0);
  p.family("orchestrator_nats_messages_received_total", "counter",
           "Messages consumed, by subject.");
  for (auto& [key, n] : s.consumers)
    if (auto sp = key.rfind(' ');
        sp != std::string::npos && key.substr(sp + 1) == "received")
      p.sample("orchestrator_nats_messages_received_total",
               {{"subject", key.substr(0, sp)}}, static_cast<double>(n));
  p.family("orchestrator_nats_messages_settled_total", "counter",
           "Consumed messages by subject and what became of them (ack, nak, "
           "term).");
  for (auto& [key, n] : s.consumers)
    if (auto sp = key.rfind(' ');
        sp != std::string::npos && key.substr(sp + 1) != "received")
      p.sample("orchestrator_nats_messages_settled_total",
               {{"subject", key.substr(0, sp)}, {"action", key.substr(sp + 1)}},
               static_cast<double>(n));
  p.family("orchestrator_nats_messages_published_total", "counter",
           "Events acknowledged by JetStream, by subject.");
  double dead = 0;
  for (auto& [key, n] : s.sink)
    if (key.rfind("published ", 0) == 0) {
      auto subj = key.substr(10);
      p.sample("orchestrator_nats_messages_published_total",
               {{"subject", subj}}, static_cast<double>(n));
      if (subj == "orchestration.dead_letter")
        dead = static_cast<double>(n);
    }
  p.family("orchestrator_dead_letters_total", "counter",
           "Messages published to orchestration.dead_letter.");
  p.sample("orchestrator_dead_letters_total", dead);
  auto get = [&](const char* k) {
    auto i = s.sink.find(k);
    return i == s.sink.end() ? 0.0 : static_cast<double>(i->second);
  };
  p.family("orchestrator_nats_publish_errors_total", "counter",
           "Publishes JetStream did not acknowledge (sent again).");
  p.sample("orchestrator_nats_publish_errors_total", get("publish_errors"));
  p.family("orchestrator_nats_events_dropped_total", "counter",
           "Best-effort events dropped while NATS was away.");
  p.sample("orchestrator_nats_events_dropped_total", get("dropped"));
  p.family("orchestrator_nats_publish_pending", "gauge",
           "Events waiting for their JetStream ack.");
  p.sample("orchestrator_nats_publish_pending", get("pending"));
  if (!s.nodes.empty()) {
    p.family("orchestrator_node_up", "gauge",
             "1 when the node is up (\"local\" is this process).");
    for (auto& n : s.nodes)
      p.sample("orchestrator_node_up", {{"node", n.name}},
               n.state == "up" ? 1 : 0);
    p.family("orchestrator_node_agents", "gauge", "Agents placed per node.");
    for (auto& n : s.nodes)
      p.sample("orchestrator_node_agents", {{"node", n.name}}, n.agents);
    p.family("orchestrator_node_scorers", "gauge", "Scorers placed per node.");
    for (auto& n : s.nodes)
      p.sample("orchestrator_node_scorers", {{"node", n.name}}, n.scorers);
    p.family("orchestrator_node_joins_total", "counter",
             "Times each node joined (an epoch each).");
    for (auto& n : s.nodes)
      if (n.name != "local")
        p.sample("orchestrator_node_joins_total", {{"node", n.name}}, n.epoch);
  }
  return p.str();
}

nlohmann::json status(const ops_context& ctx) {
  auto s = take(ctx);
  auto [ready, reason] = ctx.readiness->get();
  auto councils = nlohmann::json::array();
  for (auto& c : s.councils)
    councils.push_back(nlohmann::json::parse(to_json(c), nullptr, false));
  auto nodes = nlohmann::json::array();
  for (auto& n : s.nodes)
    nodes.push_back(nlohmann::json::parse(to_json(n), nullptr, false));
  return {{"service", "orchestrator"},
          {"version", ORCH_VERSION},
          {"worker", ctx.worker},
          {"ready", ready},
          {"reason", reason},
          {"uptime_s", std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - ctx.started)
                         .count()},
          {"nats", {{"url", redact_url(ctx.cfg.nats_url)},
                    {"connected", s.nats_connected}}},
          {"queue", {{"backend", ctx.cfg.redis_url.empty() ? "memory" : "redis"},
                     {"url", redact_url(ctx.cfg.redis_url)},
                     {"tasks", s.queue}}},
          {"tasks_in_flight", s.in_flight},
          {"councils", councils},
          {"llm_failing", s.llm_failing},
          {"stats", nlohmann::json::parse(to_json(s.stats), nullptr, false)},
          {"nats_consumers", s.consumers},
          {"nats_sink", s.sink},
          {"nodes", nodes}};
}

} // namespace

std::map<std::string, http_route> ops_routes(ops_context ctx) {
  auto c = std::make_shared<ops_context>(std::move(ctx));
  return {
    {"GET /healthz",
     [](const http_request&) {
       return json_response(200, {{"status", "alive"}});
     }},
    {"GET /readyz",
     [c](const http_request&) {
       auto [ready, reason] = c->readiness->get();
       if (ready)
         return json_response(200, {{"ready", true}});
       return json_response(503, {{"ready", false}, {"reason", reason}});
     }},
    {"GET /status",
     [c](const http_request&) { return json_response(200, status(*c)); }},
    {"GET /metrics",
     [c](const http_request&) {
       return http_response{200, "text/plain; version=0.0.4", metrics(*c)};
     }},
  };
}

} // namespace orch
