// The deliberation worker of a COUNCIL.
//
// A worker drives the phases of one deliberation (generate, R rounds of
// critique and revision, scoring, ranking) as concurrent requests and
// answers the original requester directly (the council delegates to it), so
// that deliberations of one council run in parallel on all scheduler
// threads. A worker whose deliberation ended with every reply in goes back
// to the council's idle workers and takes the next request: in CAF 0.17
// every actor that ends wakes the clock thread (local_actor::cleanup cancels
// its timeouts), which cost more than a short deliberation itself.

#include "actors/deliberation.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/lanes.hpp"

namespace orch {

namespace {

/// What ranks a result: its score (high first), then its checks passed,
/// then its author id; `at` is where the result is.
struct rank_key {
  double score;
  int passed;
  const std::string* author;
  size_t at;
};

/// Sorts keys, not results: a result is a proposal and its checks, dozens
/// of strings, and a sort moves its elements many times over.
void sort_ranks(std::vector<rank_key>& keys) {
  std::sort(keys.begin(), keys.end(), [](const rank_key& a,
                                         const rank_key& b) {
    if (a.score != b.score)
      return a.score > b.score;
    if (a.passed != b.passed)
      return a.passed > b.passed;
    return *a.author < *b.author;
  });
}

} // namespace

void rank_results(std::vector<deliberation_result>& xs) {
  std::vector<rank_key> keys;
  keys.reserve(xs.size());
  for (size_t i = 0; i < xs.size(); ++i)
    keys.push_back(rank_key{xs[i].score, checks_passed(xs[i].checks),
                            &xs[i].proposal.author_id, i});
  sort_ranks(keys);
  size_t in_place = 0;
  while (in_place < keys.size() && keys[in_place].at == in_place)
    ++in_place;
  if (in_place < keys.size()) {
    std::vector<deliberation_result> ranked;
    ranked.reserve(xs.size());
    for (auto& k : keys)
      ranked.push_back(std::move(xs[k.at]));
    xs.swap(ranked);
  }
  for (size_t i = 0; i < xs.size(); ++i)
    xs[i].rank = static_cast<int32_t>(i + 1);
}

namespace {

/// What a deliberation worker tracks while it runs one deliberation; starts
/// from these defaults for every deliberation.
struct deliberation_run {
  std::chrono::steady_clock::time_point started;
  caf::typed_response_promise<deliberation_outcome> promise;
  std::vector<agent_failure> failures;
  /// Members dropped because their model endpoint was unavailable.
  size_t unavailable = 0;
  /// Model usage of every call so far.
  llm_usage usage;
  /// Replies still expected in the current phase.
  size_t pending = 0;
  /// Steps finished so far and in total, for progress percentages.
  int32_t steps_done = 0;
  int32_t steps_total = 1;
  int32_t round = 0;
  std::string phase = "generating";
  /// True between deliberations too.
  bool finished = true;
};

struct deliberation_state : deliberation_job, deliberation_run {
  static inline const char* name = "deliberation";

  /// Scratch of start_critique (kept to keep its memory).
  std::vector<size_t> ring;

  /// Takes the next deliberation.
  void start(deliberation_job&& job) {
    static_cast<deliberation_job&>(*this) = std::move(job);
    static_cast<deliberation_run&>(*this) = deliberation_run{};
    started = std::chrono::steady_clock::now();
    finished = false;
  }

  size_t alive_count() const {
    return static_cast<size_t>(
      std::count_if(members.begin(), members.end(),
                    [](const deliberation_member& m) { return m.alive; }));
  }
};

using deliberation_ptr
  = deliberation_actor::stateful_pointer<deliberation_state>;

void start_generate(deliberation_ptr self);
void start_critique(deliberation_ptr self);
void start_revise(deliberation_ptr self);
void start_scoring(deliberation_ptr self);

int64_t elapsed_ms(const deliberation_state& st) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now() - st.started).count();
}

