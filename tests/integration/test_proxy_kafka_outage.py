"""meshproxy while its Kafka broker stops and starts: traffic goes on, events drop, then flow."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NamedTuple

import aiohttp
import pytest
from test_proxy_cli import wait_ready
from test_proxy_relay import LOOPBACK, consume, free_port, origin

from bench.stall import Wrap
from meshpipe.deploy.dev.kafka import KafkaRunner, KafkaSettings
from meshpipe.deploy.kafka.topics import TopicSet, ensure_topics, load_spec
from meshpipe.proxy.layer import Address
from meshpipe.schemas.topics import REQUESTS

pytestmark = pytest.mark.integration

MESHPROXY = str(Path(sys.executable).parent / "meshproxy")
QUEUE = 5  # the proxy's event queue: small, so an outage overflows it quickly


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[KafkaRunner]:
    """A broker of this test's own (never the shared dev stack), stopped at the end."""
    runner = KafkaRunner(
        KafkaSettings(
            port=free_port(),
            controller_port=free_port(),
            data_dir=tmp_path / "kafka",
            heap_mb=256,
        )
    )
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} missing from /metrics"
    return float(match.group(1))


class Proxy:
    """The meshproxy command in front of an origin, with its admin endpoint at hand."""

    def __init__(self, session: aiohttp.ClientSession, inbound: int, admin: int) -> None:
        self.session = session
        self.inbound = f"http://{LOOPBACK}:{inbound}"
        self.admin = f"http://{LOOPBACK}:{admin}"

    async def requests(self, count: int) -> None:
        """Send count requests one after another; each must succeed promptly."""
        for _ in range(count):
            async with asyncio.timeout(5):
                async with self.session.get(f"{self.inbound}/hello") as resp:
                    assert (resp.status, await resp.text()) == (200, "hello world")

    async def pipeline(self) -> tuple[float, float, float]:
        """(published, dropped, queue depth) from /metrics."""
        async with self.session.get(f"{self.admin}/metrics") as resp:
            text = await resp.text()
        return (
            _metric(text, "events_published_total"),
            _metric(text, "events_dropped_total"),
            _metric(text, "event_queue_depth"),
        )

    async def until(self, want: tuple[float, float, float], timeout_s: float = 60) -> None:
        """Wait until /metrics shows exactly want = (published, dropped, depth)."""
        seen = await self.pipeline()
        async with asyncio.timeout(timeout_s):
            while seen != want:
                await asyncio.sleep(0.2)
                seen = await self.pipeline()


@asynccontextmanager
async def running_proxy(
    bootstrap: str, log: Path, topic: str | None = None, wrap: Wrap = list
) -> AsyncIterator[tuple[Proxy, str]]:
    """meshproxy (queue of QUEUE events) in front of an origin, publishing to bootstrap: to
    topic, or else to the requests topic it creates; wrap changes its command line."""
    if topic is None:
        topics = TopicSet(tuple(t for t in load_spec().topics if t.name == REQUESTS))
        await ensure_topics(bootstrap, topics)
        topic = topics.name(REQUESTS)
    inbound, admin = free_port(), free_port()
    async with origin() as app:
        ports = Ports(inbound, admin)
        proc = await _start_meshproxy(app, ports, bootstrap, topic, log, wrap)
        try:
            async with aiohttp.ClientSession() as session:
                await wait_ready(session, f"http://{LOOPBACK}:{admin}/ready")
                yield Proxy(session, inbound, admin), topic
        finally:
            proc.terminate()
            async with asyncio.timeout(30):
                await proc.wait()


class Ports(NamedTuple):
    inbound: int
    admin: int


async def _start_meshproxy(
    app: Address, ports: Ports, bootstrap: str, topic: str, log: Path, wrap: Wrap
) -> asyncio.subprocess.Process:
    env = dict(
        os.environ,
        MESHPIPE_WORKLOAD="emojivoto/deployment/api",
        MESHPIPE_POD="api-1",
        MESHPIPE_INBOUND=f"{LOOPBACK}:{ports.inbound}={app}",
        MESHPIPE_ADMIN=f"{LOOPBACK}:{ports.admin}",
        MESHPIPE_KAFKA=bootstrap,
        MESHPIPE_TOPIC=topic,
        MESHPIPE_EVENT_QUEUE_SIZE=str(QUEUE),
        # No connection reports: the queue and the topic hold exactly the request events counted.
        MESHPIPE_CONNECTION_REPORT_INTERVAL="0",
    )
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(*wrap([MESHPROXY]), env=env, stderr=out)


async def test_kafka_stopped_mid_run_traffic_goes_on_oldest_events_drop_and_publishing_resumes(
    private_kafka: KafkaRunner, tmp_path: Path
) -> None:
    bootstrap = private_kafka.settings.bootstrap
    async with running_proxy(bootstrap, tmp_path / "meshproxy.log") as (mesh, topic):
        await _outage(private_kafka, mesh)
    records = await consume(bootstrap, topic, 3 + QUEUE + 5)
    seqs = sorted(event.proxy_seq for _, event in records)
    assert seqs == [1, 2, 3, *range(24 - QUEUE, 29)]
    assert {event.path for _, event in records} == {"/hello"}


async def _outage(private_kafka: KafkaRunner, mesh: Proxy) -> None:
    await mesh.requests(3)  # events 1-3
    await mesh.until((3, 0, 0))

    await asyncio.to_thread(private_kafka.stop)  # the origin runs on this loop: do not block it
    await mesh.requests(20)  # events 4-23: the queue keeps the newest QUEUE of them
    await mesh.until((3, 20 - QUEUE, QUEUE))

    await asyncio.to_thread(private_kafka.start)
    await mesh.until((3 + QUEUE, 20 - QUEUE, 0))  # the survivors 19-23 go out
    await mesh.requests(5)  # events 24-28
    await mesh.until((3 + QUEUE + 5, 20 - QUEUE, 0))
