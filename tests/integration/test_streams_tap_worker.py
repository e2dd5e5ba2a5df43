"""A `meshstreams worker` on real Kafka feeds tap sessions: only matches, capped, until ended;
a status selection is applied before the cap."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from streams_procs import WorkerProc, wait_for

from bench.generate import IN, OUT, EdgeSpec, single_event
from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.schemas.classify import apply_classification
from meshpipe.schemas.edgekey import edge_key
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS, TAP, TAP_SESSIONS

pytestmark = pytest.mark.integration

NANOS = 1_000_000_000
WEB_TO_EMOJI = EdgeSpec(OUT, "web", "emoji", 1_000)
VOTE_TO_EMOJI = EdgeSpec(OUT, "vote-bot", "emoji", 1_000)
EMOJI_FROM_WEB = EdgeSpec(IN, "web", "emoji", 1_000)
MAX_RPS = 5
VOTING_FROM_WEB = EdgeSpec(IN, "web", "voting", 2_000)
VOTE = "/emojivoto.v1.VotingService/Vote"
INTERNAL = 13


def _session(sid: str, tap: meshpipe_pb2.TapFilter, max_rps: int, ttl_s: float) -> bytes:
    session = meshpipe_pb2.TapSession(id=sid, filter=tap, max_rps=max_rps)
    session.expires.FromNanoseconds(int((time.time() + ttl_s) * NANOS))
    return session.SerializeToString()


def _expires_ns(value: bytes) -> int:
    return int(meshpipe_pb2.TapSession.FromString(value).expires.ToNanoseconds())


class Traffic:
    """Produces events and session records; each event's path says which phase sent it."""

    def __init__(self, producer: AIOKafkaProducer, topics: TopicSet) -> None:
        self.producer = producer
        self.topics = topics
        self.seq = 0

    async def event(self, edge: EdgeSpec, path: str, method: str = "GET") -> None:
        self.seq += 1
        event = single_event(edge, time.time_ns(), self.seq, seed=self.seq)
        event.path, event.method = path, method
        value = event.SerializeToString()
        await self.producer.send(self.topics.name(REQUESTS), value, key=edge_key(event))

    async def session(self, sid: str, value: bytes | None) -> None:
        topic = self.topics.name(TAP_SESSIONS)
        await self.producer.send_and_wait(topic, value, key=sid.encode())

    async def mix(self, phase: str, seconds: float, per_second: int = 40, start: int = 0) -> int:
        """Matching (GET from web) and non-matching events at per_second each kind, for seconds.

        Paths are numbered from start + 1. Returns how many events of each kind were sent.
        """
        end = time.monotonic() + seconds
        index = start
        while time.monotonic() < end:
            index += 1
            await self.event(WEB_TO_EMOJI, f"/{phase}/{index}")
            await self.event(WEB_TO_EMOJI, f"/{phase}/post/{index}", method="POST")
            await self.event(VOTE_TO_EMOJI, f"/{phase}/vote/{index}")
            await self.event(EMOJI_FROM_WEB, f"/{phase}/inbound/{index}")
            await asyncio.sleep(1 / per_second)
        return index - start


@asynccontextmanager
async def _running_worker(
    kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> AsyncIterator[tuple[WorkerProc, Traffic, AIOKafkaConsumer]]:
    """A ready worker, a producer of events and sessions, and a reader of the tap topic from its
    start; all of them ended on exit."""
    worker = WorkerProc(kafka_bootstrap, "memory://", topics.prefix, f"g-{topics.prefix}", tmp_path)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=2)
    consumer = AIOKafkaConsumer(
        topics.name(TAP), bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    async with AsyncExitStack() as stack:
        stack.callback(worker.kill)
        await asyncio.to_thread(worker.start)
        await producer.start()
        stack.push_async_callback(producer.stop)
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        yield worker, Traffic(producer, topics), consumer


async def _tap_events(
    consumer: AIOKafkaConsumer,
) -> AsyncIterator[tuple[bytes, meshpipe_pb2.TapEvent]]:
    while True:
        batches = await consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for record in records:
                yield record.key, meshpipe_pb2.TapEvent.FromString(record.value)
        if not batches:
            yield b"", meshpipe_pb2.TapEvent()  # a heartbeat, so callers can check deadlines


async def _collect_until(
    consumer: AIOKafkaConsumer,
    seen: list[tuple[bytes, meshpipe_pb2.TapEvent]],
    done: Callable[[], bool],
    timeout_s: float,
) -> None:
    deadline = time.monotonic() + timeout_s
    async for key, tap in _tap_events(consumer):
        if key:
            seen.append((key, tap))
        if done():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"tap events did not arrive in {timeout_s} s: {len(seen)} seen")


