"""Synthetic RequestEvents and records for the streams unit tests, and a partition's run."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.rows import MemoryRowSink, RowBatch
from meshpipe.schemas.topics import REQUESTS
from meshpipe.streams.decode import Decoded, Record
from meshpipe.streams.partition import PartitionState

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


def make_report(
    *,
    report_ns: int = BASE_S * 1_000_000_000,
    src: str = "web",
    dst: str = "emoji",
    direction: int = meshpipe_pb2.OUTBOUND,
    proxy_id: str = "proxy-a",
    open_connections: int = 1,
    opened: int = 0,
    closed: int = 0,
) -> meshpipe_pb2.RequestEvent:
    """A connection report as the proxy on the own side of the edge sends it."""
    event = meshpipe_pb2.RequestEvent(
        proxy_id=proxy_id,
        direction=direction,  # type: ignore[arg-type]
        source=workload(src),
        destination=workload(dst),
    )
    peer = event.destination if direction == meshpipe_pb2.OUTBOUND else event.source
    peer.pod = ""  # the peer side carries only what the edge keeps
    event.connections.open = open_connections
    event.connections.opened = opened
    event.connections.closed = closed
    event.start.FromNanoseconds(report_ns)
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


def at_zero(valid: Decoded | None) -> list[tuple[int, Decoded]]:
    """What PartitionState.fold takes for a one-event record (nothing when dead-lettered)."""
    return [] if valid is None else [(0, valid)]


def run_partition(
    new_state: Callable[[], PartitionState],
    records: Sequence[Decoded | None],
    flush_after: set[int],
    crash_after: set[int],
    torn: bool = False,
) -> MemoryRowSink:
    """Process like a worker: flush, store, commit; on a crash resume from the committed offset.

    torn: at a crash the last flush reached the store in part (its edge windows) and was never
    committed.
    """
    sink = MemoryRowSink()
    state = new_state()
    committed, offset, crashed = 0, 0, set()
    while offset < len(records):
        state.fold(offset, at_zero(records[offset]))
        if offset in flush_after:
            flushed = state.flush()
            sink.store(flushed.batch)
            assert flushed.commit_offset is not None
            committed = flushed.commit_offset
        if offset in crash_after and offset not in crashed:
            crashed.add(offset)
            if torn:
                sink.store(RowBatch(edge_windows=state.flush().batch.edge_windows))
            state = new_state()
            offset = committed
            continue
        offset += 1
    sink.store(state.flush().batch)
    return sink
