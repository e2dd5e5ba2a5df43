"""Loss accounting: the `proxy_seq` values each proxy delivered, as replay-safe rows, and gaps.

A proxy numbers its events 1, 2, 3, ... without gaps, but its events are keyed by edge, so one
proxy's events are spread over many partitions and no single worker sees all of them. Each
partition therefore records, per proxy and event-time window, the *distinct* sequence numbers it
saw (count, min, max) in the same chunks as the edge windows (`streams.chunks`), which makes
the rows exact under replay: a replayed record rebuilds its chunk's row instead of adding to it.

Events of one proxy in different partitions are different events, so summing the per-partition
counts is exact, and for a proxy

    lost = max(seq_max) - min(seq_min) + 1 - sum(events)

over all its rows (`count_loss` here; the same expression in SQL). Out-of-order arrival changes
nothing; a duplicate delivery of one sequence number (a producer retry) within a chunk is
counted in `duplicates`, not in `events`, so it neither hides nor invents a gap (one that lands
in another chunk counts as an event and hides one lost event). Over a time
range, events near the edges whose neighbours fall outside the range make the count approximate;
over a proxy's whole life it is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.rows import DIRECTION_BITS, LossRow
from meshpipe.streams.chunks import ChunkTable, Entry
from meshpipe.streams.windows import WindowSettings, start_ns


@dataclass(slots=True)
class SeqSeen:
    """The distinct sequence numbers of one proxy in one window of one chunk."""

    seqs: set[int] = field(default_factory=set)
    duplicates: int = 0
    owner: tuple[str, str, str, str] | None = None  # the proxy's workload: ns, kind, name, pod
    directions: int = 0  # DIRECTION_BITS of the events seen

    def add(self, seq: int) -> None:
        """Note one sequence number."""
        if seq in self.seqs:
            self.duplicates += 1
        else:
            self.seqs.add(seq)


LossKey = tuple[str, int]  # (proxy_id, window_start_s)


class LossTracker:
    """The proxy sequence numbers in one partition's current chunk."""

    def __init__(self, partition: int, settings: WindowSettings) -> None:
        self.partition = partition
        self.settings = settings
        self.table: ChunkTable[LossKey, SeqSeen] = ChunkTable(SeqSeen)

    def add(self, offset: int, event: meshpipe_pb2.RequestEvent) -> None:
        """Note the sequence number of the valid event at offset."""
        window = self.settings.window_start_s(start_ns(event))
        self.add_record(offset, ((event, window),))

    def add_record(
        self, offset: int, events: Iterable[tuple[meshpipe_pb2.RequestEvent, int]]
    ) -> None:
        """Note the sequence numbers of the valid events of the record at offset, each with its
        window; a key is looked up once per run of events that share it."""
        last: LossKey | None = None
        seen = SeqSeen()
        for event, window in events:
            key = (event.proxy_id, window)
            if key != last:
                seen, last = self.table.accumulator(key, offset), key
            seen.add(event.proxy_seq)
            seen.directions |= (
                _INBOUND_BIT if event.direction == meshpipe_pb2.INBOUND else _OUTBOUND_BIT
            )
            if seen.owner is None:
                seen.owner = _owner(event)

    def add_uniform(
        self,
        offset: int,
        first: meshpipe_pb2.RequestEvent,
        proxy_id: str,
        windows: list[int],
        seqs: list[int],
    ) -> None:
        """What add_record does for the events of a uniform record (one proxy, direction and
        workloads, so `first` stands for all): their windows and sequence numbers, in order."""
        bit = _INBOUND_BIT if first.direction == meshpipe_pb2.INBOUND else _OUTBOUND_BIT
        start = 0
        n = len(windows)
        while start < n:  # one run per window, as add_record looks keys up
            window = windows[start]
            end = start + 1
            while end < n and windows[end] == window:
                end += 1
            seen = self.table.accumulator((proxy_id, window), offset)
            run = seqs[start:end]
            before = len(seen.seqs)
            seen.seqs.update(run)
            seen.duplicates += len(run) - (len(seen.seqs) - before)
            seen.directions |= bit
            if seen.owner is None:
                seen.owner = _owner(first)
            start = end

    def snapshot(self, chunk_first: int) -> list[LossRow]:
        """Rows for every (proxy, window) changed since the last snapshot."""
        return [self._row(key, entry, chunk_first) for key, entry in self.table.snapshot()]

    def _row(self, key: LossKey, entry: Entry[SeqSeen], chunk_first: int) -> LossRow:
        proxy_id, window = key
        seen = entry.acc
        owner = seen.owner or _UNKNOWN
        return LossRow(
            proxy_id=proxy_id,
            window_start_s=window,
            window_s=self.settings.window_s,
            partition=self.partition,
            first_offset=chunk_first,
            version=entry.last,
            events=len(seen.seqs),
            duplicates=seen.duplicates,
            seq_min=min(seen.seqs),
            seq_max=max(seen.seqs),
            proxy_namespace=owner[0],
            proxy_kind=owner[1],
            proxy_name=owner[2],
            proxy_pod=owner[3],
            proxy_directions=seen.directions,
        )


_UNKNOWN = ("", "", "", "")
_INBOUND_BIT, _OUTBOUND_BIT = DIRECTION_BITS["in"], DIRECTION_BITS["out"]


def _owner(event: meshpipe_pb2.RequestEvent) -> tuple[str, str, str, str]:
    """The workload of the proxy that reported event: its inbound destination or outbound source."""
    own = event.destination if event.direction == meshpipe_pb2.INBOUND else event.source
    return (own.namespace, own.kind, own.name, own.pod) if own.meshed else _UNKNOWN


@dataclass(frozen=True, slots=True)
class ProxyLoss:
    """What the rows of one proxy say about its sequence numbers."""

    proxy_id: str
    seq_min: int
    seq_max: int
    received: int  # distinct sequence numbers seen
    lost: int  # sequence numbers between seq_min and seq_max never seen
    duplicates: int


def count_loss(rows: Iterable[LossRow]) -> dict[str, ProxyLoss]:
    """Per proxy, the lost events the (latest-version) rows imply."""
    bounds: dict[str, tuple[int, int, int, int]] = {}
    for row in rows:
        low, high, received, dups = bounds.get(row.proxy_id, (row.seq_min, row.seq_max, 0, 0))
        bounds[row.proxy_id] = (
            min(low, row.seq_min),
            max(high, row.seq_max),
            received + row.events,
            dups + row.duplicates,
        )
    return {
        proxy: ProxyLoss(proxy, low, high, received, high - low + 1 - received, dups)
        for proxy, (low, high, received, dups) in bounds.items()
    }
