// ORCHESTRATOR: the council registry, deliberate and orchestrate, stats and
// the result store (by task id, expiring after the clean-up age).

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

#include "actors/actors.hpp"
#include "actors/lanes.hpp"

namespace orch {

namespace {

struct council_entry {
  council_actor handle;
  council_info info;
  int next_agent = 1;
};

struct stored_outcome {
  /// Holds one deliberation_outcome: the same message that answered the
  /// request, shared instead of copied.
  caf::message outcome;
  /// When it was stored (us since the epoch: outcomes of several lanes are
  /// merged by it) and its number among everything stored here.
  int64_t stored_at_us = 0;
  uint64_t seq = 0;

  const deliberation_outcome& get() const {
    return outcome.get_as<deliberation_outcome>(0);
  }
};

/// An entry of the store's order: which task, when, which store of it.
struct stored_entry {
  std::string task_id;
  int64_t stored_at_us = 0;
  uint64_t seq = 0;
};

/// Microseconds since the epoch.
int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// Durations of the most recent deliberations, for percentiles.
class duration_window {
public:
  static constexpr size_t capacity = 8192;

  void add(int64_t ms) {
    if (xs_.size() < capacity)
      xs_.push_back(ms);
    else
      xs_[next_] = ms;
    next_ = (next_ + 1) % capacity;
  }

  /// Percentile `p` in [0, 100] by nearest rank.
  double percentile(double p) const {
    return percentile_of(xs_, p);
  }

  /// The durations held, in no particular order.
  const std::vector<int64_t>& recent() const {
    return xs_;
  }

private:
  std::vector<int64_t> xs_;
  size_t next_ = 0;
};

struct orchestrator_state {
  static inline const char* name = "orchestrator";

  orchestrator_settings settings;
  std::map<std::string, council_entry> councils;
  std::unordered_map<std::string, stored_outcome> results;
  /// Task ids in the order they were stored, for expiry; an entry whose
  /// task was stored again since matches its result no more.
  std::deque<stored_entry> result_order;
  uint64_t stored = 0;
  int64_t deliberations = 0;
  int64_t orchestrations = 0;
  int64_t failures = 0;
  int64_t duration_sum = 0;
  /// Numbers the ids of tasks that come without one (apart per lane).
  lane_counter generated_ids;
  duration_window durations;
  std::map<std::string, int64_t> role_counts;
  llm_usage usage;

  /// Keeps `out`, a message holding one deliberation_outcome.
  void store(caf::message out) {
    auto now = now_us();
    auto id = out.get_as<deliberation_outcome>(0).task_id;
    auto [i, added] = results.try_emplace(id);
    i->second.outcome = std::move(out);
    i->second.stored_at_us = now;
    i->second.seq = ++stored;
    result_order.push_back(stored_entry{std::move(id), now, stored});
    if (added || result_order.size() > 2 * settings.max_stored_results)
      trim();
  }

  /// Drops results beyond the size bound and entries of the queue that no
  /// longer match a stored result.
  void trim() {
    while (!result_order.empty()
           && (results.size() > settings.max_stored_results
               || result_order.size() > 2 * settings.max_stored_results)) {
      drop_front();
    }
  }

  void drop_front() {
    auto& e = result_order.front();
    auto i = results.find(e.task_id);
    if (i != results.end() && i->second.seq == e.seq)
      results.erase(i);
    result_order.pop_front();
  }

  /// Adds a stored outcome with its time.
  void collect(const stored_outcome& x, stored_outcomes& out) const {
    out.outcomes.push_back(x.get());
    out.stored_at_us.push_back(x.stored_at_us);
  }

  /// The stored outcomes of a story, oldest first.
  stored_outcomes of_story(const std::string& story_id) const {
    stored_outcomes out;
    for (auto& e : result_order) {
      auto i = results.find(e.task_id);
      if (i != results.end() && i->second.seq == e.seq
          && i->second.get().story_id == story_id)
        collect(i->second, out);
    }
    return out;
  }