void notify(deliberation_ptr self, const std::string& agent_id) {
  auto& st = self->state;
  if (!st.listener)
    return;
  deliberation_update up;
  up.task_id = st.task->task_id;
  up.execution_id = st.execution_id;
  up.status = st.phase;
  up.progress_percent
    = st.phase == "complete"
        ? 100
        : std::min(99, st.steps_done * 100 / std::max(1, st.steps_total));
  up.current_step = st.phase;
  if (st.round > 0 && (st.phase == "reviewing" || st.phase == "revising")) {
    up.current_step += " round ";
    up.current_step += std::to_string(st.round);
  }
  up.current_agent = agent_id;
  up.round = st.round;
  self->send(st.listener, std::move(up));
}

/// Ends the deliberation and tells the council. The worker stays for the
/// next one when no reply of this one can still arrive (its handlers would
/// run on the next one's state); otherwise it quits.
void conclude(deliberation_ptr self) {
  auto& st = self->state;
  st.finished = true;
  // A monitor stays attached to the listener until it is removed.
  if (st.listener)
    self->demonitor(st.listener.address());
  auto reusable = st.pending == 0;
  if (st.council)
    self->send(st.council, atom::done_v, st.execution, reusable);
  // Nothing of this deliberation is kept while the worker waits.
  st.task = task_ref{};
  st.listener = nullptr;
  st.members.clear();
  st.scorers.clear();
  st.council = nullptr;
  if (!reusable)
    self->quit();
}

void fail(deliberation_ptr self, caf::error err) {
  auto& st = self->state;
  if (st.finished)
    return;
  st.promise.deliver(std::move(err));
  conclude(self);
}

std::string failure_summary(const deliberation_state& st) {
  std::string out;
  for (auto& f : st.failures) {
    out += "; ";
    out += f.agent_id;
    out += ' ';
    out += f.phase;
    out += ": ";
    out += f.reason;
  }
  return out;
}

void drop(deliberation_ptr self, size_t i, const char* phase,
          const caf::error& err) {
  auto& st = self->state;
  auto& m = st.members[i];
  if (!m.alive)
    return;
  m.alive = false;
  st.unavailable += code_of(err) == ec::unavailable;
  auto reason
    = code_of(err) == ec::timeout
        ? std::string{"timed out"}
            + (st.task->constraints.timeout_seconds > 0
                 ? " after "
                     + std::to_string(st.task->constraints.timeout_seconds)
                     + " s"
                 : std::string{})
        : render(err);
  st.failures.push_back(agent_failure{m.agent_id, phase, reason});
}

/// Called after every reply of a phase; starts the next phase when the last
/// one arrived.
void step_done(deliberation_ptr self, const std::string& agent_id,
               void (*next)(deliberation_ptr)) {
  auto& st = self->state;
  ++st.steps_done;
  notify(self, agent_id);
  if (--st.pending > 0)
    return;
  if (st.alive_count() < static_cast<size_t>(st.quorum)) {
    // When every member lost was lost to an unavailable endpoint, so is the
    // deliberation: its task waits for the endpoint instead of failing.
    auto lost = st.members.size() - st.alive_count();
    fail(self, caf::make_error(st.unavailable == lost ? ec::unavailable
                                                      : ec::quorum_not_reached,
                               std::to_string(st.alive_count()) + " of "
                                 + std::to_string(st.members.size())
                                 + " proposals survived " + st.phase
                                 + " (quorum " + std::to_string(st.quorum) + ")"
                                 + failure_summary(st)));
    return;
  }
  next(self);
}

/// Member i answered its generate or revise request with `p`.
void took_proposal(deliberation_ptr self, size_t i, proposal& p,
                   void (*next)(deliberation_ptr)) {
  auto& st = self->state;
  add_usage(st.usage, p.usage);
  auto& m = st.members[i];
  m.current = proposal_ref{std::move(p)};
  step_done(self, m.agent_id, next);
}

/// Member i's request of `phase` failed: the member leaves.
void call_failed(deliberation_ptr self, size_t i, const char* phase,
                 const caf::error& err, void (*next)(deliberation_ptr)) {
  drop(self, i, phase, err);
  step_done(self, self->state.members[i].agent_id, next);
}

