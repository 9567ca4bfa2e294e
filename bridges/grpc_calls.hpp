#pragma once

// The parts of the gRPC bridge's calls: status codes for our errors, the
// proto's messages from and to ours, call counting, cancellation, the unary
// and streaming reactors, and task context. Internal to the gRPC bridge (it
// includes the generated code): only bridges/grpc_server.cpp includes it.

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/duration.hpp>
#include <caf/send.hpp>
#include <grpcpp/grpcpp.h>

#include "actors/actors.hpp"
#include "bridges/grpc_requests.hpp"
#include "fleet_orchestrator_v1.grpc.pb.h"

namespace orch::grpc_calls {

namespace pb = fleet::orchestrator::v1;
using grpc_requests::backend_of;
using grpc::Status;
using grpc::StatusCode;

// -- errors -------------------------------------------------------------------

Status to_status(const caf::error& err);

Status invalid(const std::string& text);

// -- messages -----------------------------------------------------------------

void fill(pb::DeliberationResult* out, const deliberation_result& r);

void fill(pb::OrchestratorMetadata* m, const std::string& execution_id);

/// The result of task `id` from the result store (which keeps failures
/// too: status "timeout" or "failed").
void fill(pb::GetDeliberationResultResponse* resp, const std::string& id,
          const deliberation_outcome& out);

/// The result of task `id` not in the result store, by its state in the
/// TASK QUEUE (pending, in progress, completed or failed).
void fill(pb::GetDeliberationResultResponse* resp, const std::string& id,
          const queued_task& q);

/// The derived tasks, at most `cap` per role (0: all).
void fill(pb::DeriveSubtasksResponse* resp, const std::vector<task_spec>& ts,
          int cap);

/// The councils of role `filter` ("" for all), with their agents when
/// `agents`.
void fill(pb::ListCouncilsResponse* resp, const std::vector<council_info>& xs,
          const std::string& filter, bool agents);

void fill(pb::OrchestratorStats* x, const orchestrator_stats& s);

void fill(pb::GetMetricsResponse* resp, const orchestrator_stats& s);

// -- counting -----------------------------------------------------------------

/// Calls by "method code" (e.g. "Deliberate OK"), for /metrics.
struct call_counters {
  std::mutex mtx;
  std::map<std::string, int64_t> n;

  void add(const std::string& method, const Status& st) {
    static const char* names[] = {
      "OK",        "CANCELLED",          "UNKNOWN",          "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",  "ALREADY_EXISTS",   "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",       "UNAVAILABLE",      "DATA_LOSS",
      "UNAUTHENTICATED"};
    auto code = static_cast<size_t>(st.error_code());
    std::string name = code < 17 ? names[code] : std::to_string(code);
    std::lock_guard<std::mutex> guard{mtx};
    ++n[method + " " + name];
  }
};

// -- cancellation -------------------------------------------------------------

/// Whether a cancellation comes from the client's deadline: the client
/// gives up at its own deadline, which is a little earlier than the
/// server's (the request took time to arrive), so the last half second
/// counts too.
inline bool at_deadline(std::chrono::system_clock::time_point deadline) {
  return deadline != std::chrono::system_clock::time_point::max()
         && deadline - std::chrono::milliseconds(500)
              <= std::chrono::system_clock::now();
}

/// What a deliberation call's reactor (gRPC threads) and the actor that runs
/// it (the worker, also the deliberation's progress listener) share: which
/// of them ends the call, and the worker to stop when the client cancels.
/// Stopping the worker cancels the deliberation (it monitors its listener);
/// the worker holds the call's slot until it terminates.
struct call_control {
  std::mutex mtx;
  /// Whether the call's outcome is decided (only the first claim ends it).
  bool settled = false;
  caf::actor_addr worker;
  /// The client's deadline; past it, a cancellation is the deadline, and
  /// the deliberation (whose limit it is) ends the call with TIMEOUT.
  std::chrono::system_clock::time_point deadline
    = std::chrono::system_clock::time_point::max();

  /// Claims the right to end the call; false when it ended already.
  bool claim() {
    std::lock_guard<std::mutex> guard{mtx};
    if (settled)
      return false;
    settled = true;
    return true;
  }

  /// The client cancelled or went away: stops the worker and answers true
  /// when the caller must end the call (with CANCELLED).
  bool cancel() {
    std::lock_guard<std::mutex> guard{mtx};
    if (settled || !worker || at_deadline(deadline))
      return false;
    settled = true;
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
    return true;
  }
};

/// The client's deadline as the task's own limit.
void limit_task(task_spec& t, std::chrono::system_clock::time_point deadline);

/// How long an actor waits for the ORCHESTRATOR's answer to a deliberation
/// with the given limit: past the limit, so the deliberation's own
/// time-out (recorded as TIMEOUT) answers first.
caf::duration wait_for(const task_spec& t);

/// gRPC hands a call's reactor from thread to thread (the handler's, the
/// CAF worker's that finishes it, the one that runs OnDone) through its
/// completion queue inside libgrpc, whose synchronisation ThreadSanitizer
/// cannot see (not instrumented). These mark that hand-over on the reactor
/// itself: `handed_over` where a thread is done with it, `taken_over` where
/// gRPC's next thread picks it up. Nothing outside a TSan build.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
inline void handed_over(void* reactor) {
  __tsan_release(reactor);
}
inline void taken_over(void* reactor) {
  __tsan_acquire(reactor);
}
#else
inline void handed_over(void*) {
}
inline void taken_over(void*) {
}
#endif

/// A unary reactor that counts how its call ended.
class counted_reactor : public grpc::ServerUnaryReactor {
public:
  counted_reactor(std::string method, std::shared_ptr<call_counters> counts)
      : method_(std::move(method)), counts_(std::move(counts)) {
    handed_over(this);
  }

