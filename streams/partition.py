"""All aggregation state of one partition: edge windows, loss segments and pending raw rows.

`fold` takes the partition's records in offset order; `flush` cuts a consistent snapshot (every
changed row up to the latest record) and the offset that may be committed once the store has
acknowledged that snapshot and all earlier ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.decode import ValidEvent
from streams.loss import LossTracker
from streams.rawrows import request_row
from streams.rows import RequestRow, RowBatch
from streams.segments import EventTimeTrack, safe_offset
from streams.windows import BucketFn, EdgeWindows, WindowSettings, start_ns


@dataclass(frozen=True, slots=True)
class PartitionFlush:
    """A snapshot of one partition and the offset it makes committable."""

    partition: int
    batch: RowBatch
    commit_offset: int | None  # None when nothing was consumed yet


class PartitionState:
    """Folds one partition's records; see streams.windows for the exactly-once argument."""

    def __init__(self, partition: int, settings: WindowSettings, bucket: BucketFn) -> None:
        self.partition = partition
        self._track = EventTimeTrack()
        self.windows = EdgeWindows(partition, settings, bucket, self._track)
        self.loss = LossTracker(partition, settings, self._track)
        self._raw: list[RequestRow] = []
        self._next_offset: int | None = None

    @property
    def pending_rows(self) -> int:
        """Raw rows folded but not yet flushed."""
        return len(self._raw)

    @property
    def next_offset(self) -> int | None:
        """The offset after the latest record folded."""
        return self._next_offset

    def fold(self, offset: int, valid: ValidEvent | None) -> None:
        """Fold the record at offset; None for a record that was dead-lettered or skipped."""
        if self._next_offset is not None and offset < self._next_offset:
            raise ValueError(
                f"partition {self.partition}: offset {offset} after {self._next_offset - 1}"
            )
        self._next_offset = offset + 1
        if valid is None:
            return
        event = valid.event
        self._track.add(offset, start_ns(event))
        self.windows.add(offset, event, valid.edge)
        self.loss.add(offset, event)
        self._raw.append(request_row(self.partition, offset, event))

    def flush(self) -> PartitionFlush:
        """Rows changed since the last flush, and the offset committable once they are stored."""
        batch = RowBatch(
            edge_windows=tuple(self.windows.snapshot()),
            requests=tuple(self._raw),
            losses=tuple(self.loss.snapshot()),
        )
        self._raw = []
        if self._next_offset is None:
            return PartitionFlush(self.partition, batch, None)
        tables = (self.windows.table, self.loss.table)
        firsts = [first for table in tables for first in table.open_firsts()]
        spans = [span for table in tables for span in table.spans()]
        commit = safe_offset(self._next_offset, firsts, spans)
        for table in tables:
            table.forget_spans_before(commit)
        self._track.trim(min([self._next_offset, *firsts]))
        return PartitionFlush(self.partition, batch, commit)
