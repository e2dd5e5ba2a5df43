"""Sample RequestEvents for meshtap's tests: an HTTP call, a gRPC call, failures."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

WEB = meshpipe_pb2.Workload(
    namespace="emojivoto",
    kind="deployment",
    name="web",
    pod="web-5f8d-x2",
    ip="10.0.0.7",
    port=43210,
    meshed=True,
)
EMOJI = meshpipe_pb2.Workload(
    namespace="emojivoto",
    kind="deployment",
    name="emoji",
    pod="emoji-77c-q1",
    ip="10.0.0.9",
    port=8080,
    meshed=True,
)


def http_event(seq: int = 1, status: int = 200, **changes: object) -> meshpipe_pb2.RequestEvent:
    event = meshpipe_pb2.RequestEvent(
        id=bytes(range(16)),
        proxy_id="web-5f8d-x2",
        proxy_seq=seq,
        direction=meshpipe_pb2.INBOUND,
        source=meshpipe_pb2.Workload(ip="10.0.0.3", port=51000, authority="10.0.0.3"),
        destination=WEB,
        protocol=meshpipe_pb2.HTTP1,
        method="GET",
        scheme="http",
        authority="web-svc.emojivoto:80",
        path="/api/list",
        http_status=status,
        start=Timestamp(seconds=1_795_773_600, nanos=250_000_000),
        latency_us=2186,
        duration_us=2301,
        request_bytes=0,
        response_bytes=4525,
        classification=meshpipe_pb2.FAILURE if status >= 500 else meshpipe_pb2.SUCCESS,
    )
    for name, value in changes.items():
        setattr(event, name, value)
    return event


def grpc_event(grpc_status: int = 0) -> meshpipe_pb2.RequestEvent:
    event = http_event(
        seq=2,
        direction=meshpipe_pb2.OUTBOUND,
        method="POST",
        authority="emoji-svc.emojivoto:8080",
        path="/emojivoto.v1.EmojiService/ListAll",
        protocol=meshpipe_pb2.GRPC,
        tls=True,
        response_bytes=2161,
    )
    event.source.CopyFrom(WEB)
    event.destination.CopyFrom(EMOJI)
    event.grpc_status = grpc_status
    return event


def reset_event() -> meshpipe_pb2.RequestEvent:
    event = grpc_event()
    event.reset_code = 8
    event.http_status = 0
    event.classification = meshpipe_pb2.FAILURE
    return event


def error_event() -> meshpipe_pb2.RequestEvent:
    event = http_event(seq=3, status=0, latency_us=0, response_bytes=0)
    event.error.kind = "connect_refused"
    event.error.message = "connection refused"
    event.classification = meshpipe_pb2.FAILURE
    return event
