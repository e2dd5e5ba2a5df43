"""The ClickHouse row shapes the stream workers produce and the `RowSink` protocol storing them.

Replay safety is in the keys: rebuilding the same rows after a crash must replace, never add.

- `EdgeWindowRow`: one edge's fixed window in one chunk of one partition, as a cumulative
  snapshot. Key `(direction, source, destination, window_start_s, partition, first_offset)`,
  version `version` (the highest Kafka offset folded in): store in
  `ReplacingMergeTree(version)` and read with `FINAL` or `argMax(..., version)`, then SUM over
  partitions and chunks (see `streams.chunks` for why chunks exist).
- `RequestRow`: one row per event; key `(partition, offset, batch_index)` (the events of a batch
  record share its offset); a replay writes an identical row, so `ReplacingMergeTree()` without
  a version collapses it. Batches hold them as `RequestColumns` (one list per field): workers
  fill those a column at a time and the ClickHouse client takes them as they are.
- `LossRow`: per proxy, window and partition chunk, the distinct `proxy_seq` values seen;
  keyed and versioned like `EdgeWindowRow`. Lost events of a proxy =
  `max(seq_max) - min(seq_min) + 1 - sum(events)` over its rows (see `streams.loss`).
- `ConnectionRow`: per proxy, edge, report window and partition chunk, the open connections of
  the latest connection report and the opened/closed counts of all of them; keyed and
  versioned like `EdgeWindowRow`. A proxy edge's open connections at a time = `open_connections`
  of its row with the highest `report_us` before then (see `streams.connections`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, NamedTuple, Protocol, TypeVar, cast, overload

WINDOW_S = 10  # seconds: the default length of an edge window (and of a loss row's window)
# Seconds between a proxy's connection reports, and the fixed window grid of ConnectionRows.
CONNECTION_REPORT_S = 10
# How far back from a time a reader looks for each proxy edge's latest report: three reports,
# so one late or lost report changes nothing, and a proxy gone silent stops counting after it.
CONNECTION_LOOKBACK_S = 3 * CONNECTION_REPORT_S


@dataclass(frozen=True, slots=True)
class EdgeWindowRow:
    """Cumulative counts of one edge in one fixed window, from one chunk of one partition."""

    window_start_s: int  # Unix seconds, multiple of window_s
    window_s: int  # window length, seconds
    direction: str  # "in", "out" or "unknown"
    source: str  # peer text (schemas.identity): `ns/kind/name` or the unmeshed peer form
    source_namespace: str  # empty for unmeshed peers
    source_kind: str
    source_name: str
    source_meshed: bool
    destination: str
    destination_namespace: str
    destination_kind: str
    destination_name: str
    destination_meshed: bool
    partition: int  # Kafka partition of meshpipe.requests.v1
    first_offset: int  # first offset of the chunk the records came from (part of the key)
    version: int  # highest offset folded into this snapshot (ReplacingMergeTree version)
    requests: int  # count
    successes: int  # count
    failures: int  # count
    status_4xx: int  # count of http_status 400..499
    status_5xx: int  # count of http_status 500..599
    grpc_failures: int  # count of gRPC statuses that Linkerd counts as failures
    request_bytes: int  # bytes, sum of body bytes
    response_bytes: int  # bytes, sum of body bytes
    latency_sum_us: int  # microseconds, sum of latency_us
    duration_sum_us: int  # microseconds, sum of duration_us
    latency_buckets: tuple[int, ...]  # bucket indices on the shared grid, ascending
    latency_counts: tuple[int, ...]  # counts, aligned with latency_buckets
    duration_buckets: tuple[int, ...]
    duration_counts: tuple[int, ...]


class RequestRow(NamedTuple):
    """One RequestEvent with every field flattened into columns; key (partition, offset,
    batch_index)."""

    partition: int
    offset: int
    id: str  # 32 hex digits
    proxy_id: str
    proxy_seq: int
    direction: str  # "in", "out" or "unknown"
    source_namespace: str
    source_kind: str
    source_name: str
    source_pod: str
    source_ip: str
    source_port: int
    source_meshed: bool
    source_authority: str
    destination_namespace: str
    destination_kind: str
    destination_name: str
    destination_pod: str
    destination_ip: str
    destination_port: int
    destination_meshed: bool
    destination_authority: str
    protocol: str  # "http1", "http2", "grpc", "opaque_tcp" or "unknown"
    method: str
    scheme: str
    authority: str
    path: str
    http_status: int  # 0 when no response head was received
    grpc_status: int  # -1 when the exchange did not end with a gRPC status
    reset_code: int  # -1 when the stream was not reset
    error_kind: str  # proxy error kind, empty when none
    error_message: str
    start_us: int  # Unix microseconds
    latency_us: int  # microseconds
    duration_us: int  # microseconds
    request_bytes: int  # bytes
    response_bytes: int  # bytes
    tls: bool
    trace_id: str
    classification: str  # "success", "failure" or "unknown"
    classification_reason: str
    header_names: tuple[str, ...]
    header_values: tuple[str, ...]
    batch_index: int = 0  # the event's position in its Kafka record (0 for a one-event record)


class RequestColumns(Sequence[RequestRow]):
    """Raw rows held column by column: one list per RequestRow field, all of one length.

    Workers add a record's events a column at a time and the writer hands these lists to the
    ClickHouse client as they are, so no Python object is made per event and nothing is
    turned from rows into columns. Read as a sequence it gives RequestRows (tests, the
    in-memory sink, anything that wants rows).
    """

    __slots__ = ("columns",)

    def __init__(self, columns: list[list[Any]] | None = None) -> None:
        self.columns = columns if columns is not None else [[] for _ in RequestRow._fields]
        if len(self.columns) != _REQUEST_FIELDS:
            raise ValueError(f"{len(self.columns)} columns, RequestRow has {_REQUEST_FIELDS}")

    @classmethod
    def of(cls, rows: Iterable[RequestRow]) -> RequestColumns:
        """The columns of these rows."""
        out = cls()
        for row in rows:
            out.append(row)
        return out

    @classmethod
    def joined(cls, parts: Sequence[RequestColumns]) -> RequestColumns:
        """These parts one after the other (each list built once)."""
        if len(parts) == 1:
            return parts[0]
        columns: list[list[Any]] = [[] for _ in range(_REQUEST_FIELDS)]
        for part in parts:  # list += list copies in C; a chained iterator goes value by value
            for column, values in zip(columns, part.columns, strict=True):
                column += values
        return cls(columns)

    def append(self, row: RequestRow) -> None:
        """Add one row at the end."""
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)

    def __len__(self) -> int:
        return len(self.columns[0])

    @overload
    def __getitem__(self, index: int) -> RequestRow: ...

    @overload
    def __getitem__(self, index: slice) -> RequestColumns: ...

    def __getitem__(self, index: int | slice) -> RequestRow | RequestColumns:
        if isinstance(index, slice):
            return RequestColumns([column[index] for column in self.columns])
        return RequestRow._make(column[index] for column in self.columns)

    def __iter__(self) -> Iterator[RequestRow]:
        return map(RequestRow._make, zip(*self.columns, strict=True))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RequestColumns):
            return self.columns == other.columns
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RequestColumns({list(self)!r})"


_REQUEST_FIELDS = len(RequestRow._fields)

DIRECTION_BITS = {"in": 1, "out": 2}  # LossRow.proxy_directions


@dataclass(frozen=True, slots=True)
class LossRow:
    """Distinct proxy_seq values of one proxy seen in one window, in one chunk of one partition."""

    proxy_id: str
    window_start_s: int  # Unix seconds (window of the events' start time)
    window_s: int  # seconds
    partition: int
    first_offset: int  # part of the key, as for EdgeWindowRow
    version: int  # highest offset folded in
    events: int  # distinct proxy_seq values seen
    duplicates: int  # events whose proxy_seq was already seen in this chunk
    seq_min: int
    seq_max: int
    # The proxy's own workload (the destination of its inbound events, the source of its
    # outbound ones), so that meshstat finds a resource's proxies without reading requests.
    proxy_namespace: str = ""
    proxy_kind: str = ""
    proxy_name: str = ""
    proxy_pod: str = ""
    proxy_directions: int = 0  # DIRECTION_BITS of the events seen: 1 inbound, 2 outbound


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    """One proxy's connections on one edge in one report window, from one chunk of one partition."""

    window_start_s: int  # Unix seconds, multiple of CONNECTION_REPORT_S, by the report's time
    report_us: int  # Unix microseconds: time of the latest report folded in
    proxy_id: str
    direction: str  # "in", "out" or "unknown"
    source: str  # peer text, as in EdgeWindowRow
    source_namespace: str
    source_kind: str
    source_name: str
    source_pod: str  # the proxy's pod when the source is the proxy's side (outbound), else empty
    source_meshed: bool
    destination: str
    destination_namespace: str
    destination_kind: str
    destination_name: str
    destination_pod: str  # the proxy's pod when inbound, else empty
    destination_meshed: bool
    partition: int
    first_offset: int  # part of the key, as for EdgeWindowRow
    version: int  # highest offset folded in
    open_connections: int  # count open at report_us (the latest report's gauge)
    opened: int  # count, summed over the reports folded in
    closed: int  # count, summed over the reports folded in


