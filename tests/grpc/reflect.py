#!/usr/bin/python3
"""A client that knows nothing of the orchestrator's proto: it discovers the
service through server reflection (grpc.reflection.v1alpha), builds the
message types from the descriptors it receives, calls ListCouncils with
them, and asks the standard health service. Stubs for reflection and health
come from Debian's grpc-proto files. Run by the grpc_api suite:

    reflect.py STUBS_DIR HOST:PORT
"""

import sys

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
import reflection_pb2 as rpb  # noqa: E402
import reflection_pb2_grpc as rgrpc  # noqa: E402
import health_pb2 as hpb  # noqa: E402
import health_pb2_grpc as hgrpc  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool  # noqa: E402
from google.protobuf import message_factory  # noqa: E402

channel = grpc.insecure_channel(sys.argv[2])
refl = rgrpc.ServerReflectionStub(channel)


def ask(**kw):
    return next(refl.ServerReflectionInfo(iter([rpb.ServerReflectionRequest(**kw)]),
                                          timeout=10))


services = [s.name for s in ask(list_services="").list_services_response.service]
print("services:", services)
assert "fleet.orchestrator.v1.OrchestratorService" in services, services

files = ask(file_containing_symbol="fleet.orchestrator.v1.OrchestratorService")
pool = descriptor_pool.DescriptorPool()
for raw in files.file_descriptor_response.file_descriptor_proto:
    fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
    pool.Add(fd)
svc = pool.FindServiceByName("fleet.orchestrator.v1.OrchestratorService")
methods = [m.name for m in svc.methods]
print("methods:", methods)
assert len(methods) == 15 and "StreamDeliberation" in methods, methods

m = svc.FindMethodByName("ListCouncils")
factory = message_factory.MessageFactory(pool)
req_cls = factory.GetPrototype(m.input_type)
resp_cls = factory.GetPrototype(m.output_type)
call = channel.unary_unary("/fleet.orchestrator.v1.OrchestratorService/ListCouncils",
                           request_serializer=req_cls.SerializeToString,
                           response_deserializer=resp_cls.FromString)
resp = call(req_cls(), timeout=10)
print("councils:", [c.role for c in resp.councils])
assert len(resp.councils) == 5

health = hgrpc.HealthStub(channel)
for name in ["", "fleet.orchestrator.v1.OrchestratorService"]:
    st = health.Check(hpb.HealthCheckRequest(service=name), timeout=5).status
    print("health %r:" % name, hpb.HealthCheckResponse.ServingStatus.Name(st))
    assert st == hpb.HealthCheckResponse.SERVING
print("OK reflection and health")
