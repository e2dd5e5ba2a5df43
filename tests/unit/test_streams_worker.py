"""Unit tests for streams.worker: offsets are committed only after the sink acknowledged."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from streams_events import BASE_S, make_event, record

from meshpipe.schemas import eventbatch
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.latency import bucket_index
from meshpipe.schemas.rows import MemoryRowSink
from meshpipe.streams.chunks import ChunkSettings
from meshpipe.streams.decode import Record, RecordEvents
from meshpipe.streams.windows import WindowSettings
from meshpipe.streams.worker import Outputs, Worker, WorkerCore

# Chunks of two records: commit points at offsets 0, 2, 4, ...
CORE = WorkerCore(
    "w1", WindowSettings(window_s=10), bucket_index, max_pending_rows=3, chunks=ChunkSettings(2)
)


class Commits:
    def __init__(self) -> None:
        self.calls: list[dict[int, int]] = []

    async def __call__(self, offsets: Mapping[int, int]) -> None:
        self.calls.append(dict(offsets))


def _worker(sink: MemoryRowSink, commits: Commits) -> Worker:
    worker = Worker(CORE, sink, commits, lambda: float(BASE_S))
    worker.assign([0, 1], total=2)
    return worker


def _feed(worker: Worker, partition: int, offsets: range, step_s: int = 20) -> None:
    for offset in offsets:
        event = make_event(start_ns=(BASE_S + offset * step_s) * 1_000_000_000, seq=offset + 1)
        rec = record(event.SerializeToString(), offset=offset, partition=partition)
        decoded = worker.decode(rec)
        assert isinstance(decoded, RecordEvents)
        worker.fold(rec, decoded)


async def test_commit_waits_for_sink_acknowledgement() -> None:
    sink, commits = MemoryRowSink(hold=True), Commits()
    worker = _worker(sink, commits)
    _feed(worker, 0, range(3))
    flushing = asyncio.ensure_future(worker.flush())
    await asyncio.sleep(0.01)
    assert commits.calls == []
    sink.release()
    assert await flushing == {0: 2}
    assert commits.calls == [{0: 2}]


async def test_commit_for_partition_revoked_during_flush_is_dropped() -> None:
    sink, commits = MemoryRowSink(hold=True), Commits()
    worker = _worker(sink, commits)
    _feed(worker, 0, range(3))
    _feed(worker, 1, range(3))
    flushing = asyncio.ensure_future(worker.flush())
    await asyncio.sleep(0.01)
    worker.revoke([1])
    sink.release()
    await flushing
    assert commits.calls == [{0: 2}]


async def test_invalid_record_becomes_dead_letter_and_is_committable() -> None:
    sink, commits = MemoryRowSink(), Commits()
    worker = _worker(sink, commits)
    for offset in range(3):
        rec = record(b"\xff\xff", offset=offset, partition=0)
        letter = worker.decode(rec)
        assert isinstance(letter, meshpipe_pb2.DeadLetter)
        assert letter.reason.startswith("undecodable")
        worker.fold(rec, None)
    assert await worker.flush() == {0: 2}


async def test_records_of_unowned_partition_are_ignored() -> None:
    sink, commits = MemoryRowSink(), Commits()
    worker = _worker(sink, commits)
    _feed(worker, 5, range(2))
    await worker.flush()
    assert sink.requests == {}


async def test_backlog_over_limit_triggers_flush() -> None:
    sink, commits = MemoryRowSink(), Commits()
    worker = _worker(sink, commits)
    _feed(worker, 0, range(3))
    await worker.wait_for_room()
    assert len(sink.requests) == 3
    assert worker.backlog() == 0


async def test_tap_matches_are_returned_from_fold() -> None:
    sink, commits = MemoryRowSink(), Commits()
    worker = _worker(sink, commits)
    session = meshpipe_pb2.TapSession(
        id="s1",
        filter=meshpipe_pb2.TapFilter(
            resource=meshpipe_pb2.ResourceRef(kind="deployment", name="web")
        ),
    )
    session.expires.FromSeconds(BASE_S + 60)
    worker.sessions.apply(b"s1", session.SerializeToString())
    rec = record(make_event().SerializeToString(), offset=0, partition=0)
    decoded = worker.decode(rec)
    assert isinstance(decoded, RecordEvents)
    assert [tap.session_id for tap in worker.fold(rec, decoded)] == ["s1"]


class Sent:
    """Outputs that keep what was sent; a dead letter's send can bump the generation."""

    def __init__(self, generation: list[int], rebalance_during_dead_letter: bool = False) -> None:
        self.generation = generation
        self.rebalance = rebalance_during_dead_letter
        self.dead_letters: list[bytes] = []
        self.taps: list[str] = []
        self.outputs = Outputs(dead_letter=self._dead_letter, tap=self._tap)

    async def _dead_letter(self, key: bytes | None, value: bytes) -> None:
        self.dead_letters.append(value)
        if self.rebalance:
            self.generation[0] += 1

    async def _tap(self, key: bytes | None, value: bytes) -> None:
        self.taps.append(meshpipe_pb2.TapEvent.FromString(value).session_id)