@dataclass(frozen=True, slots=True)
class RowBatch:
    """Rows of one flush; storing all of them acknowledges the offsets the flush covers."""

    edge_windows: tuple[EdgeWindowRow, ...] = ()
    requests: Sequence[RequestRow] = ()  # made a RequestColumns (unless it is one already)
    losses: tuple[LossRow, ...] = ()
    connections: tuple[ConnectionRow, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.requests, RequestColumns):
            object.__setattr__(self, "requests", RequestColumns.of(self.requests))

    @property
    def request_columns(self) -> RequestColumns:
        """The raw rows, column by column."""
        return cast(RequestColumns, self.requests)

    def __len__(self) -> int:
        return (
            len(self.edge_windows) + len(self.requests) + len(self.losses) + len(self.connections)
        )

    def merged(self, other: RowBatch) -> RowBatch:
        """This batch followed by another."""
        return RowBatch.joined((self, other))

    @staticmethod
    def joined(batches: Sequence[RowBatch]) -> RowBatch:
        """These batches one after the other, each table's rows copied once."""
        return RowBatch(
            tuple(chain.from_iterable(b.edge_windows for b in batches)),
            RequestColumns.joined([b.request_columns for b in batches if len(b.requests)]),
            tuple(chain.from_iterable(b.losses for b in batches)),
            tuple(chain.from_iterable(b.connections for b in batches)),
        )


