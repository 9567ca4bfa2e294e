#!/usr/bin/python3
"""An independent client of fleet.orchestrator.v1 that knows only the proto
file: stubs are generated from it at test time (protoc + Debian's
grpc_python_plugin). Run by the grpc_api suite:

    client.py STUBS_DIR HOST:PORT

Prints one line per check and exits non-zero on the first failure.
"""

import sys
import time

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
import fleet_orchestrator_v1_pb2 as pb  # noqa: E402
import fleet_orchestrator_v1_pb2_grpc as rpc  # noqa: E402

target = sys.argv[2]
# A short reconnect backoff: the server may not listen yet when this starts
# (slowly, under the sanitizers), and gRPC's default backoff grows to tens
# of seconds between attempts, past the wait below.
channel = grpc.insecure_channel(
    target, options=[("grpc.initial_reconnect_backoff_ms", 100),
                     ("grpc.min_reconnect_backoff_ms", 100),
                     ("grpc.max_reconnect_backoff_ms", 500)])
stub = rpc.OrchestratorServiceStub(channel)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    checks += 1
    print("ok:", what)


def code_of(call, *args, **kw):
    try:
        call(*args, **kw)
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


# Ready? (for at most a minute)
st = None
last = "no answer"
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        st = stub.GetStatus(pb.GetStatusRequest(include_stats=True), timeout=2)
        last = st.status
        if st.status == "healthy":
            break
    except grpc.RpcError as e:
        last = "%s: %s" % (e.code(), e.details())
    time.sleep(0.1)
check(st is not None and st.status == "healthy",
      "GetStatus says healthy (last: %s)" % last)

req = pb.DeliberateRequest(
    task_id="grpc-task-1", task_description="Add a login endpoint",
    role="DEV", rounds=1,
    constraints=pb.TaskConstraints(rubric="secure",
                                   requirements=["input validation"]))
resp = stub.Deliberate(req, timeout=30)
check(len(resp.results) == 3, "Deliberate returns three ranked results")
check(resp.winner_id in [r.proposal.author_id for r in resp.results],
      "the winner is one of the results")
check([r.rank for r in resp.results] == [1, 2, 3], "ranks are 1..3")
check(resp.metadata.execution_id != "", "metadata carries the execution id")

got = stub.GetDeliberationResult(
    pb.GetDeliberationResultRequest(task_id="grpc-task-1"), timeout=5)
check(got.status == pb.DELIBERATION_STATUS_COMPLETED,
      "GetDeliberationResult finds it COMPLETED")
check(code_of(stub.GetDeliberationResult,
              pb.GetDeliberationResultRequest(task_id="nope"))[0]
      == grpc.StatusCode.NOT_FOUND, "an unknown task is NOT_FOUND")

code, details = code_of(stub.Deliberate, pb.DeliberateRequest(role="DEV"))
check(code == grpc.StatusCode.INVALID_ARGUMENT and "task_description" in details,
      "a blank task is INVALID_ARGUMENT and says why")
check(code_of(stub.Deliberate,
              pb.DeliberateRequest(task_description="x", role="NOPE"))[0]
      == grpc.StatusCode.NOT_FOUND, "an unknown council is NOT_FOUND")

councils = stub.ListCouncils(pb.ListCouncilsRequest(include_agents=True))
check(len(councils.councils) == 5, "ListCouncils lists the five councils")
check(all(len(c.agents) == c.num_agents for c in councils.councils),
      "with their agents")
check(code_of(stub.CreateCouncil, pb.CreateCouncilRequest(role="DEV",
                                                          num_agents=2))[0]
      == grpc.StatusCode.ALREADY_EXISTS, "a second DEV council is ALREADY_EXISTS")
made = stub.CreateCouncil(pb.CreateCouncilRequest(role="SEC", num_agents=2))
check(made.agents_created == 2 and made.council_id == "council-sec",
      "CreateCouncil SEC with two agents")
reg = stub.RegisterAgent(pb.RegisterAgentRequest(agent_id="agent-sec-x",
                                                 role="SEC"))
check(reg.success and reg.council_id == "council-sec", "RegisterAgent")
check(code_of(stub.RegisterAgent,
              pb.RegisterAgentRequest(agent_id="agent-sec-x", role="SEC"))[0]
      == grpc.StatusCode.ALREADY_EXISTS, "the same agent again is ALREADY_EXISTS")
check(stub.UnregisterAgent(pb.UnregisterAgentRequest(agent_id="agent-sec-x",
                                                     role="SEC")).success,
      "UnregisterAgent")
check(code_of(stub.UnregisterAgent,
              pb.UnregisterAgentRequest(agent_id="agent-sec-x", role="SEC"))[0]
      == grpc.StatusCode.NOT_FOUND, "an unknown agent is NOT_FOUND")
deleted = stub.DeleteCouncil(pb.DeleteCouncilRequest(role="SEC"))
check(deleted.success and deleted.agents_removed == 2, "DeleteCouncil SEC")
check(code_of(stub.DeleteCouncil, pb.DeleteCouncilRequest(role="SEC"))[0]
      == grpc.StatusCode.NOT_FOUND, "deleting it again is NOT_FOUND")

