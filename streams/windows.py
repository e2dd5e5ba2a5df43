"""Exact per-edge counts and latency histograms in fixed event-time windows, as replay-safe rows.

Windows are fixed (default 10 s) by each event's `start` (event time, never the wall clock) and
kept per partition: the Kafka key is the edge, so an edge lives on one partition and no
repartition hop is needed.

Exactly-once (see `streams.chunks`): each partition is cut into chunks by a rule that replays
reproduce; within the current chunk one `EdgeCounts` per (window, edge) collects the records, and
a timer writes cumulative snapshots of the changed ones keyed by (window, edge, partition, chunk
first offset) with version = the offset of the latest record folded in. Offsets are committed
only at chunk starts after the store acknowledged the rows, so a replay rewrites the same rows.
Late events need no grace period: an event for any earlier window simply adds a row for that
window in the current chunk. Readers take the latest version per key (`FINAL`) and SUM over
partitions and chunks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from meshpipe.schemas.classify import GRPC_FAILURE_CODES, is_success
from meshpipe.schemas.edgekey import Edge
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import Peer, WorkloadId
from meshpipe.schemas.rows import WINDOW_S, EdgeWindowRow
from meshpipe.streams.chunks import ChunkTable, Entry

BucketFn = Callable[[int], int]  # microseconds -> bucket index on the shared latency grid
NANOS = 1_000_000_000
_DIRECTIONS: dict[int, str] = {meshpipe_pb2.INBOUND: "in", meshpipe_pb2.OUTBOUND: "out"}


@dataclass(frozen=True, slots=True)
class WindowSettings:
    """How events are cut into windows."""

    window_s: int = WINDOW_S  # window length, whole seconds

    def __post_init__(self) -> None:
        if self.window_s < 1:
            raise ValueError(f"window must be at least 1 s, got {self.window_s}")

    def window_start_s(self, start_ns: int) -> int:
        """Unix seconds at which the window holding an event time starts."""
        seconds = start_ns // NANOS
        return seconds - seconds % self.window_s


def start_ns(event: meshpipe_pb2.RequestEvent) -> int:
    """The event's start as Unix nanoseconds."""
    return event.start.seconds * NANOS + event.start.nanos


def direction_text(direction: int) -> str:
    """`in`, `out` or `unknown`, as in the edge key."""
    return _DIRECTIONS.get(direction, "unknown")


def is_grpc_failure(event: meshpipe_pb2.RequestEvent) -> bool:
    """The exchange ended with a gRPC status that Linkerd counts as a failure."""
    return event.WhichOneof("end") == "grpc_status" and event.grpc_status in GRPC_FAILURE_CODES


@dataclass(slots=True)
class EdgeCounts:
    """Exact counters and sparse histograms of one edge window within one chunk."""

    requests: int = 0
    successes: int = 0
    status_4xx: int = 0
    status_5xx: int = 0
    grpc_failures: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    latency_sum_us: int = 0
    duration_sum_us: int = 0
    latency: dict[int, int] = field(default_factory=dict)
    duration: dict[int, int] = field(default_factory=dict)

    def add(self, event: meshpipe_pb2.RequestEvent, bucket: BucketFn) -> None:
        """Fold one event in."""
        self.requests += 1
        self.successes += is_success(event)
        self.status_4xx += 400 <= event.http_status <= 499
        self.status_5xx += 500 <= event.http_status <= 599
        self.grpc_failures += is_grpc_failure(event)
        self.request_bytes += event.request_bytes
        self.response_bytes += event.response_bytes
        self.latency_sum_us += event.latency_us
        self.duration_sum_us += event.duration_us
        latency_bucket = bucket(event.latency_us)
        self.latency[latency_bucket] = self.latency.get(latency_bucket, 0) + 1
        duration_bucket = bucket(event.duration_us)
        self.duration[duration_bucket] = self.duration.get(duration_bucket, 0) + 1

    def add_many(self, events: Sequence[meshpipe_pb2.RequestEvent], bucket: BucketFn) -> None:
        """Fold several events in: what `add` does for each, a field at a time (one pass per
        field over the events instead of one call per event)."""
        classes = [e.classification for e in events]
        if _UNCLASSIFIED in classes:
            self.successes += sum([is_success(e) for e in events])
        else:
            self.successes += classes.count(_SUCCESS)
        self.requests += len(events)
        statuses = [e.http_status for e in events]
        self.status_4xx += sum([1 for s in statuses if 400 <= s <= 499])
        self.status_5xx += sum([1 for s in statuses if 500 <= s <= 599])
        # grpc_status reads 0 unless the `end` oneof holds it, and 0 is no failure code
        self.grpc_failures += sum([1 for e in events if e.grpc_status in GRPC_FAILURE_CODES])
        self.request_bytes += sum([e.request_bytes for e in events])
        self.response_bytes += sum([e.response_bytes for e in events])
        latencies = [e.latency_us for e in events]
        durations = [e.duration_us for e in events]
        self.latency_sum_us += sum(latencies)
        self.duration_sum_us += sum(durations)
        for histogram, values in ((self.latency, latencies), (self.duration, durations)):
            for index, count in Counter(map(bucket, values)).items():
                histogram[index] = histogram.get(index, 0) + count