  void expire(int64_t now_us) {
    auto limit = std::chrono::duration_cast<std::chrono::microseconds>(
                   settings.cleanup_after)
                   .count();
    while (!result_order.empty()
           && now_us - result_order.front().stored_at_us >= limit)
      drop_front();
  }

  /// Upper bounds (ms) of the duration histogram.
  static constexpr std::array<int64_t, 14> bounds{
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
  /// Deliberations per bucket (the last one is +Inf).
  std::array<int64_t, bounds.size() + 1> buckets{};
  /// Agent calls by backend: succeeded, failed.
  std::map<std::string, std::array<int64_t, 2>, std::less<>> agent_calls;

  void record(const deliberation_outcome& out) {
    ++deliberations;
    duration_sum += out.duration_ms;
    durations.add(out.duration_ms);
    ++role_counts[out.role];
    add_usage(usage, out.usage);
    auto b = std::lower_bound(bounds.begin(), bounds.end(), out.duration_ms)
             - bounds.begin();
    ++buckets[static_cast<size_t>(b)];
    static const std::string unknown = "unknown";
    auto i = councils.find(out.role);
    auto& backend = i != councils.end() ? i->second.info.agent_type : unknown;
    auto j = agent_calls.find(backend);
    if (j == agent_calls.end())
      j = agent_calls.emplace(backend, std::array<int64_t, 2>{}).first;
    j->second[0] += static_cast<int64_t>(out.results.size());
    j->second[1] += static_cast<int64_t>(out.failed_agents.size());
  }

  std::map<std::string, int64_t> counters() const {
    std::map<std::string, int64_t> out;
    int64_t cum = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      cum += buckets[i];
      out["duration_le " + std::to_string(bounds[i])] = cum;
    }
    cum += buckets[bounds.size()];
    out["duration_le +Inf"] = cum;
    out["duration_count"] = cum;
    out["duration_sum_ms"] = duration_sum;
    for (auto& [backend, n] : agent_calls) {
      out["agent_calls " + backend + " ok"] = n[0];
      out["agent_calls " + backend + " failed"] = n[1];
    }
    return out;
  }
};

using orchestrator_ptr
  = orchestrator_actor::stateful_pointer<orchestrator_state>;

/// Checks a task and normalizes its role; finds its council.
caf::expected<council_actor> prepare(orchestrator_ptr self, task_spec& task) {
  auto& st = self->state;
  if (is_blank(task.description))
    return caf::make_error(ec::invalid_argument,
                           "task description must not be blank");
  if (is_blank(task.role))
    return caf::make_error(ec::invalid_argument, "task role must not be blank");
  task.role = normalize_role(task.role);
  if (is_blank(task.task_id))
    task.task_id = "task-" + std::to_string(st.generated_ids.next());
  if (task.constraints.k < 0)
    return caf::make_error(ec::invalid_argument,
                           "constraints.k must not be negative");
  if (task.constraints.timeout_seconds < 0)
    return caf::make_error(ec::invalid_argument,
                           "constraints.timeout_seconds must not be negative");
  if (task.constraints.limit_ms < 0)
    return caf::make_error(ec::invalid_argument,
                           "constraints.limit_ms must not be negative");
  auto i = st.councils.find(task.role);
  if (i == st.councils.end())
    return caf::make_error(ec::not_found, "no council for role " + task.role
                                            + " (create it first)");
  return i->second.handle;
}

deliberation_outcome failed_outcome(const task_spec& task,
                                    const caf::error& err) {
  deliberation_outcome out;
  out.task_id = task.task_id;
  out.role = task.role;
  out.story_id = task.story_id;
  out.plan_id = task.plan_id;
  out.status = code_of(err) == ec::timeout ? "timeout" : "failed";
  out.error = render(err);
  return out;
}

/// Stores `out` for look-ups and answers `rp` with it: one message for both.
void deliver_stored(orchestrator_ptr self, deliberation_outcome&& out,
                    caf::typed_response_promise<deliberation_outcome>& rp) {
  auto msg = caf::make_message(std::move(out));
  self->state.store(msg);
  static_cast<caf::response_promise&>(rp).deliver(std::move(msg));
}

/// Runs one deliberation; `then` gets the outcome when it succeeded. The
/// task goes to the council shared: the reply handlers keep it only to name
/// the task in a failed outcome.
template<class OnOutcome>
caf::typed_response_promise<deliberation_outcome>
run_deliberation(orchestrator_ptr self, council_actor council, task_ref task,
                 progress_listener_actor listener, OnOutcome then) {
  auto rp = self->make_response_promise<deliberation_outcome>();
  self
    ->request(council, caf::infinite, atom::deliberate_v, task,
              std::move(listener))
    .then(
      [=](deliberation_outcome& out) mutable {
        self->state.record(out);
        spdlog::debug("orchestrator completed deliberation task_id={} "
                      "execution_id={} role={} winner={} duration_ms={} "
                      "dropped={}",
                      out.task_id, out.execution_id, out.role, out.winner_id,
                      out.duration_ms, out.failed_agents.size());
        then(out, rp);
      },
      [=](caf::error& err) mutable {
        auto& st = self->state;
        spdlog::warn("orchestrator failed deliberation task_id={} role={}: {}",
                     task->task_id, task->role, render(err));
        ++st.failures;
        st.store(caf::make_message(failed_outcome(*task, err)));
        rp.deliver(std::move(err));
      });
  return rp;
}

caf::expected<std::vector<std::pair<agent_spec, agent_actor>>>
make_agents(orchestrator_ptr self, const std::string& role,
            const std::string& backend, int first, int count,
            const std::map<std::string, std::string>& params) {
  auto& st = self->state;
  std::vector<std::pair<agent_spec, agent_actor>> out;
  for (int i = 0; i < count; ++i) {
    agent_spec spec;
    spec.agent_id = agent_id_for(role, first + i);
    spec.role = role;
    spec.backend = backend;
    spec.index = first + i - 1;
    spec.diversity_seed = static_cast<uint64_t>(first + i) * 7919u;
    spec.params = params;
    auto hdl = st.settings.make_agent(self->system(), spec);
    if (!hdl) {
      for (auto& a : out)
        self->send_exit(a.second, caf::exit_reason::user_shutdown);
      return std::move(hdl.error());
    }
    out.emplace_back(std::move(spec), std::move(*hdl));
  }
  return out;
}

/// How often the result store looks for expired entries.
std::chrono::milliseconds cleanup_tick(const orchestrator_settings& s) {
  using std::chrono::milliseconds;
  return std::clamp(s.cleanup_after / 2, milliseconds{100},
                    milliseconds{30'000});
}

orchestrator_actor::behavior_type orchestrator(orchestrator_ptr self,
                                               orchestrator_settings settings) {
  self->state.settings = std::move(settings);
  self->state.generated_ids = lane_counter{self->state.settings.home};
  if (self->state.settings.cleanup_timer)
    self->delayed_send(self, cleanup_tick(self->state.settings),
                       atom::expire_v);
  self->set_exit_handler([=](caf::exit_msg& msg) {
    for (auto& [role, c] : self->state.councils)
      self->send_exit(c.handle, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](atom::deliberate, task_spec& task, progress_listener_actor& listener)
      -> caf::result<deliberation_outcome> {
      auto council = prepare(self, task);
      if (!council)
        return std::move(council.error());
      return run_deliberation(self, *council, task_ref{std::move(task)},
                              std::move(listener),
                              [=](deliberation_outcome& out, auto& rp) {
                                deliver_stored(self, std::move(out), rp);
                              });
    },
    [=](atom::orchestrate, task_spec& task, progress_listener_actor& listener)
      -> caf::result<deliberation_outcome> {
      auto council = prepare(self, task);
      if (!council)
        return std::move(council.error());
      auto shared_task = task_ref{std::move(task)};
      return run_deliberation(
        self, *council, shared_task, listener,
        [=](deliberation_outcome& out, auto& rp) {
          auto& st = self->state;
          if (listener) {
            deliberation_update up;
            up.task_id = out.task_id;
            up.execution_id = out.execution_id;
            up.status = "selecting";
            up.progress_percent = 99;
            up.current_step = "architect selection";
            self->send(listener, up);
          }
          self
            ->request(st.settings.architect, caf::infinite, atom::select_v,
                      out.results, shared_task->constraints)
            .then(
              [=, out = std::move(out)](selection& sel) mutable {
                auto& st = self->state;
                ++st.orchestrations;
                out.winner_id = sel.winner_id;
                out.rationale = sel.rationale;
                deliver_stored(self, std::move(out), rp);
              },
              [=](caf::error& err) mutable {
                ++self->state.failures;
                rp.deliver(std::move(err));
              });
        });
    },
    [=](atom::create, council_config& cfg) -> caf::result<council_info> {
      auto& st = self->state;
      auto role = normalize_role(cfg.role);
      if (role.empty())
        return caf::make_error(ec::invalid_argument,
                               "council role must not be blank");
      if (cfg.num_agents < 1 || cfg.num_agents > 256)
        return caf::make_error(ec::invalid_argument,
                               "num_agents must be between 1 and 256, got "
                                 + std::to_string(cfg.num_agents));
      if (cfg.rounds < 0)
        return caf::make_error(ec::invalid_argument,
                               "rounds must not be negative");
      if (st.councils.count(role) > 0)
        return caf::make_error(ec::already_exists, "council "
                                                     + council_id_for(role)
                                                     + " already exists");
      auto backend = cfg.agent_type.empty() ? st.settings.agent_type
                                            : cfg.agent_type;
      auto agents = make_agents(self, role, backend, 1, cfg.num_agents,
                                cfg.custom_params);
      if (!agents)
        return std::move(agents.error());
      council_settings cs;
      cs.role = role;
      cs.agent_type = backend;
      cs.rounds = cfg.rounds;
      cs.quorum = st.settings.quorum;
      cs.deliberation_timeout = st.settings.deliberation_timeout;
      cs.scorers = st.settings.scorers;
      council_entry entry;
      entry.info.council_id = council_id_for(role);
      entry.info.role = role;
      entry.info.agent_type = backend;
      entry.info.rounds = cfg.rounds;
      for (auto& a : *agents)
        entry.info.agent_ids.push_back(a.first.agent_id);
      entry.next_agent = cfg.num_agents + 1;
      cs.home = st.settings.home;
      entry.handle = spawn_council(self->system(), std::move(cs),
                                   std::move(*agents));
      auto info = entry.info;
      st.councils.emplace(role, std::move(entry));
      spdlog::debug("orchestrator created council {} with {} {} agents",
                    info.council_id, info.agent_ids.size(), backend);
      return info;
    },
    [=](atom::list) -> caf::result<std::vector<council_info>> {
      std::vector<council_info> out;
      for (auto& [role, c] : self->state.councils)
        out.push_back(c.info);
      return out;
    },
    [=](atom::remove, const std::string& role) -> caf::result<council_info> {
      auto& st = self->state;
      auto i = st.councils.find(normalize_role(role));
      if (i == st.councils.end())
        return caf::make_error(ec::not_found,
                               "no council for role " + normalize_role(role));
      auto info = i->second.info;
      self->send_exit(i->second.handle, caf::exit_reason::user_shutdown);
      st.councils.erase(i);
      spdlog::info("orchestrator deleted council {}", info.council_id);
      return info;
    },
    [=](atom::add, agent_spec& spec) -> caf::result<council_info> {
      auto& st = self->state;
      auto role = normalize_role(spec.role);
      auto i = st.councils.find(role);
      if (i == st.councils.end())
        return caf::make_error(ec::not_found, "no council for role " + role
                                                + " (create it first)");
      auto& entry = i->second;
      if (spec.agent_id.empty()) {
        spec.agent_id = agent_id_for(role, entry.next_agent);
      }
      auto& ids = entry.info.agent_ids;
      if (std::find(ids.begin(), ids.end(), spec.agent_id) != ids.end())
        return caf::make_error(ec::already_exists, "agent " + spec.agent_id
                                                     + " is already in "
                                                     + entry.info.council_id);
      spec.role = role;
      if (spec.backend.empty())
        spec.backend = entry.info.agent_type;
      spec.index = entry.next_agent - 1;
      spec.diversity_seed = static_cast<uint64_t>(entry.next_agent) * 7919u;
      ++entry.next_agent;
      auto hdl = st.settings.make_agent(self->system(), spec);
      if (!hdl)
        return std::move(hdl.error());
      auto rp = self->make_response_promise<council_info>();
      self
        ->request(entry.handle, caf::infinite, atom::add_v, spec,
                  std::move(*hdl))
        .then(
          [=](council_info& info) mutable {
            auto i = self->state.councils.find(role);
            if (i != self->state.councils.end())
              i->second.info = info;
            rp.deliver(std::move(info));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](atom::remove, const std::string& role,
        const std::string& agent_id) -> caf::result<council_info> {
      auto& st = self->state;
      auto r = normalize_role(role);
      auto i = st.councils.find(r);
      if (i == st.councils.end())
        return caf::make_error(ec::not_found, "no council for role " + r);
      auto rp = self->make_response_promise<council_info>();
      self->request(i->second.handle, caf::infinite, atom::remove_v, agent_id)
        .then(
          [=](council_info& info) mutable {
            auto i = self->state.councils.find(r);
            if (i != self->state.councils.end())
              i->second.info = info;
            rp.deliver(std::move(info));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](atom::stats) -> caf::result<orchestrator_stats> {
      auto& st = self->state;
      orchestrator_stats out;
      out.total_deliberations = st.deliberations;
      out.total_orchestrations = st.orchestrations;
      out.failed_deliberations = st.failures;
      out.avg_ms = st.deliberations > 0
                     ? static_cast<double>(st.duration_sum) / st.deliberations
                     : 0.0;
      out.p50_ms = st.durations.percentile(50);
      out.p95_ms = st.durations.percentile(95);
      out.p99_ms = st.durations.percentile(99);
      out.active_councils = static_cast<int64_t>(st.councils.size());
      out.role_counts = st.role_counts;
      out.usage = st.usage;
      return out;
    },
    [=](atom::stats, atom::get) -> caf::result<std::map<std::string, int64_t>> {
      return self->state.counters();
    },
    [=](atom::result,
        const std::string& task_id) -> caf::result<deliberation_outcome> {
      auto& st = self->state;
      auto i = st.results.find(task_id);
      if (i == st.results.end())
        return caf::make_error(ec::not_found,
                               "no deliberation result for task " + task_id);
      return i->second.get();
    },
    [=](atom::list, const std::string& story_id)
      -> caf::result<std::vector<deliberation_outcome>> {
      return std::move(self->state.of_story(story_id).outcomes);
    },
    [=](atom::result, const std::string& task_id,
        atom::get) -> caf::result<stored_outcomes> {
      auto& st = self->state;
      stored_outcomes out;
      auto i = st.results.find(task_id);
      if (i != st.results.end())
        st.collect(i->second, out);
      return out;
    },
    [=](atom::list, const std::string& story_id,
        atom::get) -> caf::result<stored_outcomes> {
      return self->state.of_story(story_id);
    },
    [=](atom::stats, atom::list) -> caf::result<std::vector<int64_t>> {
      return self->state.durations.recent();
    },
    [=](atom::expire) {
      auto& st = self->state;
      st.expire(now_us());
      if (st.settings.cleanup_timer)
        self->delayed_send(self, cleanup_tick(st.settings), atom::expire_v);
    },
  };
}

} // namespace

orchestrator_actor spawn_orchestrator(caf::actor_system& sys,
                                      orchestrator_settings settings) {
  auto home = settings.home;
  return spawn_in_lane(sys, home, orchestrator, std::move(settings));
}

} // namespace orch