async def _match_once(
    traffic: Traffic,
    consumer: AIOKafkaConsumer,
    seen: list[tuple[bytes, meshpipe_pb2.TapEvent]],
    sid: str,
    prefix: str,
) -> None:
    """Send GETs from web under prefix until session sid matched one of them."""
    for index in range(400):
        await traffic.event(WEB_TO_EMOJI, f"{prefix}/{index}")
        await _collect_until(consumer, seen, lambda: True, 0.2)
        if any(p.startswith(prefix) for p in _paths(seen, sid)):
            return
    raise AssertionError(f"session {sid} never matched")


def _paths(seen: list[tuple[bytes, meshpipe_pb2.TapEvent]], sid: str) -> list[str]:
    return [tap.event.path for key, tap in seen if key == sid.encode()]


async def test_tap_session_gets_matching_events_within_max_rps_until_it_ends(
    kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> None:
    web_get = meshpipe_pb2.TapFilter(
        resource=meshpipe_pb2.ResourceRef(namespace="emojivoto", kind="deployment", name="web"),
        method="GET",
    )
    # B and C see every path under /x; B is deleted by a tombstone, C is the positive control.
    under_x = meshpipe_pb2.TapFilter(
        resource=meshpipe_pb2.ResourceRef(kind="namespace", name="emojivoto"), path_prefix="/x"
    )
    seen: list[tuple[bytes, meshpipe_pb2.TapEvent]] = []
    async with _running_worker(kafka_bootstrap, topics, tmp_path) as (_, traffic, consumer):
        await traffic.session("a", _session("a", web_get, MAX_RPS, ttl_s=300))
        await traffic.session("b", _session("b", under_x, 0, ttl_s=300))
        # Phase 1: session a is live; four kinds of events, one of which matches it. Rounds
        # of one second go on until a got two seconds' worth: how soon the worker catches up
        # with the topic depends on the machine's load, not on the test.
        matching = 0
        deadline = time.monotonic() + 60
        while len(_paths(seen, "a")) < 2 * MAX_RPS:
            matching += await traffic.mix("live", seconds=1, start=matching)
            await _collect_until(consumer, seen, lambda: True, 0.2)
            assert time.monotonic() < deadline, f"session a got {len(_paths(seen, 'a'))}"
        # Phase 2: a is renewed to expire in a second; d, sent after it on the session
        # topic's one partition, proves once it matches that the worker knows a's new expiry.
        session_a = _session("a", web_get, MAX_RPS, ttl_s=1)
        await traffic.session("a", session_a)
        await asyncio.sleep(max(0.0, _expires_ns(session_a) / NANOS - time.time() + 0.5))
        await traffic.session("d", _session("d", under_x, 0, ttl_s=300))
        await _match_once(traffic, consumer, seen, "d", "/x/probe")
        # After a's expiry, GETs from web under /x: b must get them, a must not.
        for index in range(20):
            await traffic.event(WEB_TO_EMOJI, f"/x/late/{index}")
        await _collect_until(
            consumer, seen, lambda: len([p for p in _paths(seen, "b") if "/late/" in p]) >= 20, 30
        )
        # Phase 3: a tombstone ends b; c starts after it, so once c matches, b has been deleted.
        await traffic.session("b", None)
        await traffic.session("c", _session("c", under_x, 0, ttl_s=300))
        index = 0
        while len([p for p in _paths(seen, "c") if "/tomb/" in p]) < 20:
            index += 1
            await traffic.event(WEB_TO_EMOJI, f"/x/tomb/{index}")
            await _collect_until(consumer, seen, lambda: True, 1)
            assert index < 400, "session c never matched"

    a_events = [tap for key, tap in seen if key == b"a"]
    assert 2 * MAX_RPS <= len(a_events) < matching  # it got some, and the cap held some back
    assert all(tap.session_id == "a" for tap in a_events)
    # only GETs whose source is web, outbound (tapping deploy/web: its proxy's requests)
    assert {(t.event.method, t.event.source.name, t.event.direction) for t in a_events} == {
        ("GET", "web", meshpipe_pb2.OUTBOUND)
    }
    assert all("/post/" not in t.event.path and "/vote/" not in t.event.path for t in a_events)
    per_second = Counter(tap.matched.seconds for tap in a_events)
    assert max(per_second.values()) <= MAX_RPS, per_second
    assert all(tap.matched.ToNanoseconds() < _expires_ns(session_a) for tap in a_events)
    assert not [p for p in _paths(seen, "a") if p.startswith("/x/")]
    assert not [p for p in _paths(seen, "b") if "/tomb/" in p]


async def _send_vote(traffic: Traffic, index: int, grpc_status: int) -> None:
    """One gRPC Vote call served by voting: HTTP 200, the gRPC status in the trailers."""
    traffic.seq += 1
    event = single_event(VOTING_FROM_WEB, time.time_ns(), traffic.seq, seed=traffic.seq)
    event.protocol, event.method, event.path = meshpipe_pb2.GRPC, "POST", f"{VOTE}/{index}"
    event.grpc_status = grpc_status
    apply_classification(event)
    value = event.SerializeToString()
    await traffic.producer.send(traffic.topics.name(REQUESTS), value, key=edge_key(event))


async def test_status_selection_is_applied_before_max_rps_so_rare_failures_get_through(
    kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> None:
    """voting's failing Vote calls (HTTP 200, grpc-status Internal), one in 300 successes: a
    session with max rps 1 that selects them by gRPC status or by failure gets every one."""
    rounds, successes_per_round = 5, 300
    voting = meshpipe_pb2.ResourceRef(namespace="emojivoto", kind="deployment", name="voting")
    filters = {
        "grpc": meshpipe_pb2.TapFilter(resource=voting, grpc_statuses=[INTERNAL]),
        "failed": meshpipe_pb2.TapFilter(resource=voting, failed=True),
        "all": meshpipe_pb2.TapFilter(resource=voting),  # the control: the cap is what binds
    }
    seen: list[tuple[bytes, meshpipe_pb2.TapEvent]] = []
    async with _running_worker(kafka_bootstrap, topics, tmp_path) as (worker, traffic, consumer):
        for sid, tap in filters.items():
            await traffic.session(sid, _session(sid, tap, max_rps=1, ttl_s=300))
        await asyncio.to_thread(
            wait_for, worker.health, lambda h: (h or {}).get("tap_sessions") == 3, 30, "sessions"
        )
        for index in range(rounds):
            for _ in range(successes_per_round):
                await _send_vote(traffic, index, grpc_status=0)
            await _send_vote(traffic, index, grpc_status=INTERNAL)
            await traffic.producer.flush()

            def both_got_it(index: int = index) -> bool:
                return all(f"{VOTE}/{index}" in _paths(seen, sid) for sid in ("grpc", "failed"))

            await _collect_until(consumer, seen, both_got_it, 30)
            # The next failure must not share a worker second with this one: the cap allows one.
            last_s = max(tap.matched.seconds for key, tap in seen if key != b"all")
            await asyncio.sleep(max(0.0, last_s + 1.05 - time.time()))
        await _collect_until(consumer, seen, lambda: True, 1)

    failures = [f"{VOTE}/{index}" for index in range(rounds)]
    for sid in ("grpc", "failed"):
        got = [tap.event for key, tap in seen if key == sid.encode()]
        assert [event.path for event in got] == failures, sid
        assert {(event.http_status, event.grpc_status) for event in got} == {(200, INTERNAL)}
    control = [tap for key, tap in seen if key == b"all"]
    assert max(Counter(tap.matched.seconds for tap in control).values()) == 1
    assert any(tap.event.grpc_status == 0 for tap in control)  # it spent its budget on those


def _get(port: int, path: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as rsp:
        return rsp.status, dict(json.loads(rsp.read()))


def test_worker_serves_ready_and_live_pages_on_its_web_port(
    kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> None:
    worker = WorkerProc(kafka_bootstrap, "memory://", topics.prefix, f"g-{topics.prefix}", tmp_path)
    try:
        worker.start()
        assert _get(worker.port, "/ready") == (200, {"ready": True})
        assert _get(worker.port, "/live") == (200, {"live": True})
        assert sorted(worker.partitions()) == list(range(topics.partitions(REQUESTS)))
    finally:
        worker.kill()
