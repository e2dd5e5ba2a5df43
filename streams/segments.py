"""Per-partition segmented accumulators that a replay from a safe offset rebuilds identically.

A *segment* is one accumulator for one key (an edge window, a proxy window) holding the records
of one partition from its `first` offset on. It closes when the largest event time among the
partition's records *since its first offset* reaches its deadline (window end + grace). Because
closing depends only on records at offsets >= `first`, replaying the partition from any offset
<= `first` makes exactly the same segments with exactly the same contents, whatever happened
before. A record for a key whose segment closed opens a new segment (keyed by its own first
offset), so late records are still counted exactly, never dropped.

`safe_offset` gives the offset a worker may commit: no open segment starts before it and no
closed segment straddles it, so after a restart from there every segment holding a replayed
record is rebuilt from its very first record and rewrites its rows (same key, same version,
same contents) instead of adding to them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
A = TypeVar("A")
_COMPACT_AT = 4096


class EventTimeTrack:
    """The maximum event time over the records from a given offset up to the latest one."""

    def __init__(self) -> None:
        # Suffix maxima: offsets ascending, times strictly descending, from index _head on.
        self._offsets: list[int] = []
        self._times: list[int] = []
        self._head = 0

    def add(self, offset: int, event_time: int) -> None:
        """Record the event time of the record at offset (offsets must ascend)."""
        while len(self._times) > self._head and self._times[-1] <= event_time:
            self._times.pop()
            self._offsets.pop()
        self._offsets.append(offset)
        self._times.append(event_time)

    def max_since(self, first: int) -> int | None:
        """The largest event time of the records at offsets >= first, None when there are none."""
        index = bisect_left(self._offsets, first, lo=self._head)
        return self._times[index] if index < len(self._times) else None

    def trim(self, before: int) -> None:
        """Forget what only queries for offsets < before would need."""
        self._head = bisect_left(self._offsets, before, lo=self._head)
        if self._head >= _COMPACT_AT and self._head * 2 >= len(self._offsets):
            del self._offsets[: self._head]
            del self._times[: self._head]
            self._head = 0


@dataclass(slots=True)
class Segment(Generic[A]):
    """One accumulator and the offsets and deadline it covers."""

    first: int  # offset of its first record
    last: int  # offset of its latest record: the version of its snapshot rows
    deadline: int  # event time at which it closes (same unit as the track's times)
    acc: A
    dirty: bool = True  # changed since its last snapshot


class SegmentTable(Generic[K, A]):
    """The segments of one partition for one kind of key."""

    def __init__(self, track: EventTimeTrack, new_acc: Callable[[], A]) -> None:
        self._track = track
        self._new_acc = new_acc
        self._open: dict[K, Segment[A]] = {}
        self._finals: list[tuple[K, Segment[A]]] = []  # closed with an unsent last snapshot
        self._spans: list[tuple[int, int]] = []  # (first, last) of closed segments

    def __len__(self) -> int:
        return len(self._open)

    def accumulator(self, key: K, offset: int, deadline: int) -> A:
        """The accumulator the record at offset folds into (opening a segment if needed)."""
        segment = self._open.get(key)
        if segment is not None and self._expired(segment):
            del self._open[key]
            self._close(key, segment)
            segment = None
        if segment is None:
            segment = Segment(first=offset, last=offset, deadline=deadline, acc=self._new_acc())
            self._open[key] = segment
        segment.last = offset
        segment.dirty = True
        return segment.acc

    def snapshot(self) -> list[tuple[K, Segment[A]]]:
        """Segments changed since the last snapshot (closed ones included); evicts closed ones.

        The caller must turn the returned accumulators into rows before folding more records.
        """
        for key, segment in [item for item in self._open.items() if self._expired(item[1])]:
            del self._open[key]
            self._close(key, segment)
        changed, self._finals = self._finals, []
        changed.extend((key, seg) for key, seg in self._open.items() if seg.dirty)
        for _, segment in changed:
            segment.dirty = False
        return changed

    def open_firsts(self) -> Iterable[int]:
        """First offsets of the open segments."""
        return (segment.first for segment in self._open.values())

    def spans(self) -> list[tuple[int, int]]:
        """(first, last) offsets of the closed segments still relevant for commits."""
        return list(self._spans)

    def forget_spans_before(self, offset: int) -> None:
        """Drop closed spans that end before offset: no later safe offset can straddle them."""
        self._spans = [span for span in self._spans if span[1] >= offset]

    def _expired(self, segment: Segment[A]) -> bool:
        newest = self._track.max_since(segment.first)
        return newest is not None and newest >= segment.deadline

    def _close(self, key: K, segment: Segment[A]) -> None:
        self._spans.append((segment.first, segment.last))
        if segment.dirty:
            self._finals.append((key, segment))


def safe_offset(
    next_offset: int, open_firsts: Iterable[int], spans: Iterable[tuple[int, int]]
) -> int:
    """The largest offset <= next_offset that no open segment precedes and no span straddles.

    A span (first, last) straddles c when first < c <= last. Lowering c to a span's first can
    only create straddles with spans that start earlier, so one pass by descending first does.
    """
    candidate = min([next_offset, *open_firsts])
    for first, last in sorted(spans, reverse=True):
        if first < candidate <= last:
            candidate = first
    return candidate
