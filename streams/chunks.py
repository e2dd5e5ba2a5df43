"""Cutting a partition into chunks that a replay from a chunk's first offset rebuilds identically.

A *chunk* is a run of consecutive records of one partition. Whether a record starts a new chunk
depends only on the records of the current chunk (the events they hold and the Kafka timestamp
of its first record), never on the wall clock or on flush timing; a record, batch or not, is
never split between chunks. Every row a worker writes is keyed by the
first offset of the chunk its records came from and versioned by the offset of its latest
record, and offsets are committed only at chunk starts, after the store acknowledged every row
of the earlier chunks. A worker that resumes from a commit therefore starts at the first record
of a chunk and rebuilds that chunk and every later one from scratch: same keys, same versions,
same contents, so rows are replaced, never added to. Earlier chunks are final.

Chunks never overlap, so the committed offset advances however much event times interleave
(late events, clock skew); a crash replays at most one chunk per partition. Within a chunk, one
accumulator per key (an edge window, a proxy window) collects its records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class ChunkSettings:
    """When a chunk ends: the replay length after a crash and how far commits trail the stream."""

    max_records: int = 20_000  # events per chunk (dead-lettered ones included); a batch record
    # that starts below the limit ends the chunk whole
    max_age_s: float = 30.0  # Kafka-timestamp span of a chunk, seconds

    def __post_init__(self) -> None:
        if self.max_records < 1:
            raise ValueError(f"chunks need at least 1 record, got {self.max_records}")
        if self.max_age_s <= 0:
            raise ValueError(f"chunk age must be positive, got {self.max_age_s}")


class Chunker:
    """Tracks the current chunk of a partition and decides where the next one starts."""

    def __init__(self, settings: ChunkSettings) -> None:
        self.settings = settings
        self.first: int | None = None  # offset of the current chunk's first record
        self._first_ms = 0
        self._records = 0

    def starts_chunk(self, offset: int, timestamp_ms: int, events: int = 1) -> bool:
        """Account for the record at offset holding `events` events; True when it is the first
        of a new chunk."""
        fresh = (
            self.first is None
            or self._records >= self.settings.max_records
            or timestamp_ms - self._first_ms >= self.settings.max_age_s * 1000
        )
        if fresh:
            self.first, self._first_ms, self._records = offset, timestamp_ms, 0
        self._records += events
        return fresh


@dataclass(slots=True)
class Entry(Generic[A]):
    """One key's accumulator in the current chunk."""

    acc: A
    last: int  # offset of its latest record: the version of its rows
    dirty: bool = True  # changed since its last snapshot


class ChunkTable(Generic[K, A]):
    """The accumulators of the current chunk for one kind of key."""

    def __init__(self, new_acc: Callable[[], A]) -> None:
        self._new_acc = new_acc
        self._entries: dict[K, Entry[A]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def accumulator(self, key: K, offset: int) -> A:
        """The accumulator the record at offset folds into."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = Entry(self._new_acc(), offset)
        entry.last = offset
        entry.dirty = True
        return entry.acc

    def snapshot(self) -> list[tuple[K, Entry[A]]]:
        """Entries changed since the last snapshot (turn them into rows before folding more)."""
        changed = [(key, entry) for key, entry in self._entries.items() if entry.dirty]
        for _, entry in changed:
            entry.dirty = False
        return changed

    def clear(self) -> None:
        """Forget every entry (the chunk ended and its last snapshot was taken)."""
        self._entries.clear()