void after_generate(deliberation_ptr self) {
  auto& st = self->state;
  if (st.rounds > 0 && st.alive_count() >= 2) {
    st.round = 1;
    start_critique(self);
  } else {
    start_scoring(self);
  }
}

void start_generate(deliberation_ptr self) {
  auto& st = self->state;
  st.phase = "generating";
  notify(self, "");
  st.pending = st.members.size();
  for (size_t i = 0; i < st.members.size(); ++i) {
    self
      ->request(st.members[i].handle, st.call_timeout, atom::generate_v,
                st.task)
      .then(
        [=](proposal& p) { took_proposal(self, i, p, after_generate); },
        [=](caf::error& err) {
          call_failed(self, i, "generate", err, after_generate);
        });
  }
}

void start_critique(deliberation_ptr self) {
  auto& st = self->state;
  st.phase = "reviewing";
  notify(self, "");
  // The ring over the agents still alive: critic k reviews k + 1 (mod n).
  auto& ring = st.ring;
  ring.clear();
  for (size_t i = 0; i < st.members.size(); ++i) {
    st.members[i].feedback.clear();
    if (st.members[i].alive)
      ring.push_back(i);
  }
  st.pending = ring.size();
  for (size_t k = 0; k < ring.size(); ++k) {
    auto critic = ring[k];
    auto target = ring[(k + 1) % ring.size()];
    self
      ->request(st.members[critic].handle, st.call_timeout, atom::critique_v,
                st.task, st.members[target].current, st.round)
      .then(
        [=](critique& c) {
          auto& s = self->state;
          add_usage(s.usage, c.usage);
          s.members[target].feedback.push_back(std::move(c));
          step_done(self, s.members[critic].agent_id, start_revise);
        },
        [=](caf::error& err) {
          call_failed(self, critic, "critique", err, start_revise);
        });
  }
}

void after_revise(deliberation_ptr self) {
  auto& st = self->state;
  if (st.round < st.rounds && st.alive_count() >= 2) {
    ++st.round;
    start_critique(self);
  } else {
    start_scoring(self);
  }
}

void start_revise(deliberation_ptr self) {
  auto& st = self->state;
  st.phase = "revising";
  notify(self, "");
  st.pending = st.alive_count();
  for (size_t i = 0; i < st.members.size(); ++i) {
    auto& m = st.members[i];
    if (!m.alive)
      continue;
    // The proposal and its feedback go with the request: the revision
    // replaces them, and a member whose revision fails is dropped.
    self
      ->request(m.handle, st.call_timeout, atom::revise_v, st.task,
                std::move(m.current), std::move(m.feedback))
      .then(
        [=](proposal& p) { took_proposal(self, i, p, after_revise); },
        [=](caf::error& err) {
          call_failed(self, i, "revise", err, after_revise);
        });
  }
}

void finish(deliberation_ptr self) {
  auto& st = self->state;
  st.phase = "complete";
  deliberation_outcome out;
  out.task_id = st.task->task_id;
  out.execution_id = st.execution_id;
  out.role = st.task->role;
  out.story_id = st.task->story_id;
  out.plan_id = st.task->plan_id;
  // The results are made in rank order (ranked after, each would move once
  // more), as rank_results orders them.
  std::vector<rank_key> keys;
  keys.reserve(st.members.size());
  for (size_t i = 0; i < st.members.size(); ++i) {
    auto& m = st.members[i];
    if (m.alive)
      keys.push_back(rank_key{m.checks.score, checks_passed(m.checks),
                              &m.current->author_id, i});
  }
  sort_ranks(keys);
  out.results.resize(keys.size());
  for (size_t k = 0; k < keys.size(); ++k) {
    auto& m = st.members[keys[k].at];
    auto& r = out.results[k];
    r.proposal = m.current.take();
    r.checks = std::move(m.checks);
    r.score = r.checks.score;
    r.rank = static_cast<int32_t>(k + 1);
  }
  out.winner_id = out.results.front().proposal.author_id;
  out.duration_ms = elapsed_ms(st);
  out.status = "completed";
  out.failed_agents = std::move(st.failures);
  out.usage = st.usage;
  notify(self, out.winner_id);
  st.promise.deliver(std::move(out));
  conclude(self);
}

