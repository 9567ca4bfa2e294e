#include "runtime/work_api.hpp"

#include <optional>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "messages/events.hpp"
#include "messages/json_codec.hpp"
#include "messages/work_report.hpp"

namespace orch {

namespace {

using json = nlohmann::json;
using std::chrono::seconds;

http_response reply(int status, const json& doc) {
  return {status, "application/json", compact_json(doc)};
}

http_response error(int status, const std::string& text) {
  return {status, "application/json", json_error(text)};
}

/// The HTTP status of a queue error.
int status_of(const caf::error& err) {
  switch (code_of(err)) {
    case ec::not_found:
      return 404;
    case ec::invalid_argument:
      return 409; // not leased to this worker (any more)
    default:
      return 503;
  }
}

json task_json(const queued_task& q) {
  return {{"task", json::parse(to_json(q.task), nullptr, false)},
          {"state", q.state},
          {"attempts", q.attempts},
          {"lease_expires_ms", q.lease_expires_ms}};
}

/// Completes or fails a task for a worker, with its events in the outbox,
/// then publishes them (and the plan's completion when it was the last).
http_response settle(const work_context& c, const http_request& req,
                     bool ok) {
  auto report = decode_work_report(req.body);
  if (!report)
    return error(400, render(report.error()));
  auto& id = report->task_id;
  auto& worker = report->worker_id;
  caf::scoped_actor self{*c.sys};
  caf::expected<queued_task> task{caf::make_error(ec::internal, "unset")};
  self->request(c.queue, seconds(10), atom::status_v, id)
    .receive([&](queued_task& q) { task = std::move(q); },
             [&](caf::error& e) { task = std::move(e); });
  if (!task)
    return error(status_of(task.error()), render(task.error()));
  std::vector<outbound_event> evs;
  caf::expected<queued_task> after{caf::make_error(ec::internal, "unset")};
  auto on_ok = [&](queued_task& q) { after = std::move(q); };
  auto on_err = [&](caf::error& e) { after = std::move(e); };
  // What the queue records: the events plus the plan's completion marker.
  auto recorded = [&] {
    auto out = evs;
    out.push_back(plan_done_marker(task->task));
    return out;
  };
  if (ok) {
    auto& result = report->result;
    deliberation_outcome out;
    out.task_id = id;
    out.winner_id = worker;
    out.status = "completed";
    evs.push_back(task_completed_event(task->task, out));
    self
      ->request(c.queue, seconds(10), atom::complete_v, id, worker, result,
                recorded())
      .receive(on_ok, on_err);
  } else {
    auto& why = report->error;
    evs.push_back(
      deliberation_failed_event(task->task, why, "worker_error",
                                task->attempts));
    evs.push_back(task_failed_event(task->task, why, "worker_error", 0));
    self
      ->request(c.queue, seconds(10), atom::fail_v, id, worker, why,
                recorded())
      .receive(on_ok, on_err);
  }
  if (!after)
    return error(status_of(after.error()), render(after.error()));
  if (after->state != "FAILED" && !ok)
    evs.pop_back(); // task.failed only when final
  for (auto& ev : evs)
    ev.outbox = true;
  if (c.sink)
    caf::anon_send(c.sink, atom::publish_v, evs);
  // The plan may be done now: asked of the queue's count of its open
  // tasks (after every task); its counts by state, which may walk the
  // plan, only once it is done.
  bool finished = false;
  if ((after->state == "COMPLETED" || after->state == "FAILED") && c.sink
      && !task->task.plan_id.empty())
    self->request(c.queue, seconds(10), atom::finished_v, task->task.plan_id)
      .receive([&](bool f) { finished = f; }, [](caf::error&) {});
  if (finished)
    self->request(c.queue, seconds(10), atom::counts_v, task->task.plan_id)
      .receive(
        [&](std::map<std::string, int64_t>& n) {
          if (open_tasks(n) == 0 && c.sink) {
            std::vector<outbound_event> done{
              plan_completed_event(task->task, n)};
            done.back().outbox = true; // drops the plan's marker
            caf::anon_send(c.sink, atom::publish_v, std::move(done));
          }
        },
        [](caf::error&) {});
  if (c.registry)
    caf::anon_send(c.registry, atom::add_v, worker, std::string{},
                   std::string{ok ? "completed" : "failed"});
  return reply(200, task_json(*after));
}

} // namespace

std::map<std::string, http_route> work_routes(work_context ctx) {
  auto c = std::make_shared<work_context>(std::move(ctx));
  return {
    {"GET /work/next",
     [c](const http_request& req) {
       auto w = req.query.find("worker_id");
       if (w == req.query.end() || is_blank(w->second))
         return error(400, "worker_id is required: /work/next?worker_id=W");
       caf::scoped_actor self{*c->sys};
       http_response out = error(503, "the task queue did not answer");
       self
         ->request(c->queue, seconds(10), atom::lease_v, w->second,
                   c->lease_ms, int32_t{1})
         .receive(
           [&](std::vector<queued_task>& got) {
             if (got.empty()) {
               out = {204, "application/json", ""};
               return;
             }
             out = reply(200, task_json(got.front()));
             if (c->registry)
               caf::anon_send(c->registry, atom::add_v, w->second,
                              got.front().task.task_id, std::string{});
           },
           [&](caf::error& e) { out = error(503, render(e)); });
       if (out.status == 204 && c->registry)
         caf::anon_send(c->registry, atom::add_v, w->second, std::string{},
                        std::string{});
       return out;
     }},
    {"POST /work/complete",
     [c](const http_request& req) { return settle(*c, req, true); }},
    {"POST /work/failed",
     [c](const http_request& req) { return settle(*c, req, false); }},
    {"GET /workers",
     [c](const http_request&) {
       caf::scoped_actor self{*c->sys};
       auto arr = json::array();
       auto now = now_ms();
       if (c->registry)
         self->request(c->registry, seconds(5), atom::list_v)
           .receive(
             [&](std::vector<worker_info>& xs) {
               for (auto& w : xs)
                 arr.push_back({{"worker_id", w.worker_id},
                                {"last_seen_ms", w.last_seen_ms},
                                {"current_task", w.current_task},
                                {"completed", w.completed},
                                {"failed", w.failed},
                                {"healthy",
                                 now - w.last_seen_ms <= 2 * c->lease_ms}});
             },
             [](caf::error&) {});
       return reply(200, {{"workers", arr}});
     }},
    {"GET /queue",
     [c](const http_request&) {
       caf::scoped_actor self{*c->sys};
       http_response out = error(503, "the task queue did not answer");
       self->request(c->queue, seconds(10), atom::counts_v)
         .receive(
           [&](std::map<std::string, int64_t>& n) {
             out = reply(200, {{"tasks", n}});
           },
           [&](caf::error& e) { out = error(503, render(e)); });
       return out;
     }},
  };
}

} // namespace orch
