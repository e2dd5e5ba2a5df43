"""The stream worker's core without Faust: partition states, flushes to the RowSink, safe commits.

The Faust app feeds records in and produces the dead letters and tap events this returns; all
decisions about what is stored and which offsets are committed live here, so they are testable
in memory. Flushes run one at a time: cut every partition, submit one batch, await the sink's
acknowledgement, then commit each partition's safe offset, but only if the partition is still
owned by the same state that was cut (a rebalance in between discards the commit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from meshpipe.schemas.clock import WallClock
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.rows import RowBatch, RowSink
from meshpipe.streams.chunks import ChunkSettings
from meshpipe.streams.decode import (
    EdgeMemo,
    InvalidRecordError,
    Record,
    RecordEvents,
    ValidEvent,
    dead_letter,
    decode_record,
    event_dead_letter,
)
from meshpipe.streams.partition import PartitionState
from meshpipe.streams.tap import TapSessions
from meshpipe.streams.windows import BucketFn, WindowSettings

CommitFn = Callable[[Mapping[int, int]], Awaitable[None]]  # partition -> next offset to read
SendFn = Callable[[bytes | None, bytes], Awaitable[None]]  # (key, value) delivered to a topic
NANOS = 1_000_000_000
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where handled records send what they produce; each call returns once it is delivered."""

    dead_letter: SendFn
    tap: SendFn


@dataclass(frozen=True, slots=True)
class WorkerCore:
    """What the worker needs that does not change while it runs."""

    name: str  # shows in dead letters
    windows: WindowSettings
    bucket: BucketFn
    max_pending_rows: int = 50_000  # raw rows held in memory before a record waits for a flush
    chunks: ChunkSettings = field(default_factory=ChunkSettings)


class Worker:
    """Partition states, tap sessions and the flush-then-commit cycle of one worker."""

    def __init__(self, core: WorkerCore, sink: RowSink, commit: CommitFn, clock: WallClock) -> None:
        self.core = core
        self.sessions = TapSessions(clock)
        self._sink = sink
        self._commit = commit
        self._clock = clock
        self._states: dict[int, PartitionState] = {}
        self._edges = EdgeMemo()
        self._flush_lock = asyncio.Lock()
        self.committed: dict[int, int] = {}
        self.assignments = 0  # partition assignments received so far (rebalances + 1)
        self.dead_letters = 0  # dead letters sent since this worker started (records or events)

    def assign(self, partitions: Iterable[int], total: int) -> None:
        """Own exactly these partitions; newly owned ones start fresh from the committed offset."""
        wanted = set(partitions)
        for partition in set(self._states) - wanted:
            del self._states[partition]
            self.committed.pop(partition, None)
        for partition in wanted - set(self._states):
            self._states[partition] = PartitionState(
                partition, self.core.windows, self.core.bucket, self.core.chunks
            )
        self.sessions.set_share(len(wanted), total)
        self.assignments += 1

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions another worker now owns (it replays from their committed offsets)."""
        for partition in partitions:
            self._states.pop(partition, None)
            self.committed.pop(partition, None)

    def decode(self, record: Record) -> RecordEvents | meshpipe_pb2.DeadLetter:
        """The events of a record (valid ones, invalid ones), or the dead letter for all of it."""
        try:
            return decode_record(record, self._edges)
        except InvalidRecordError as exc:
            return dead_letter(record, str(exc), self.core.name, int(self._clock() * NANOS))

    def letters(self, record: Record, events: RecordEvents) -> list[meshpipe_pb2.DeadLetter]:
        """One dead letter per invalid event of a batch record."""
        failed_ns = int(self._clock() * NANOS)
        return [event_dead_letter(record, bad, self.core.name, failed_ns) for bad in events.invalid]

    def fold(self, record: Record, events: RecordEvents | None) -> list[meshpipe_pb2.TapEvent]:
        """Fold a record's valid events (None once the dead letter of the whole record is
        delivered); return their tap matches (requests only: a connection report is nothing to
        tap).

        Records of partitions this worker does not own, or older than what was folded
        (redelivered around a rebalance), are ignored.
        """
        state = self._states.get(record.partition)
        if state is None or (state.next_offset is not None and record.offset < state.next_offset):
            return []
        if events is None:
            state.fold(record.offset, (), record.timestamp_ms)
            return []
        state.fold(record.offset, events.valid, record.timestamp_ms, events.count, events.uniform)
        if not len(self.sessions):
            return []
        matches: list[meshpipe_pb2.TapEvent] = []
        for _, valid in events.valid:
            if isinstance(valid, ValidEvent):
                matches += self.sessions.match(valid.event)
        return matches

    async def handle(
        self, record: Record, fetched_in: int | None, generation: Callable[[], int], out: Outputs
    ) -> None:
        """Decode, dead-letter or fold one record, and send its tap matches.

        fetched_in is the consumer generation the record was fetched in, generation() the
        current one. A record fetched before a rebalance is skipped: the new assignment seeks
        to the committed offsets, so it comes again; folding it now could start a fresh
        partition state past the committed offset. The check is repeated after the dead
        letters' sends, right before the fold (no await in between). A rebalance during those
        sends delivers them again with the redelivered record (at least once).
        """
        if fetched_in != generation():
            return
        decoded = self.decode(record)
        if isinstance(decoded, meshpipe_pb2.DeadLetter):
            letters, events = [decoded], None
        else:
            letters, events = self.letters(record, decoded), decoded
        for letter in letters:  # delivered before the record's offset commits
            log.warning(
                "dead letter %s/%d%s: %s",
                record.topic,
                record.offset,
                f"[{letter.batch_index}]" if letter.HasField("batch_index") else "",
                letter.reason,
            )
            await out.dead_letter(record.key, letter.SerializeToString())
            self.dead_letters += 1
        if letters and fetched_in != generation():
            return
        for tap_event in self.fold(record, events):
            await out.tap(tap_event.session_id.encode(), tap_event.SerializeToString())

    def health(self) -> dict[str, object]:
        """What the health page shows: owned partitions, committed offsets, backlog, sessions."""
        return {
            "assignments": self.assignments,
            "partitions": sorted(self._states),
            "positions": {
                str(p): state.next_offset
                for p, state in sorted(self._states.items())
                if state.next_offset is not None
            },
            "committed": {str(p): o for p, o in sorted(self.committed.items())},
            "backlog": self.backlog(),
            "tap_sessions": len(self.sessions),
            "dead_letters": self.dead_letters,
        }

    def backlog(self) -> int:
        """Raw rows waiting for the next flush."""
        return sum(state.pending_rows for state in self._states.values())

    async def wait_for_room(self) -> None:
        """Flush first when too many rows are waiting (backpressure while the store is slow)."""
        if self.backlog() >= self.core.max_pending_rows:
            await self.flush()

    async def flush(self) -> Mapping[int, int]:
        """Store a snapshot of every partition, then commit the offsets it covers."""
        async with self._flush_lock:
            cut = [(state, state.flush()) for state in list(self._states.values())]
            batch = RowBatch.joined([flushed.batch for _, flushed in cut])
            if len(batch):
                await (await self._sink.submit(batch))
            offsets = {
                state.partition: flushed.commit_offset
                for state, flushed in cut
                if flushed.commit_offset is not None
                and self._states.get(state.partition) is state
                and flushed.commit_offset > self.committed.get(state.partition, -1)
            }
            if offsets:
                await self._commit(offsets)
                self.committed.update(offsets)
            return offsets
