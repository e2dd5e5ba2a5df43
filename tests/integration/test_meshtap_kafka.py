"""meshtap against the real Kafka: --since replay with --count and the status flags, the session
record and its tombstone, and hand-made TapEvents printed within a second (or, outside the
session's status selection, not at all)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from google.protobuf.timestamp_pb2 import Timestamp
from unit.cli_run import run_command
from unit.meshtap_events import EMOJI, WEB, grpc_event, http_event

from meshpipe.cli.meshtap import TapEnv, meshtap, tap
from meshpipe.cli.tap_options import TapOptions
from meshpipe.cli.tapclient import KafkaSettings
from meshpipe.cli.terminal import Terminal
from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.schemas.classify import apply_classification
from meshpipe.schemas.edgekey import edge_key
from meshpipe.schemas.exits import ExitStatus
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS, TAP, TAP_SESSIONS

pytestmark = pytest.mark.integration


def _inbound_to(
    workload: meshpipe_pb2.Workload, seq: int, status: int
) -> meshpipe_pb2.RequestEvent:
    event = http_event(seq=seq, status=status)
    event.destination.CopyFrom(workload)
    return event


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    # Earliest as the reset policy, not seek_to_beginning(): assign() starts a reset to the
    # default policy in the background, which can land after a seek and override it.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        records = []
        while len(records) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            records += [(r.key, r.value) for r in batch.get(tp, [])]
        return records
    finally:
        await consumer.stop()


def _stored_requests(bootstrap: str, topics: TopicSet) -> list[meshpipe_pb2.RequestEvent]:
    """Web's inbound events 1..4 (3 is a 503) with one inbound event of emoji in between."""
    events = [
        _inbound_to(WEB, 1, 200),
        _inbound_to(EMOJI, 2, 200),
        _inbound_to(WEB, 3, 503),
        _inbound_to(WEB, 4, 200),
        _inbound_to(WEB, 5, 200),
    ]
    records = [(edge_key(e), e.SerializeToString()) for e in events]
    asyncio.run(_produce(bootstrap, topics.name(REQUESTS), records))
    return events


def _ids(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith("req ")]


def test_since_replays_matching_stored_requests_and_count_stops_it(
    kafka_bootstrap: str, topics: TopicSet, capsys: pytest.CaptureFixture[str]
) -> None:
    _stored_requests(kafka_bootstrap, topics)
    args = ["deploy/web", "-n", "emojivoto", "--since", "10m", "--count", "2"]
    outcome = run_command(
        capsys, "meshtap", meshtap, [*args, "--kafka", kafka_bootstrap], TapEnv(Terminal(), topics)
    )
    assert outcome.status == ExitStatus.OK
    # The edge key puts all of web's inbound events on one partition, so their order holds.
    assert _ids(outcome.out) == ["id=web-5f8d-x2:1", "id=web-5f8d-x2:3"]


def test_since_with_status_shows_only_matching_statuses_and_ends_with_the_history(
    kafka_bootstrap: str, topics: TopicSet, capsys: pytest.CaptureFixture[str]
) -> None:
    _stored_requests(kafka_bootstrap, topics)
    args = ["deploy/web", "-n", "emojivoto", "--since", "10m", "--status", "5+", "-o", "json"]
    outcome = run_command(
        capsys, "meshtap", meshtap, [*args, "--kafka", kafka_bootstrap], TapEnv(Terminal(), topics)
    )
    assert outcome.status == ExitStatus.OK
    [line] = outcome.out.splitlines()
    assert '"http_status":503' in line


def _vote(seq: int, grpc_status: int) -> meshpipe_pb2.RequestEvent:
    """A gRPC call web serves: HTTP 200 and the gRPC status, classified as a proxy does."""
    event = grpc_event(grpc_status)
    event.proxy_seq, event.direction = seq, meshpipe_pb2.INBOUND
    event.source.CopyFrom(EMOJI)
    event.destination.CopyFrom(WEB)
    apply_classification(event)
    return event


