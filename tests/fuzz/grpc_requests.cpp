// gRPC requests as the service validates them (bridges/grpc_requests): the
// first byte picks the request type, the rest is its protobuf encoding.
// Properties: parsing and validation never throw or crash; a rejection is
// an invalid argument that says why; an accepted request gives a value
// whose required fields are not blank.

#include "bridges/grpc_requests.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace orch;
namespace rq = orch::grpc_requests;

namespace {

template<class Request, class F>
void check(const uint8_t* data, size_t size, F accepted) {
  Request req;
  if (!req.ParseFromArray(data, static_cast<int>(size)))
    return;
  auto x = accepted(req);
  if (!x) {
    fuzz::require(code_of(x.error()) == ec::invalid_argument,
                  "a rejected request is an invalid argument");
    fuzz::require(!detail_of(x.error()).empty(), "a rejection says why");
  }
}

void task_ok(const caf::expected<task_spec>& t) {
  if (t) {
    fuzz::require(!is_blank(t->description) && !is_blank(t->role),
                  "an accepted task has a description and a role");
    fuzz::require(t->constraints.rounds == -1
                    || (t->constraints.rounds >= 1
                        && t->constraints.rounds <= 20),
                  "rounds are the council's (-1) or within 1..20");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto* p = data + 1;
  auto n = size - 1;
  switch (data[0] % 10) {
    case 0:
      check<rq::pb::DeliberateRequest>(p, n, [](auto& r) {
        auto t = rq::deliberation_task(r, rq::backlog_review_rubric);
        task_ok(t);
        if (t)
          fuzz::require(!t->constraints.rubric.empty(), "a rubric is set");
        return t;
      });
      break;
    case 1:
      check<rq::pb::OrchestrateRequest>(p, n, [](auto& r) {
        auto t = rq::orchestration_task(r);
        task_ok(t);
        return t;
      });
      break;
    case 2:
      check<rq::pb::GetDeliberationResultRequest>(
        p, n, [](auto& r) { return rq::result_task_id(r); });
      break;
    case 3:
      check<rq::pb::DeriveSubtasksRequest>(p, n, [](auto& r) {
        auto x = rq::subtask_plan(r);
        if (x)
          fuzz::require(!is_blank(x->first.plan_id) && x->second >= 0,
                        "a plan id and a cap that is not negative");
        return x;
      });
      break;
    case 4:
      check<rq::pb::PlanningEventRequest>(p, n, [](auto& r) {
        auto x = rq::planning_event_of(r);
        if (x && x->approved)
          fuzz::require(!is_blank(x->plan.plan_id), "a plan has an id");
        if (x && !x->approved)
          fuzz::require(!is_blank(x->phase.story_id)
                          && !is_blank(x->phase.to_phase),
                        "a phase change has a story and a target");
        return x;
      });
      break;
    case 5:
      check<rq::pb::GetTaskContextRequest>(p, n, [](auto& r) {
        auto x = rq::context_query_of(r);
        if (x)
          fuzz::require(x->max_events > 0 && x->max_events <= 1000,
                        "max_events within 1..1000");
        return x;
      });
      break;
    case 6:
      check<rq::pb::CreateCouncilRequest>(p, n, [](auto& r) {
        auto x = rq::council_of(r);
        if (x)
          fuzz::require(!is_blank(x->role) && x->num_agents >= 1
                          && x->num_agents <= 256,
                        "a council has a role and 1..256 agents");
        return x;
      });
      break;
    case 7:
      check<rq::pb::DeleteCouncilRequest>(
        p, n, [](auto& r) { return rq::council_role(r); });
      break;
    case 8:
      check<rq::pb::RegisterAgentRequest>(p, n, [](auto& r) {
        auto x = rq::agent_of(r);
        if (x)
          fuzz::require(!is_blank(x->agent_id) && !is_blank(x->role),
                        "an agent has an id and a role");
        return x;
      });
      break;
    default:
      check<rq::pb::UnregisterAgentRequest>(
        p, n, [](auto& r) { return rq::unregistration_of(r); });
      break;
  }
  return 0;
}