_UNCLASSIFIED = meshpipe_pb2.CLASSIFICATION_UNKNOWN
_SUCCESS = meshpipe_pb2.SUCCESS

MANY_FROM = 8  # a run of this many events or more is added a field at a time (measured)
WindowKey = tuple[int, Edge]  # (window_start_s, edge)
Placed = tuple[meshpipe_pb2.RequestEvent, Edge, int]  # an event, its edge and window_start_s


class EdgeWindows:
    """The edge windows of one partition's current chunk."""

    def __init__(self, partition: int, settings: WindowSettings, bucket: BucketFn) -> None:
        self.partition = partition
        self.settings = settings
        self._bucket = bucket
        self.table: ChunkTable[WindowKey, EdgeCounts] = ChunkTable(EdgeCounts)

    def add(self, offset: int, event: meshpipe_pb2.RequestEvent, edge: Edge) -> None:
        """Fold the valid event at offset (its edge already computed) into its window."""
        window = self.settings.window_start_s(start_ns(event))
        self.table.accumulator((window, edge), offset).add(event, self._bucket)

    def add_record(self, offset: int, events: Iterable[Placed]) -> None:
        """Fold the valid events of the record at offset, each with its edge and window: what
        `add` does for each, looking a key up once per run of events that share it (a batch's
        events share their edge, and mostly their window) and adding a run a field at a time."""
        bucket = self._bucket
        last: WindowKey | None = None
        run: list[meshpipe_pb2.RequestEvent] = []
        for event, edge, window in events:
            key = (window, edge)
            if key != last:
                if last is not None:
                    self._add_run(last, offset, run, bucket)
                last, run = key, []
            run.append(event)
        if last is not None:
            self._add_run(last, offset, run, bucket)

    def _add_run(
        self,
        key: WindowKey,
        offset: int,
        run: list[meshpipe_pb2.RequestEvent],
        bucket: BucketFn,
    ) -> None:
        counts = self.table.accumulator(key, offset)
        if len(run) >= MANY_FROM:
            counts.add_many(run, bucket)
            return
        for event in run:
            counts.add(event, bucket)

    def snapshot(self, chunk_first: int) -> list[EdgeWindowRow]:
        """Rows for every window changed since the last snapshot, keyed by the chunk's start."""
        return [self._row(key, entry, chunk_first) for key, entry in self.table.snapshot()]

    def _row(self, key: WindowKey, entry: Entry[EdgeCounts], chunk_first: int) -> EdgeWindowRow:
        window, edge = key
        counts = entry.acc
        src_ns, src_kind, src_name = peer_parts(edge.source)
        dst_ns, dst_kind, dst_name = peer_parts(edge.destination)
        latency = sorted(counts.latency.items())
        duration = sorted(counts.duration.items())
        return EdgeWindowRow(
            window_start_s=window,
            window_s=self.settings.window_s,
            direction=direction_text(edge.direction),
            source=str(edge.source),
            source_namespace=src_ns,
            source_kind=src_kind,
            source_name=src_name,
            source_meshed=isinstance(edge.source, WorkloadId),
            destination=str(edge.destination),
            destination_namespace=dst_ns,
            destination_kind=dst_kind,
            destination_name=dst_name,
            destination_meshed=isinstance(edge.destination, WorkloadId),
            partition=self.partition,
            first_offset=chunk_first,
            version=entry.last,
            requests=counts.requests,
            successes=counts.successes,
            failures=counts.requests - counts.successes,
            status_4xx=counts.status_4xx,
            status_5xx=counts.status_5xx,
            grpc_failures=counts.grpc_failures,
            request_bytes=counts.request_bytes,
            response_bytes=counts.response_bytes,
            latency_sum_us=counts.latency_sum_us,
            duration_sum_us=counts.duration_sum_us,
            latency_buckets=tuple(index for index, _ in latency),
            latency_counts=tuple(count for _, count in latency),
            duration_buckets=tuple(index for index, _ in duration),
            duration_counts=tuple(count for _, count in duration),
        )


def peer_parts(peer: Peer) -> tuple[str, str, str]:
    """(namespace, kind, name) of a meshed peer; empty strings for an unmeshed one."""
    if isinstance(peer, WorkloadId):
        return peer.namespace, peer.kind, peer.name
    return "", "", ""
