#include "runtime/submit.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bridges/nats_link.hpp"
#include "messages/events.hpp"
#include "runtime/plan_run.hpp"
#include "runtime/serve.hpp"
#include "runtime/text.hpp"

namespace orch {

namespace {

using json = nlohmann::json;

/// An envelope from the stream, decoded; null when it is not one.
json open_envelope(const inbound_event& ev) {
  json env;
  auto ct = ev.headers.find("Content-Type");
  if (ct != ev.headers.end() && ct->second.find("msgpack") != std::string::npos)
    env = json::from_msgpack(ev.data, true, false);
  else
    env = json::parse(ev.data, nullptr, false);
  if (!env.is_object() || !env.contains("payload")
      || !env["payload"].is_object())
    return nullptr;
  return env;
}

/// What --follow has seen of one plan.
struct follow_state {
  std::string plan_id;
  size_t total = 0;
  std::set<std::string> running;
  std::set<std::string> done;
  std::set<std::string> failed;
  /// task_id -> (winner, score, role)
  std::map<std::string, std::tuple<std::string, double, std::string>> winners;
  std::map<std::string, std::string> errors;
  bool tty = false;

  bool ours(const json& p) const {
    if (p.value("plan_id", "") == plan_id)
      return true;
    return p.value("task_id", "").rfind(plan_id + "/", 0) == 0;
  }