def _tap_everything(worker: Worker) -> None:
    session = meshpipe_pb2.TapSession(id="s1", filter=meshpipe_pb2.TapFilter())
    session.expires.FromSeconds(BASE_S + 60)
    worker.sessions.apply(b"s1", session.SerializeToString())


async def test_a_record_fetched_before_a_rebalance_is_skipped_then_folded_once() -> None:
    sink, commits = MemoryRowSink(), Commits()
    worker = _worker(sink, commits)
    _tap_everything(worker)
    generation = [2]
    sent = Sent(generation)
    rec = record(make_event().SerializeToString(), offset=0, partition=0)
    await worker.handle(rec, 1, lambda: generation[0], sent.outputs)
    assert (sent.taps, worker.health()["positions"]) == ([], {})
    await worker.handle(rec, 2, lambda: generation[0], sent.outputs)
    await worker.handle(rec, 2, lambda: generation[0], sent.outputs)  # replayed: ignored
    assert (sent.taps, worker.health()["positions"]) == (["s1"], {"0": 1})
    await worker.flush()
    assert len(sink.requests) == 1


async def test_a_bad_record_fetched_before_a_rebalance_is_not_dead_lettered() -> None:
    worker = _worker(MemoryRowSink(), Commits())
    generation = [2]
    sent = Sent(generation)
    bad = record(b"\xff\xff", offset=0, partition=0)
    await worker.handle(bad, 1, lambda: generation[0], sent.outputs)
    assert (sent.dead_letters, worker.health()["positions"]) == ([], {})
    await worker.handle(bad, 2, lambda: generation[0], sent.outputs)
    assert len(sent.dead_letters) == 1
    assert meshpipe_pb2.DeadLetter.FromString(sent.dead_letters[0]).reason.startswith("undecodable")
    assert worker.health()["positions"] == {"0": 1}


async def test_a_rebalance_during_the_dead_letter_send_leaves_the_record_to_its_redelivery() -> (
    None
):
    worker = _worker(MemoryRowSink(), Commits())
    generation = [2]
    sent = Sent(generation, rebalance_during_dead_letter=True)
    bad = record(b"\xff\xff", offset=0, partition=0)
    await worker.handle(bad, 2, lambda: generation[0], sent.outputs)
    assert len(sent.dead_letters) == 1
    assert worker.health()["positions"] == {}  # not folded: the new generation reads it again
    sent.rebalance = False
    await worker.handle(bad, 3, lambda: generation[0], sent.outputs)
    assert len(sent.dead_letters) == 2  # at least once
    assert worker.health()["positions"] == {"0": 1}


def _batch_record(events: list[meshpipe_pb2.RequestEvent], offset: int) -> Record:
    value = eventbatch.encode_batch(e.SerializeToString() for e in events)
    plain = record(value, offset=offset, partition=0)
    return dataclasses.replace(plain, headers=eventbatch.BATCH_HEADERS)


async def test_an_invalid_event_in_a_batch_is_dead_lettered_alone_and_the_rest_stored() -> None:
    sink = MemoryRowSink()
    worker = _worker(sink, Commits())
    generation = [1]
    sent = Sent(generation)
    events = [make_event(seq=seq) for seq in (1, 2, 3)]
    events[1].proxy_id = ""
    await worker.handle(_batch_record(events, 0), 1, lambda: generation[0], sent.outputs)
    [letter] = [meshpipe_pb2.DeadLetter.FromString(v) for v in sent.dead_letters]
    assert (letter.batch_index, letter.reason, letter.offset) == (1, "missing proxy_id", 0)
    assert meshpipe_pb2.RequestEvent.FromString(letter.value) == events[1]
    await worker.flush()
    assert sorted((row.batch_index, row.proxy_seq) for row in sink.requests.values()) == [
        (0, 1),
        (2, 3),
    ]


async def test_a_batch_that_does_not_decode_is_dead_lettered_whole() -> None:
    worker = _worker(MemoryRowSink(), Commits())
    generation = [1]
    sent = Sent(generation)
    bad = dataclasses.replace(record(b"\x0a\x09broken", offset=0, partition=0))
    bad = dataclasses.replace(bad, headers=eventbatch.BATCH_HEADERS)
    await worker.handle(bad, 1, lambda: generation[0], sent.outputs)
    [letter] = [meshpipe_pb2.DeadLetter.FromString(v) for v in sent.dead_letters]
    assert not letter.HasField("batch_index")
    assert (letter.value, letter.reason.startswith("undecodable batch")) == (bad.value, True)
    assert worker.health()["positions"] == {"0": 1}


async def test_a_batch_record_counts_its_events_towards_the_chunk_length() -> None:
    sink, commits = MemoryRowSink(), Commits()
    worker = _worker(sink, commits)  # chunks of two events
    generation = [1]
    sent = Sent(generation)
    for offset in range(3):
        events = [make_event(seq=offset * 2 + k + 1) for k in range(2)]
        await worker.handle(_batch_record(events, offset), 1, lambda: generation[0], sent.outputs)
    assert await worker.flush() == {0: 2}  # each record filled a chunk of its own
    assert len(sink.requests) == 6