@pytest.mark.parametrize(
    ("flags", "seqs"),
    [
        (["--grpc-status", "internal"], [12]),
        (["--grpc-status", "13,Unavailable"], [12, 13]),
        (["--failed"], [3, 12, 13]),
        (["--failed", "--status", "200"], [12, 13]),
    ],
)
def test_since_replays_apply_the_status_selection(
    kafka_bootstrap: str,
    topics: TopicSet,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    seqs: list[int],
) -> None:
    _stored_requests(kafka_bootstrap, topics)  # 1..5, 3 is an HTTP 503
    votes = [
        _vote(11, 0),
        _vote(12, 13),
        _vote(13, 14),
        _vote(14, 5),
    ]  # OK, Internal, ..., NotFound
    records = [(edge_key(e), e.SerializeToString()) for e in votes]
    asyncio.run(_produce(kafka_bootstrap, topics.name(REQUESTS), records))
    args = ["deploy/web", "-n", "emojivoto", "--since", "10m", *flags, "--kafka", kafka_bootstrap]
    outcome = run_command(capsys, "meshtap", meshtap, args, TapEnv(Terminal(), topics))
    assert outcome.status == ExitStatus.OK
    # Web's HTTP and gRPC callers are two edges on two partitions: no order between them.
    assert sorted(_ids(outcome.out)) == sorted(f"id=web-5f8d-x2:{seq}" for seq in seqs)


