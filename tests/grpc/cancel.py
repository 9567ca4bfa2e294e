#!/usr/bin/python3
"""A unary Deliberate whose client goes away: started as a future, cancelled
after 1.2 s (one proposal in, with 1 s agents). Run by the grpc_api suite:

    cancel.py STUBS_DIR HOST:PORT TASK_ID

Exits 0 when the call ended as CANCELLED on the client side.
"""

import sys
import time

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
import fleet_orchestrator_v1_pb2 as pb  # noqa: E402
import fleet_orchestrator_v1_pb2_grpc as rpc  # noqa: E402

stub = rpc.OrchestratorServiceStub(grpc.insecure_channel(sys.argv[2]))
req = pb.DeliberateRequest(task_id=sys.argv[3], role="DEV", rounds=1,
                           task_description="Add a health endpoint")
future = stub.Deliberate.future(req, timeout=30)
time.sleep(1.2)
if not future.cancel():
    print("FAIL: the call ended before it could be cancelled:",
          future.code())
    sys.exit(1)
print("OK cancelled")
# Give the cancellation time to leave the process.
time.sleep(0.3)