orch = stub.Orchestrate(pb.OrchestrateRequest(
    task_id="grpc-task-2", task_description="Plan the rollout", role="DEVOPS"),
    timeout=30)
check(orch.winner.proposal.author_id != "" and len(orch.candidates) == 3,
      "Orchestrate picks a winner among the candidates")
metrics = stub.GetMetrics(pb.GetMetricsRequest())
check(metrics.performance.p99_latency_ms >= metrics.performance.p50_latency_ms,
      "GetMetrics has latency percentiles")
# StreamDeliberation: every phase in order, per-agent steps, then the result.
updates = list(stub.StreamDeliberation(pb.DeliberateRequest(
    task_id="grpc-stream-1", task_description="Add rate limiting",
    role="QA", rounds=1), timeout=30))
statuses = [u.status for u in updates]
order = []
for st in statuses:
    if not order or order[-1] != st:
        order.append(st)
check(order[:4] == ["generating", "reviewing", "revising", "scoring"],
      "the stream goes generating, reviewing, revising, scoring: %s" % order)
check(statuses[-1] == "complete" and updates[-1].progress_percent == 100,
      "and ends complete at 100 %")
check(updates[-1].partial_result.proposal.author_id.startswith("agent-qa-"),
      "with the winner's result")
agents = {u.current_agent for u in updates if u.status == "generating"}
check(len(agents - {""}) >= 3, "with a step per agent: %s" % sorted(agents))
percents = [u.progress_percent for u in updates]
check(percents == sorted(percents), "progress never goes back")
code, _ = code_of(lambda: list(stub.StreamDeliberation(
    pb.DeliberateRequest(role="QA"))))
check(code == grpc.StatusCode.INVALID_ARGUMENT,
      "a blank streamed task is INVALID_ARGUMENT")
# A client that goes away after the first update: the server carries on.
call = stub.StreamDeliberation(pb.DeliberateRequest(
    task_description="Cancel me", role="DEV"), timeout=30)
next(call)
call.cancel()
check(stub.GetStatus(pb.GetStatusRequest()).status == "healthy",
      "a cancelled stream leaves the service healthy")
# The PLANNER over gRPC.
derived = stub.DeriveSubtasks(pb.DeriveSubtasksRequest(
    case_id="S-G", plan_id="P-G", roles=["DEV", "QA"]))
check(derived.total_tasks == 2 and sorted(t.role for t in derived.tasks)
      == ["DEV", "QA"], "DeriveSubtasks: one task per role")
check(all(t.plan_id == "P-G" and t.task_id.startswith("P-G/")
          for t in derived.tasks), "scoped by plan")
check(code_of(stub.DeriveSubtasks, pb.DeriveSubtasksRequest(case_id="S"))[0]
      == grpc.StatusCode.INVALID_ARGUMENT, "a plan without id is INVALID_ARGUMENT")
check(code_of(stub.DeriveSubtasks, pb.DeriveSubtasksRequest(
    plan_id="P-X", roles=["ASTRONAUT"]))[0] == grpc.StatusCode.INVALID_ARGUMENT,
      "a role without council is INVALID_ARGUMENT")
event = stub.ProcessPlanningEvent(pb.PlanningEventRequest(
    event_type="PLAN_APPROVED", case_id="S-H", plan_id="P-H"))
check(event.processed and len(event.derived_task_ids) == 5,
      "ProcessPlanningEvent queues one task per council")
# They run through the queue and the DISPATCHER; GetDeliberationResult
# follows them to COMPLETED.
seen = set()
for _ in range(200):
    states = [stub.GetDeliberationResult(pb.GetDeliberationResultRequest(
        task_id=t)).status for t in event.derived_task_ids]
    seen.update(states)
    if all(s == pb.DELIBERATION_STATUS_COMPLETED for s in states):
        break
    time.sleep(0.05)
check(all(s == pb.DELIBERATION_STATUS_COMPLETED for s in states),
      "the plan's tasks complete: %s" % sorted(seen))
phase = stub.ProcessPlanningEvent(pb.PlanningEventRequest(
    event_type="STORY_TRANSITIONED", case_id="S-H", from_state="DESIGN",
    to_state="BUILD"))
check(phase.processed, "a phase change is processed")
ctx = stub.GetTaskContext(pb.GetTaskContextRequest(
    story_id="S-H", task_id=event.derived_task_ids[0], role="DEV"))
check(event.derived_task_ids[0] in ctx.blocks.history and "winner agent-"
      in ctx.blocks.history, "GetTaskContext brings the story's decisions")
check(ctx.token_count > 0 and len(ctx.version_hash) == 16,
      "with a token estimate and a version hash")
check(code_of(stub.GetTaskContext, pb.GetTaskContextRequest())[0]
      == grpc.StatusCode.INVALID_ARGUMENT, "no story and no task is INVALID_ARGUMENT")
print("OK", checks, "checks")
