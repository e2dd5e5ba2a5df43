"""Flattening RequestEvents into the raw-requests rows that keep every field queryable in SQL."""

from __future__ import annotations

from collections.abc import Sequence

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.rows import RequestColumns, RequestRow
from meshpipe.streams.decode import UniformRecord
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


COLUMNWISE_FROM = 4  # a record with this many request events or more is added column by column


def add_requests(
    rows: RequestColumns,
    partition: int,
    offset: int,
    events: Sequence[tuple[int, meshpipe_pb2.RequestEvent]],
    uniform: UniformRecord | None = None,
) -> None:
    """Add the raw rows of the record at (partition, offset): its valid request events with
    their positions in the record. What appending `request_row` of each does, but a column at
    a time for a record of several events: no row object per event, one pass per field. With
    `uniform` (validation's values for these events), the fields it holds are not read again."""
    if len(events) < COLUMNWISE_FROM and uniform is None:
        for index, event in events:
            rows.append(request_row(partition, offset, event, index))
        return
    (
        c_partition, c_offset, c_id, c_proxy_id, c_proxy_seq, c_direction,
        c_src_ns, c_src_kind, c_src_name, c_src_pod, c_src_ip, c_src_port, c_src_meshed,
        c_src_authority,
        c_dst_ns, c_dst_kind, c_dst_name, c_dst_pod, c_dst_ip, c_dst_port, c_dst_meshed,
        c_dst_authority,
        c_protocol, c_method, c_scheme, c_authority, c_path, c_http_status, c_grpc_status,
        c_reset_code, c_error_kind, c_error_message, c_start_us, c_latency_us, c_duration_us,
        c_request_bytes, c_response_bytes, c_tls, c_trace_id, c_classification,
        c_classification_reason, c_header_names, c_header_values, c_batch_index,
    ) = rows.columns  # fmt: skip
    n = len(events)
    evs = [event for _, event in events]
    c_partition += [partition] * n
    c_offset += [offset] * n
    c_id += [e.id.hex() for e in evs]
    if uniform is not None:
        c_proxy_id += [uniform.proxy_id] * n
        c_proxy_seq += uniform.seqs
        c_direction += [direction_text(evs[0].direction)] * n
    else:
        c_proxy_id += [e.proxy_id for e in evs]
        c_proxy_seq += [e.proxy_seq for e in evs]
        c_direction += [direction_text(e.direction) for e in evs]
    for peer, (ns, kind, name, pod, ip, port, meshed, authority) in (
        ([e.source for e in evs], (c_src_ns, c_src_kind, c_src_name, c_src_pod, c_src_ip,
                                   c_src_port, c_src_meshed, c_src_authority)),
        ([e.destination for e in evs], (c_dst_ns, c_dst_kind, c_dst_name, c_dst_pod, c_dst_ip,
                                        c_dst_port, c_dst_meshed, c_dst_authority)),
    ):  # fmt: skip
        first = peer[0]
        # one workload for the whole record, as a batch mostly is (a uniform one always)
        if uniform is not None or peer.count(first) == n:
            ns += [first.namespace] * n
            kind += [first.kind] * n
            name += [first.name] * n
            pod += [first.pod] * n
            ip += [first.ip] * n
            port += [first.port] * n
            meshed += [first.meshed] * n
            authority += [first.authority] * n
            continue
        ns += [w.namespace for w in peer]
        kind += [w.kind for w in peer]
        name += [w.name for w in peer]
        pod += [w.pod for w in peer]
        ip += [w.ip for w in peer]
        port += [w.port for w in peer]
        meshed += [w.meshed for w in peer]
        authority += [w.authority for w in peer]
    protocols = _PROTOCOLS
    c_protocol += [protocols.get(e.protocol, "unknown") for e in evs]
    c_method += [e.method for e in evs]
    c_scheme += [e.scheme for e in evs]
    c_authority += [e.authority for e in evs]
    c_path += [e.path for e in evs]
    c_http_status += [e.http_status for e in evs]
    ends = [e.WhichOneof("end") for e in evs]
    if any(ends):
        pairs = list(zip(evs, ends, strict=True))
        c_grpc_status += [e.grpc_status if end == "grpc_status" else -1 for e, end in pairs]
        c_reset_code += [e.reset_code if end == "reset_code" else -1 for e, end in pairs]
        c_error_kind += [e.error.kind if end == "error" else "" for e, end in pairs]
        c_error_message += [e.error.message if end == "error" else "" for e, end in pairs]
    else:
        c_grpc_status += [-1] * n
        c_reset_code += [-1] * n
        c_error_kind += [""] * n
        c_error_message += [""] * n
    if uniform is not None:
        c_start_us += [
            s * 1_000_000 + ns // 1000 for s, ns in zip(uniform.seconds, uniform.nanos, strict=True)
        ]
    else:
        starts = [e.start for e in evs]
        c_start_us += [s.seconds * 1_000_000 + s.nanos // 1000 for s in starts]
    c_latency_us += [e.latency_us for e in evs]
    c_duration_us += [e.duration_us for e in evs]
    c_request_bytes += [e.request_bytes for e in evs]
    c_response_bytes += [e.response_bytes for e in evs]
    c_tls += [e.tls for e in evs]
    c_trace_id += [e.trace_id for e in evs]
    classifications = _CLASSIFICATIONS
    c_classification += [classifications.get(e.classification, "unknown") for e in evs]
    c_classification_reason += [e.classification_reason for e in evs]
    headers = [e.request_headers for e in evs]
    c_header_names += [tuple([h.name for h in hs]) if hs else () for hs in headers]
    c_header_values += [tuple([h.value for h in hs]) if hs else () for hs in headers]
    c_batch_index += [index for index, _ in events]
