"""Flattening a RequestEvent into the raw-requests row that keeps every field queryable in SQL."""

from __future__ import annotations

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.rows import RequestRow
from meshpipe.streams.windows import direction_text, start_ns

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
    return RequestRow(
        partition=partition,
        offset=offset,
        id=event.id.hex(),
        proxy_id=event.proxy_id,
        proxy_seq=event.proxy_seq,
        direction=direction_text(event.direction),
        source_namespace=src.namespace,
        source_kind=src.kind,
        source_name=src.name,
        source_pod=src.pod,
        source_ip=src.ip,
        source_port=src.port,
        source_meshed=src.meshed,
        source_authority=src.authority,
        destination_namespace=dst.namespace,
        destination_kind=dst.kind,
        destination_name=dst.name,
        destination_pod=dst.pod,
        destination_ip=dst.ip,
        destination_port=dst.port,
        destination_meshed=dst.meshed,
        destination_authority=dst.authority,
        protocol=_PROTOCOLS.get(event.protocol, "unknown"),
        method=event.method,
        scheme=event.scheme,
        authority=event.authority,
        path=event.path,
        http_status=event.http_status,
        grpc_status=event.grpc_status if end == "grpc_status" else -1,
        reset_code=event.reset_code if end == "reset_code" else -1,
        error_kind=event.error.kind if end == "error" else "",
        error_message=event.error.message if end == "error" else "",
        start_us=start_ns(event) // 1000,
        latency_us=event.latency_us,
        duration_us=event.duration_us,
        request_bytes=event.request_bytes,
        response_bytes=event.response_bytes,
        tls=event.tls,
        trace_id=event.trace_id,
        classification=_CLASSIFICATIONS.get(event.classification, "unknown"),
        classification_reason=event.classification_reason,
        header_names=tuple(header.name for header in event.request_headers),
        header_values=tuple(header.value for header in event.request_headers),
        batch_index=batch_index,
    )