  void line(const std::string& what) const {
    if (tty)
      std::fprintf(stderr, "\r\033[K[%zu/%zu done, %zu running, %zu failed] %s",
                   done.size(), total, running.size(), failed.size(),
                   first_line(what, 60).c_str());
    else
      std::fprintf(stderr, "[%zu/%zu done, %zu running, %zu failed] %s\n",
                   done.size(), total, running.size(), failed.size(),
                   what.c_str());
    std::fflush(stderr);
  }
};

std::string plan_payload(const plan_input& plan) {
  json p{{"story_id", plan.story_id},
         {"plan_id", plan.plan_id},
         {"approved_by", plan.approved_by},
         {"timestamp", epoch_seconds()},
         {"roles", plan.roles},
         {"plan", plan.text}};
  return p.dump();
}

} // namespace

int run_submit(const config& cfg, const submit_options& opts) {
  // Check the plan here first: a bad plan is an error now, not a dead
  // letter later.
  auto loaded = load_plan_tasks(cfg, opts.plan_path);
  if (!loaded) {
    std::fprintf(stderr, "orchestrator: %s\n", render(loaded.error()).c_str());
    return 2;
  }
  auto plan = &loaded->first;
  auto tasks = &loaded->second;
  if (is_blank(plan->story_id))
    plan->story_id = "story-" + plan->plan_id;
  if (is_blank(plan->approved_by)) {
    auto user = std::getenv("USER");
    plan->approved_by = user && *user ? user : "orchestrator-cli";
  }
  auto link = nats_connect(nats_settings_of(cfg, false));
  if (!link) {
    std::fprintf(stderr, "orchestrator: %s\n", render(link.error()).c_str());
    return 1;
  }
  if (auto err = ensure_streams(**link)) {
    std::fprintf(stderr, "orchestrator: NATS at %s: %s\n",
                 redact_url(cfg.nats_url).c_str(), render(err).c_str());
    return 1;
  }
  std::unique_ptr<nats_follower> events;
  if (opts.follow) {
    auto f = follow(**link, "orchestration.>");
    if (!f) {
      std::fprintf(stderr, "orchestrator: %s\n", render(f.error()).c_str());
      return 1;
    }
    events = std::move(*f);
  }
  outbound_event ev;
  ev.subject = subject::plan_approved_in;
  ev.payload = plan_payload(*plan);
  ev.correlation_id = "submit-" + plan->plan_id + "-" + std::to_string(now_ms());
  ev.idempotency_key = ev.correlation_id;
  auto bytes = encode_envelope(ev, opts.msgpack);
  if (auto err = publish_sync(**link, ev.subject, bytes,
                              event_headers(ev, opts.msgpack))) {
    std::fprintf(stderr, "orchestrator: %s\n", render(err).c_str());
    return 1;
  }
  std::fprintf(stderr, "submitted plan %s (%zu tasks) to %s\n",
               plan->plan_id.c_str(), tasks->size(),
               redact_url(cfg.nats_url).c_str());
  if (!opts.follow)
    return 0;
  follow_state st;
  st.plan_id = plan->plan_id;
  st.total = tasks->size();
  st.tty = isatty(STDERR_FILENO) != 0;
  auto dead_key = "dead_letter:" + ev.subject + ":" + stable_hash(bytes);
  auto started = std::chrono::steady_clock::now();
  auto last_event = started;
  bool hinted = false;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (opts.timeout_seconds > 0
        && now - started > std::chrono::seconds(opts.timeout_seconds)) {
      if (st.tty)
        std::fputc('\n', stderr);
      std::fprintf(stderr,
                   "orchestrator: plan %s did not finish within %d s "
                   "(%zu of %zu tasks done)\n",
                   st.plan_id.c_str(), opts.timeout_seconds, st.done.size(),
                   st.total);
      return 1;
    }
    if (!hinted && now - last_event > std::chrono::seconds(15)) {
      hinted = true;
      std::fprintf(stderr,
                   "still waiting for plan %s: is `orchestrator serve` "
                   "running against %s?\n",
                   st.plan_id.c_str(), redact_url(cfg.nats_url).c_str());
    }
    auto msg = events->next(std::chrono::milliseconds(500));
    if (!msg)
      continue;
    auto env = open_envelope(*msg);
    if (env.is_null())
      continue;
    auto& p = env["payload"];
    auto s = msg->subject;
    if (s == subject::dead_letter
        && env.value("idempotency_key", "") == dead_key) {
      if (st.tty)
        std::fputc('\n', stderr);
      std::fprintf(stderr, "orchestrator: the service rejected plan %s: %s\n",
                   st.plan_id.c_str(), p.value("reason", "").c_str());
      return 2;
    }
    if (!st.ours(p))
      continue;
    last_event = now;
    if (opts.json)
      std::printf("%s\n", env.dump().c_str());
    auto id = p.value("task_id", "");
    if (s == subject::plan_approved) {
      if (p.contains("task_ids") && p["task_ids"].is_array())
        st.total = p["task_ids"].size();
      st.line("plan approved by the service");
    } else if (s == subject::task_dispatched) {
      st.running.insert(id);
      st.line("started " + id);
    } else if (s == subject::progress) {
      st.line(id + " " + p.value("current_step", "") + " "
              + p.value("current_agent", ""));
    } else if (s == subject::completed) {
      double score = 0;
      auto winner = p.value("winner_id", "");
      for (auto& d : p.value("decisions", json::array()))
        if (d.value("author_id", "") == winner)
          score = d.value("score", 0.0);
      st.winners[id] = {winner, score, p.value("role", "")};
    } else if (s == subject::task_completed) {
      st.running.erase(id);
      st.done.insert(id);
      st.line("completed " + id);
    } else if (s == subject::failed) {
      st.running.erase(id);
      st.errors[id] = p.value("error", "");
    } else if (s == subject::task_failed) {
      st.running.erase(id);
      st.failed.insert(id);
      st.errors[id] = p.value("error", "");
      st.line("failed " + id);
    } else if (s == subject::plan_completed) {
      if (st.tty)
        std::fputc('\n', stderr);
      auto status = p.value("status", "");
      if (!opts.json) {
        std::printf("%-28s  %-9s  %-10s  %-18s  %s\n", "task", "role",
                    "state", "winner", "score");
        for (auto& [tid, w] : st.winners)
          std::printf("%-28s  %-9s  %-10s  %-18s  %.3f\n", tid.c_str(),
                      std::get<2>(w).c_str(),
                      st.done.count(tid) ? "COMPLETED" : "?",
                      std::get<0>(w).c_str(), std::get<1>(w));
        for (auto& tid : st.failed)
          std::printf("%-28s  %-9s  %-10s  %s\n", tid.c_str(), "", "FAILED",
                      first_line(st.errors[tid], 60).c_str());
        auto counts = p.value("counts", json::object());
        std::printf("plan %s %s: %lld of %lld tasks completed\n",
                    st.plan_id.c_str(), status.c_str(),
                    static_cast<long long>(counts.value("COMPLETED", 0)),
                    static_cast<long long>(p.value("total", 0)));
      }
      return status == "completed" ? 0 : 1;
    }
  }
}

} // namespace orch
