"""Production-to-visibility latency of events at a steady rate, seen through `sinks.query.stat`.

Each poll is stamped twice: when its query was sent and when its answer came back. ClickHouse
answers a SELECT from the parts that exist when the query starts, so an event a poll counts was
stored before that poll was sent: latencies from the send stamps measure the pipeline (within
the poll interval), those from the answer stamps add the query's own duration, as a user
running `meshstat` at that moment sees it. The bench reports both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from bench.generate import IN, EdgeSpec, single_event
from meshpipe.schemas.edgekey import edge_key
from meshpipe.sinks.client import ClickHouseClient
from meshpipe.sinks.query import Selection, StatQuery, stat

NAMESPACE = "benchfresh"
EDGE = EdgeSpec(IN, "fresh-client", "fresh-server", 1_000, namespace=NAMESPACE)


@dataclass(frozen=True)
class FreshnessSpec:
    """How many events at which steady rate, and how long to wait for the last to show."""

    rate: int  # events/s
    seconds: float  # production time
    poll_s: float = 0.1  # how often stat() is asked, seconds
    timeout_s: float = 60.0  # wait after production for the rest to be visible, seconds


def visibility_latencies(produced_at: list[float], seen: list[tuple[float, int]]) -> list[float]:
    """Per event, seconds from its production to the first poll whose count included it.

    Events of one edge go to one partition and are stored in order, so the k-th event produced
    is visible once a poll counts at least k events. Events never seen are left out.
    """
    out: list[float] = []
    polls = iter(sorted(seen))
    poll = next(polls, None)
    for k, at in enumerate(produced_at, start=1):
        while poll is not None and (poll[1] < k or poll[0] < at):
            poll = next(polls, None)
        if poll is None:
            break
        out.append(poll[0] - at)
    return out


async def _produce(bootstrap: str, topic: str, spec: FreshnessSpec, out: list[float]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
    await producer.start()
    try:
        began = time.monotonic()
        for i in range(int(spec.rate * spec.seconds)):
            delay = began + i / spec.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            event = single_event(EDGE, time.time_ns(), i + 1, seed=i)
            out.append(time.monotonic())
            await producer.send(topic, event.SerializeToString(), key=edge_key(event))
        await producer.flush()
    finally:
        await producer.stop()


def _count(client: ClickHouseClient, database: str, around_s: float) -> int:
    query = StatQuery(
        Selection("deployment", (EDGE.destination,), NAMESPACE),
        start_s=around_s - 600,
        end_s=around_s + 600,
    )
    # figures=False: losses and connections are no part of the count (two queries fewer)
    return sum(row.requests for row in stat(client, database, query, figures=False))


async def measure_freshness(
    bootstrap: str,
    topic: str,
    connect: Callable[[], ClickHouseClient],
    database: str,
    spec: FreshnessSpec,
) -> tuple[list[float], list[float], int]:
    """Latencies (s) of the events seen, from the polls' send stamps and from their answer
    stamps, and how many events were produced."""
    produced: list[float] = []
    sent: list[tuple[float, int]] = []
    seen: list[tuple[float, int]] = []
    client = connect()
    producing = asyncio.create_task(_produce(bootstrap, topic, spec, produced))
    deadline: float | None = None
    around = time.time()
    try:
        while True:
            asked = time.monotonic()
            count = await asyncio.to_thread(_count, client, database, around)
            sent.append((asked, count))
            seen.append((time.monotonic(), count))
            if producing.done():
                await producing  # raises if producing failed
                deadline = deadline or time.monotonic() + spec.timeout_s
                if count >= len(produced) or time.monotonic() > deadline:
                    break
            await asyncio.sleep(spec.poll_s)
    finally:
        producing.cancel()
        client.close()
    visible = visibility_latencies(produced, sent)
    return visible, visibility_latencies(produced, seen), len(produced)