void start_scoring(deliberation_ptr self) {
  auto& st = self->state;
  st.phase = "scoring";
  notify(self, "");
  st.pending = st.alive_count();
  if (st.scorers.empty()) {
    fail(self, caf::make_error(ec::internal, "council has no scorer"));
    return;
  }
  // One request for all proposals, to the council's scorers in turn by
  // deliberation (two messages per deliberation instead of two per
  // proposal; deliberations in flight keep every scorer busy).
  std::vector<size_t> scored;
  std::vector<proposal_ref> props;
  scored.reserve(st.members.size());
  props.reserve(st.members.size());
  for (size_t i = 0; i < st.members.size(); ++i)
    if (st.members[i].alive) {
      scored.push_back(i);
      props.push_back(st.members[i].current);
    }
  auto& scorer = st.scorers[st.execution % st.scorers.size()];
  self->request(scorer, caf::infinite, atom::score_v, std::move(props), st.task)
    .then(
      [=](std::vector<check_suite>& suites) {
        for (size_t k = 0; k < scored.size(); ++k) {
          auto i = scored[k];
          if (k < suites.size())
            self->state.members[i].checks = std::move(suites[k]);
          else
            drop(self, i, "score",
                 caf::make_error(ec::internal, "the scorer answered "
                                                 + std::to_string(suites.size())
                                                 + " suites for "
                                                 + std::to_string(scored.size())
                                                 + " proposals"));
          step_done(self, self->state.members[i].agent_id, finish);
        }
      },
      [=](caf::error& err) {
        for (auto i : scored) {
          drop(self, i, "score", err);
          step_done(self, self->state.members[i].agent_id, finish);
        }
      });
}

deliberation_actor::behavior_type deliberation(deliberation_ptr self) {
  // The listener stands for the requester (a gRPC call, the DISPATCHER): when
  // it goes away, nobody waits for the outcome and no further agent call
  // starts. Calls in flight end by their own limits; their replies are
  // dropped with this worker (it does not take another deliberation).
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.finished || !st.listener || msg.source != st.listener.address())
      return;
    st.listener = nullptr;
    fail(self, caf::make_error(ec::cancelled,
                               "deliberation of task " + st.task->task_id
                                 + " cancelled while " + st.phase
                                 + ": its requester went away"));
  });
  return {
    [=](atom::run,
        deliberation_job_ptr& job) -> caf::result<deliberation_outcome> {
      auto& st = self->state;
      st.start(std::move(*job));
      job.reset();
      if (st.listener)
        self->monitor(st.listener);
      st.promise = self->make_response_promise<deliberation_outcome>();
      int32_t calls = static_cast<int32_t>(st.members.size());
      st.steps_total = calls * (2 + 2 * std::max(0, st.rounds));
      if (st.members.size() < static_cast<size_t>(std::max(1, st.quorum))) {
        auto rp = st.promise;
        fail(self, caf::make_error(
                     ec::quorum_not_reached,
                     "council " + council_id_for(st.task->role) + " has "
                       + std::to_string(st.members.size())
                       + " agent(s), quorum is " + std::to_string(st.quorum)));
        return rp;
      }
      start_generate(self);
      return st.promise;
    },
    [=](atom::expire, uint64_t execution) {
      auto& st = self->state;
      if (st.finished || execution != st.execution)
        return;
      fail(self,
           caf::make_error(ec::timeout,
                           "deliberation of task " + st.task->task_id
                             + " exceeded its limit of "
                             + std::to_string(st.limit.count()) + " ms while "
                             + st.phase + failure_summary(st)));
    },
  };
}

} // namespace

deliberation_actor spawn_deliberation(caf::actor_system& sys, lane in) {
  return spawn_in_lane(sys, in, deliberation);
}

} // namespace orch
