"""Synthetic RequestEvents and records for the streams unit tests."""

from __future__ import annotations

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS
from meshpipe.streams.decode import Record

BASE_S = 1_800_000_000  # a Unix time well inside the accepted range
TOPIC = REQUESTS


def workload(name: str, namespace: str = "emojivoto", pod: str = "") -> meshpipe_pb2.Workload:
    return meshpipe_pb2.Workload(
        namespace=namespace, kind="deployment", name=name, pod=pod or f"{name}-0", meshed=True
    )


def make_event(
    *,
    start_ns: int = BASE_S * 1_000_000_000,
    src: str = "web",
    dst: str = "emoji",
    direction: int = meshpipe_pb2.OUTBOUND,
    proxy_id: str = "proxy-a",
    seq: int = 1,
    http_status: int = 200,
    latency_us: int = 1000,
    duration_us: int = 2000,
    method: str = "GET",
    path: str = "/api/list",
    authority: str = "emoji-svc.emojivoto:8080",
    scheme: str = "http",
    grpc_status: int | None = None,
) -> meshpipe_pb2.RequestEvent:
    event = meshpipe_pb2.RequestEvent(
        id=seq.to_bytes(16, "big"),
        proxy_id=proxy_id,
        proxy_seq=seq,
        direction=direction,  # type: ignore[arg-type]
        source=workload(src),
        destination=workload(dst),
        protocol=meshpipe_pb2.HTTP1,
        method=method,
        scheme=scheme,
        authority=authority,
        path=path,
        http_status=http_status,
        latency_us=latency_us,
        duration_us=duration_us,
        request_bytes=10,
        response_bytes=100,
        classification=meshpipe_pb2.FAILURE if http_status >= 500 else meshpipe_pb2.SUCCESS,
    )
    if grpc_status is not None:
        event.grpc_status = grpc_status
    event.start.FromNanoseconds(start_ns)
    return event


def record(
    value: bytes | None, *, offset: int = 0, partition: int = 0, timestamp_ms: int = 0
) -> Record:
    return Record(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        key=b"k",
        value=value,
        timestamp_ms=timestamp_ms or BASE_S * 1000,
    )