class RowSink(Protocol):
    """Stores row batches; the awaitable returned by `submit` resolves once the rows are durable.

    `submit` itself may wait (backpressure) while the sink's queue is full. The completion raises
    if the batch can never be stored; a sink that retries transient failures keeps it pending.
    """

    async def submit(self, batch: RowBatch) -> Awaitable[None]:
        """Queue a batch for storage; return its completion."""
        ...


@dataclass
class MemoryRowSink:
    """A RowSink in memory for tests, with ReplacingMergeTree semantics on the row keys.

    With `hold=True` completions stay pending until `release()`, to test that nothing is
    committed before the store acknowledged it.
    """

    hold: bool = False
    edge_windows: dict[tuple[object, ...], EdgeWindowRow] = field(default_factory=dict)
    requests: dict[tuple[int, int, int], RequestRow] = field(default_factory=dict)
    losses: dict[tuple[object, ...], LossRow] = field(default_factory=dict)
    connections: dict[tuple[object, ...], ConnectionRow] = field(default_factory=dict)
    batches: int = 0
    _held: list[tuple[RowBatch, asyncio.Future[None]]] = field(default_factory=list)

    async def submit(self, batch: RowBatch) -> Awaitable[None]:
        """Store (or hold) the batch; the completion resolves when stored."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.hold:
            self._held.append((batch, done))
        else:
            self.store(batch)
            done.set_result(None)
        return done

    def release(self) -> None:
        """Store every held batch and resolve its completion."""
        held, self._held = self._held, []
        for batch, done in held:
            self.store(batch)
            done.set_result(None)

    def store(self, batch: RowBatch) -> None:
        """Apply a batch with replacing semantics (highest version per key wins)."""
        self.batches += 1
        for window in batch.edge_windows:
            _replace(self.edge_windows, edge_window_key(window), window)
        for request in batch.requests:
            self.requests[(request.partition, request.offset, request.batch_index)] = request
        for loss in batch.losses:
            _replace(self.losses, loss_key(loss), loss)
        for gauge in batch.connections:
            _replace(self.connections, connection_key(gauge), gauge)


def edge_window_key(row: EdgeWindowRow) -> tuple[object, ...]:
    """The replacing key of an edge window row."""
    return (
        row.direction,
        row.source,
        row.destination,
        row.window_start_s,
        row.partition,
        row.first_offset,
    )


def loss_key(row: LossRow) -> tuple[object, ...]:
    """The replacing key of a loss row."""
    return (row.proxy_id, row.window_start_s, row.partition, row.first_offset)


def connection_key(row: ConnectionRow) -> tuple[object, ...]:
    """The replacing key of a connection row."""
    return (
        row.proxy_id,
        row.direction,
        row.source,
        row.destination,
        row.window_start_s,
        row.partition,
        row.first_offset,
    )


_Versioned = TypeVar("_Versioned", EdgeWindowRow, LossRow, ConnectionRow)


def _replace(
    table: dict[tuple[object, ...], _Versioned], key: tuple[object, ...], row: _Versioned
) -> None:
    current = table.get(key)
    if current is None or row.version >= current.version:
        table[key] = row
