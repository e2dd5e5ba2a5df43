"""meshproxy while the real Kafka is reachable but stalled for it: traffic goes on, events resume.

The shared dev broker keeps serving everyone else: only packets from the proxy's own cgroup to
the broker's port are dropped (bench/stall.py), as when a broker pauses or a partition drops
packets — connections stay open, nothing is answered, new connections hang at SYN.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from test_proxy_kafka_outage import QUEUE, Proxy, running_proxy

from bench import stall
from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.schemas import eventbatch
from meshpipe.schemas.topics import REQUESTS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(stall.unavailable() is not None, reason=str(stall.unavailable())),
]


@pytest.fixture
def broker_stall(kafka_bootstrap: str) -> Iterator[stall.PortStall]:
    """A cgroup whose traffic to the dev broker can be dropped; rule and group gone at the end."""
    host, _, port = kafka_bootstrap.split(",")[0].rpartition(":")
    with stall.PortStall(host, int(port), "kafka-stall-test") as broker:
        yield broker


async def test_kafka_stalled_requests_answered_meanwhile_oldest_events_drop_then_rest_arrive(
    kafka_bootstrap: str, topics: TopicSet, broker_stall: stall.PortStall, tmp_path: Path
) -> None:
    topic = topics.name(REQUESTS)
    log = tmp_path / "meshproxy.log"
    async with running_proxy(kafka_bootstrap, log, topic, broker_stall.wrap) as (mesh, _):
        await _stall(broker_stall, mesh)
    seqs = await _seqs_until(kafka_bootstrap, topic, {1, 2, 3, *range(25, 35)})
    # Event 4's produce request was in flight when the stall began: the proxy gave it up (counted
    # dropped), but TCP may still deliver it once packets pass again. The rest of 4-24 is the gap.
    assert seqs - {4} == {1, 2, 3, *range(25, 35)}


async def test_kafka_stalled_at_shutdown_the_proxy_still_exits_and_says_what_it_could_not_send(
    kafka_bootstrap: str, topics: TopicSet, broker_stall: stall.PortStall, tmp_path: Path
) -> None:
    log = tmp_path / "meshproxy.log"
    topic = topics.name(REQUESTS)
    async with running_proxy(kafka_bootstrap, log, topic, broker_stall.wrap) as (mesh, _):
        await mesh.requests(2)  # connected and delivering
        await mesh.until((2, 0, 0))
        broker_stall.stall()
        await mesh.requests(3)  # one send now waits on Kafka, the rest are queued behind it
    # Leaving the block sent SIGTERM and waited for the exit: the flush grace ran out instead
    # of waiting on the broker, and the events in flight were counted with the queued ones.
    assert "meshproxy: 3 events could not be published before exit" in log.read_text()


async def _stall(broker: stall.PortStall, mesh: Proxy) -> None:
    await mesh.requests(3)  # events 1-3, delivered
    await mesh.until((3, 0, 0))

    broker.stall()
    await mesh.requests(1)  # event 4: taken off the queue, its send now waits on Kafka
    await mesh.until((3, 0, 0))
    await mesh.requests(20)  # events 5-24, while that send is still unanswered
    # Every request was answered before Kafka's request time-out failed event 4's send (it would
    # be dropped then, making 16): traffic did not wait for Kafka. The queue keeps the newest.
    assert await mesh.pipeline() == (3, 20 - QUEUE, QUEUE)

    await mesh.until((3, 21 - QUEUE, QUEUE))  # the send timed out: event 4 back in, then dropped
    await mesh.requests(5)  # events 25-29 while the publisher reconnects into the stall
    await mesh.until((3, 26 - QUEUE, QUEUE))

    broker.resume()
    await mesh.until((3 + QUEUE, 26 - QUEUE, 0))  # 25-29 go out
    await mesh.requests(5)  # events 30-34
    await mesh.until((3 + QUEUE + 5, 26 - QUEUE, 0))


async def _seqs_until(bootstrap: str, topic: str, want: set[int]) -> set[int]:
    """Every request event's proxy_seq in the topic, read until want are all there (60 s)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen: set[int] = set()
    try:
        async with asyncio.timeout(60):
            while not want <= seen:
                batches = await consumer.getmany(timeout_ms=500)
                seen |= {
                    event.proxy_seq
                    for records in batches.values()
                    for r in records
                    for event in eventbatch.decode_record(r.value, r.headers)
                    if not event.HasField("connections")
                }
    finally:
        await consumer.stop()
    return seen
