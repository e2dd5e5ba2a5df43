"""Flattening a RequestEvent into the raw-requests row that keeps every field queryable in SQL."""

from __future__ import annotations

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.rows import RequestRow
from meshpipe.streams.windows import direction_text

_PROTOCOLS: dict[int, str] = {
    meshpipe_pb2.HTTP1: "http1",
    meshpipe_pb2.HTTP2: "http2",
    meshpipe_pb2.GRPC: "grpc",
    meshpipe_pb2.OPAQUE_TCP: "opaque_tcp",
}
_CLASSIFICATIONS: dict[int, str] = {
    meshpipe_pb2.SUCCESS: "success",
    meshpipe_pb2.FAILURE: "failure",
}


def request_row(
    partition: int, offset: int, event: meshpipe_pb2.RequestEvent, batch_index: int = 0
) -> RequestRow:
    """The raw row of the event stored at (partition, offset), at batch_index in its record."""
    end = event.WhichOneof("end")
    src, dst = event.source, event.destination
    headers = event.request_headers
    names = tuple([header.name for header in headers]) if headers else ()
    values = tuple([header.value for header in headers]) if headers else ()
    start = event.start
    # Positional, in the field order of RequestRow: one row per event, so construction counts.
    return RequestRow(
        partition,
        offset,
        event.id.hex(),
        event.proxy_id,
        event.proxy_seq,
        direction_text(event.direction),
        src.namespace,
        src.kind,
        src.name,
        src.pod,
        src.ip,
        src.port,
        src.meshed,
        src.authority,
        dst.namespace,
        dst.kind,
        dst.name,
        dst.pod,
        dst.ip,
        dst.port,
        dst.meshed,
        dst.authority,
        _PROTOCOLS.get(event.protocol, "unknown"),
        event.method,
        event.scheme,
        event.authority,
        event.path,
        event.http_status,
        event.grpc_status if end == "grpc_status" else -1,
        event.reset_code if end == "reset_code" else -1,
        event.error.kind if end == "error" else "",
        event.error.message if end == "error" else "",
        start.seconds * 1_000_000 + start.nanos // 1000,
        event.latency_us,
        event.duration_us,
        event.request_bytes,
        event.response_bytes,
        event.tls,
        event.trace_id,
        _CLASSIFICATIONS.get(event.classification, "unknown"),
        event.classification_reason,
        names,
        values,
        batch_index,
    )