def test_since_before_everything_stored_prints_nothing_and_ends(
    kafka_bootstrap: str, topics: TopicSet, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["deploy/web", "--since", "1m", "--kafka", kafka_bootstrap]
    outcome = run_command(capsys, "meshtap", meshtap, args, TapEnv(Terminal(), topics))
    assert (outcome.status, outcome.out) == (ExitStatus.OK, ""), outcome.err


def test_unreachable_kafka_exits_unavailable_with_one_line(
    topics: TopicSet, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["deploy/web", "--kafka", "127.0.0.1:1"]
    outcome = run_command(capsys, "meshtap", meshtap, args, TapEnv(Terminal(), topics))
    assert outcome.status == ExitStatus.UNAVAILABLE
    assert outcome.err == "meshtap: cannot reach Kafka at 127.0.0.1:1\n"


def _live_env(topics: TopicSet, session_id: str) -> TapEnv:
    return TapEnv(Terminal(), topics, session_id=lambda: session_id)


async def _wait_for_session(bootstrap: str, topics: TopicSet, session_id: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records = await _read_all(bootstrap, topics.name(TAP_SESSIONS))
        if any(key == session_id.encode() for key, _ in records):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the session record never appeared")


async def _first_session_key(bootstrap: str, topics: TopicSet) -> bytes:
    """The key of the first session written to this test's own session topic."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        records = await _read_all(bootstrap, topics.name(TAP_SESSIONS))
        if records and records[0][0]:
            return records[0][0]
        await asyncio.sleep(0.1)
    raise AssertionError("no session record appeared")


async def test_session_is_written_then_tombstoned_when_the_tap_ends(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    session_id = f"itest-{uuid.uuid4().hex}"
    plan = TapOptions(("deploy/web",), namespace="emojivoto", max_rps=7, duration="1s").validate(
        time.time()
    )
    settings = KafkaSettings(kafka_bootstrap, topics)
    before = time.time()
    await tap(plan, settings, _live_env(topics, session_id))

    records = await _read_all(kafka_bootstrap, topics.name(TAP_SESSIONS))
    mine = [(k, v) for k, v in records if k == session_id.encode()]
    assert mine[-1][1] is None  # the tombstone
    session = meshpipe_pb2.TapSession.FromString(mine[0][1] or b"")
    assert session.id == session_id
    assert session.max_rps == 7
    assert session.filter.resource == meshpipe_pb2.ResourceRef(
        namespace="emojivoto", kind="deployment", name="web"
    )
    assert before + 25 < session.expires.ToSeconds() < time.time() + 35


async def test_cancelled_tap_still_tombstones_its_session(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    session_id = f"itest-{uuid.uuid4().hex}"
    plan = TapOptions(("deploy/web",)).validate(time.time())
    task = asyncio.create_task(
        tap(plan, KafkaSettings(kafka_bootstrap, topics), _live_env(topics, session_id))
    )
    await _wait_for_session(kafka_bootstrap, topics, session_id)
    task.cancel()  # what asyncio.run does to the main task on Ctrl-C
    with pytest.raises(asyncio.CancelledError):
        await task
    records = await _read_all(kafka_bootstrap, topics.name(TAP_SESSIONS))
    assert [v for k, v in records if k == session_id.encode()][-1] is None


async def test_sigterm_ends_meshtap_with_its_session_tombstoned(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    """A terminal closing or `kill` sends SIGTERM: the session must not linger until its TTL."""
    meshtap_bin = Path(sys.executable).parent / "meshtap"
    proc = await asyncio.create_subprocess_exec(
        str(meshtap_bin), "deploy/web", "--kafka", kafka_bootstrap,
        "--topic-prefix", topics.prefix,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        session_key = await _first_session_key(kafka_bootstrap, topics)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert (proc.returncode, err.decode()) == (ExitStatus.INTERRUPTED, "meshtap: terminated\n")
    records = await _read_all(kafka_bootstrap, topics.name(TAP_SESSIONS))
    assert [v for k, v in records if k == session_key][-1] is None


async def test_a_tap_event_under_the_session_key_is_printed_within_a_second(
    kafka_bootstrap: str, topics: TopicSet, capsys: pytest.CaptureFixture[str]
) -> None:
    session_id = f"itest-{uuid.uuid4().hex}"
    plan = TapOptions(("deploy/web",), count=1, duration="20s").validate(time.time())
    task = asyncio.create_task(
        tap(plan, KafkaSettings(kafka_bootstrap, topics), _live_env(topics, session_id))
    )
    await _wait_for_session(kafka_bootstrap, topics, session_id)
    other = meshpipe_pb2.TapEvent(session_id="someone-else", event=http_event(seq=98))
    mine = meshpipe_pb2.TapEvent(
        session_id=session_id, event=http_event(seq=99), matched=Timestamp(seconds=int(time.time()))
    )
    capsys.readouterr()
    sent = time.monotonic()
    # The producer's default partitioner places each key; meshtap must be reading that partition.
    await _produce(
        kafka_bootstrap,
        topics.name(TAP),
        [
            (b"someone-else", other.SerializeToString()),
            (session_id.encode(), mine.SerializeToString()),
        ],
    )
    await asyncio.wait_for(task, timeout=5)  # --count 1 ends it
    elapsed = time.monotonic() - sent
    out = capsys.readouterr().out
    assert _ids(out) == ["id=web-5f8d-x2:99"]
    assert elapsed < 1.0


async def test_a_live_tap_drops_what_a_worker_without_the_status_selection_sends(
    kafka_bootstrap: str, topics: TopicSet, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker older than TapFilter fields 7-9 sends every request-field match."""
    session_id = f"itest-{uuid.uuid4().hex}"
    plan = TapOptions(("deploy/web",), grpc_status=("Internal",), count=1, duration="20s").validate(
        time.time()
    )
    task = asyncio.create_task(
        tap(plan, KafkaSettings(kafka_bootstrap, topics), _live_env(topics, session_id))
    )
    await _wait_for_session(kafka_bootstrap, topics, session_id)
    capsys.readouterr()
    sent = [
        meshpipe_pb2.TapEvent(session_id=session_id, event=_vote(seq, code))
        for seq, code in ((21, 0), (22, 13))
    ]
    records = [(session_id.encode(), e.SerializeToString()) for e in sent]
    await _produce(kafka_bootstrap, topics.name(TAP), records)
    await asyncio.wait_for(task, timeout=10)  # --count 1 ends it
    assert _ids(capsys.readouterr().out) == ["id=web-5f8d-x2:22"]
