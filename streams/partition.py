"""All aggregation state of one partition: its current chunk's edge windows, losses, connection
gauges and raw rows.

`fold` takes the partition's records in offset order; `flush` cuts a consistent snapshot (the
final rows of chunks that ended, the changed rows of the current chunk, the raw rows) and the
offset that may be committed once the store has acknowledged that snapshot and all earlier ones:
the current chunk's first offset (see `streams.chunks` for why that makes totals exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.rows import ConnectionRow, EdgeWindowRow, LossRow, RequestColumns, RowBatch
from meshpipe.streams.chunks import Chunker, ChunkSettings
from meshpipe.streams.connections import ConnectionGauges
from meshpipe.streams.decode import Decoded, UniformRecord, ValidReport
from meshpipe.streams.loss import LossTracker
from meshpipe.streams.rawrows import add_requests
from meshpipe.streams.windows import BucketFn, EdgeWindows, Placed, WindowSettings


@dataclass(frozen=True, slots=True)
class PartitionFlush:
    """A snapshot of one partition and the offset it makes committable."""

    partition: int
    batch: RowBatch
    commit_offset: int | None  # None when nothing was consumed yet


class PartitionState:
    """Folds one partition's records into chunks and cuts replay-safe snapshots."""

    def __init__(
        self,
        partition: int,
        settings: WindowSettings,
        bucket: BucketFn,
        chunks: ChunkSettings | None = None,
    ) -> None:
        self.partition = partition
        self.windows = EdgeWindows(partition, settings, bucket)
        self.loss = LossTracker(partition, settings)
        self.connections = ConnectionGauges(partition)
        self._chunker = Chunker(chunks or ChunkSettings())
        self._raw = RequestColumns()
        self._final_windows: list[EdgeWindowRow] = []  # last rows of chunks that ended
        self._final_losses: list[LossRow] = []
        self._final_connections: list[ConnectionRow] = []
        self._next_offset: int | None = None

    @property
    def pending_rows(self) -> int:
        """Raw rows folded but not yet flushed."""
        return len(self._raw)

    @property
    def next_offset(self) -> int | None:
        """The offset after the latest record folded."""
        return self._next_offset

    @property
    def chunk_first(self) -> int | None:
        """The first offset of the current chunk (the offset a flush makes committable)."""
        return self._chunker.first

    def fold(
        self,
        offset: int,
        valid: Sequence[tuple[int, Decoded]],
        timestamp_ms: int = 0,
        events: int = 1,
        uniform: UniformRecord | None = None,
    ) -> None:
        """Fold the record at offset with its Kafka timestamp: its valid events with their
        positions in the record (none for a record dead-lettered whole), out of `events` in all;
        `uniform` when validation found them all requests of one proxy and edge (its values are
        then used instead of being read from each event again).

        A connection report only feeds the gauges: it is no request, and has no proxy_seq.
        """
        if self._next_offset is not None and offset < self._next_offset:
            raise ValueError(
                f"partition {self.partition}: offset {offset} after {self._next_offset - 1}"
            )
        previous = self._chunker.first
        if self._chunker.starts_chunk(offset, timestamp_ms, events) and previous is not None:
            self._end_chunk(previous)
        self._next_offset = offset + 1
        window_s = self.windows.settings.window_s
        if uniform is not None:
            self._fold_uniform(offset, valid, uniform)
            return
        placed: list[Placed] = []
        requests: list[tuple[int, meshpipe_pb2.RequestEvent]] = []
        for index, decoded in valid:
            event = decoded.event
            if isinstance(decoded, ValidReport):
                self.connections.add(offset, event, decoded.edge)
                continue
            seconds = event.start.seconds
            placed.append((event, decoded.edge, seconds - seconds % window_s))
            requests.append((index, event))
        if placed:
            add_requests(self._raw, self.partition, offset, requests)
            self.windows.add_record(offset, placed)
            self.loss.add_record(offset, ((event, window) for event, _, window in placed))

    def _fold_uniform(
        self, offset: int, valid: Sequence[tuple[int, Decoded]], uniform: UniformRecord
    ) -> None:
        """What fold does with a uniform record's events, from the values validation read."""
        window_s = self.windows.settings.window_s
        windows = [s - s % window_s for s in uniform.seconds]
        requests = [(index, decoded.event) for index, decoded in valid]
        events = [event for _, event in requests]
        edge = uniform.edge
        add_requests(self._raw, self.partition, offset, requests, uniform)
        self.windows.add_record(offset, zip(events, repeat(edge), windows))
        self.loss.add_uniform(offset, events[0], uniform.proxy_id, windows, uniform.seqs)

    def _end_chunk(self, first: int) -> None:
        self._final_windows.extend(self.windows.snapshot(first))
        self._final_losses.extend(self.loss.snapshot(first))
        self._final_connections.extend(self.connections.snapshot(first))
        self.windows.table.clear()
        self.loss.table.clear()
        self.connections.table.clear()

    def flush(self) -> PartitionFlush:
        """Rows changed since the last flush, and the offset committable once they are stored."""
        first = self._chunker.first
        if first is None:
            return PartitionFlush(self.partition, RowBatch(), None)
        batch = RowBatch(
            edge_windows=(*self._final_windows, *self.windows.snapshot(first)),
            requests=self._raw,
            losses=(*self._final_losses, *self.loss.snapshot(first)),
            connections=(*self._final_connections, *self.connections.snapshot(first)),
        )
        self._raw, self._final_windows, self._final_losses = RequestColumns(), [], []
        self._final_connections = []
        return PartitionFlush(self.partition, batch, first)