  /// Ends the call. A call with a worker is ended only after a `claim`.
  void finish(Status st) {
    counts_->add(method_, st);
    handed_over(this);
    Finish(std::move(st));
  }

  const std::shared_ptr<call_control>& control() {
    return ctl_;
  }

  void OnCancel() override {
    taken_over(this);
    if (ctl_->cancel())
      finish({StatusCode::CANCELLED, "cancelled by the client"});
  }

  void OnDone() override {
    taken_over(this);
    delete this;
  }

private:
  std::string method_;
  std::shared_ptr<call_counters> counts_;
  std::shared_ptr<call_control> ctl_ = std::make_shared<call_control>();
};

// -- streaming ----------------------------------------------------------------

using update_writer = grpc::ServerWriteReactor<pb::DeliberationUpdate>;

/// What a StreamDeliberation call shares between its reactor (gRPC threads)
/// and the actors that feed it: updates wait here, one write at a time.
struct stream_state {
  std::recursive_mutex mtx;
  /// Null once gRPC is done with the call.
  update_writer* reactor = nullptr;
  std::deque<pb::DeliberationUpdate> queue;
  /// The update being written; alive until OnWriteDone.
  pb::DeliberationUpdate current;
  bool writing = false;
  bool ended = false;
  bool finish_called = false;
  Status final_status;
  std::shared_ptr<call_counters> counts;
  /// The actor that runs the deliberation (see `call_control`).
  caf::actor_addr worker;
  std::chrono::system_clock::time_point deadline
    = std::chrono::system_clock::time_point::max();

  void push(pb::DeliberationUpdate u) {
    std::lock_guard<std::recursive_mutex> guard{mtx};
    queue.push_back(std::move(u));
    pump();
  }

  void end(Status st) {
    std::lock_guard<std::recursive_mutex> guard{mtx};
    ended = true;
    final_status = std::move(st);
    pump();
  }

  void finish(Status st) {
    if (reactor && !finish_called) {
      finish_called = true;
      if (counts)
        counts->add("StreamDeliberation", st);
      reactor->Finish(std::move(st));
    }
  }

  void pump() {
    if (!reactor || writing || finish_called)
      return;
    if (!queue.empty()) {
      current = std::move(queue.front());
      queue.pop_front();
      writing = true;
      reactor->StartWrite(&current);
    } else if (ended) {
      finish(final_status);
    }
  }

  void write_done(bool ok) {
    std::lock_guard<std::recursive_mutex> guard{mtx};
    writing = false;
    if (!ok)
      cancel("the client went away");
    else
      pump();
  }

  /// The client cancelled or went away: ends the call and stops the worker
  /// (which cancels the deliberation). Past the client's deadline the
  /// deliberation ends the call itself, at its limit, with TIMEOUT.
  void cancel(const char* why) {
    std::lock_guard<std::recursive_mutex> guard{mtx};
    if (finish_called || (!ended && at_deadline(deadline)))
      return;
    finish({StatusCode::CANCELLED, why});
    if (!ended && worker)
      caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
  }
};

class stream_reactor : public update_writer {
public:
  explicit stream_reactor(std::shared_ptr<stream_state> st) : st_(std::move(st)) {
    std::lock_guard<std::recursive_mutex> guard{st_->mtx};
    st_->reactor = this;
    handed_over(this);
  }

  void OnWriteDone(bool ok) override {
    taken_over(this);
    st_->write_done(ok);
  }

  void OnCancel() override {
    taken_over(this);
    st_->cancel("cancelled by the client");
  }

  void OnDone() override {
    taken_over(this);
    {
      std::lock_guard<std::recursive_mutex> guard{st_->mtx};
      st_->reactor = nullptr;
    }
    delete this;
  }

private:
  std::shared_ptr<stream_state> st_;
};

/// Runs one deliberation as its own progress listener and forwards every
/// update, then the result, into a stream. One actor for both, so the
/// updates (sent before the outcome) are written before the result.
progress_listener_actor::behavior_type
stream_deliberation(progress_listener_actor::pointer self,
                    std::shared_ptr<stream_state> st,
                    orchestrator_actor orch, task_spec task,
                    std::function<void()> on_exit);

// -- task context -------------------------------------------------------------

/// Context for a task from this orchestrator's own history of the story:
/// earlier decisions with their winners, rationales and scores (the task's
/// own first), newest last, at most `max_events`.
void task_context(pb::GetTaskContextResponse* resp,
                  const std::vector<deliberation_outcome>& history,
                  const std::string& story, const std::string& task_id,
                  const std::string& role, const std::string& phase,
                  int max_events);

} // namespace orch::grpc_calls
