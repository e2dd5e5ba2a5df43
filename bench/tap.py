"""The tap scenario: time from a request's end to its meshtap line, at a steady background rate."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaProducer

from bench.database import bench_database, server_url
from bench.generate import IN, EdgeSpec, single_event
from bench.machine import load_average
from bench.procs import BenchError
from bench.report import Figure, ScenarioResult, compared, percentile
from bench.topics import bench_topics
from bench.worker import start_worker, wait_ready
from meshpipe.cli.tap_options import TapOptions
from meshpipe.cli.tap_render import TapView, render_event
from meshpipe.cli.tapclient import KafkaSettings, LiveTap, new_session
from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.schemas.edgekey import edge_key
from meshpipe.schemas.topics import REQUESTS

if TYPE_CHECKING:
    from bench.run import RunContext

SCENARIO = "tap"
AIM_P99_S = 0.5
NAMESPACE = "benchtap"
TAPPED = EdgeSpec(IN, "tap-client", "tap-server", 1_000, namespace=NAMESPACE)
BACKGROUND = EdgeSpec(IN, "bg-client", "bg-server", 1_000, namespace=NAMESPACE)


@dataclass(frozen=True)
class TapSettings:
    background_rps: int  # events/s of other traffic
    tapped_rps: int  # events/s of the tapped resource (below the session's max rps)
    seconds: float


QUICK = TapSettings(background_rps=200, tapped_rps=20, seconds=8)
FULL = TapSettings(background_rps=1_000, tapped_rps=50, seconds=60)


async def _produce(bootstrap: str, topic: str, s: TapSettings, ended: dict[int, float]) -> None:
    """Background and tapped events at steady rates; ended[seq] = when a tapped one was sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
    await producer.start()
    try:
        began, rate = time.monotonic(), s.background_rps + s.tapped_rps
        every = max(1, rate // s.tapped_rps)
        for i in range(int(rate * s.seconds)):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tapped = i % every == 0
            seq = i + 1
            event = single_event(TAPPED if tapped else BACKGROUND, time.time_ns(), seq, seed=i)
            if tapped:
                ended[seq] = time.monotonic()
            await producer.send(topic, event.SerializeToString(), key=edge_key(event))
        await producer.flush()
    finally:
        await producer.stop()


async def _tap(bootstrap: str, topics: TopicSet, s: TapSettings) -> tuple[list[float], int]:
    """Seconds from each tapped event's send to its meshtap line; and how many were sent."""
    options = TapOptions((f"deploy/{TAPPED.destination}",), NAMESPACE, max_rps=10 * s.tapped_rps)
    plan = options.validate(time.time())
    settings = KafkaSettings(bootstrap, topics)
    session = new_session(uuid.uuid4().hex, plan.tap_filter, plan.max_rps, time.time())
    ended: dict[int, float] = {}
    latencies: list[float] = []
    async with LiveTap(settings, session) as live:
        await asyncio.sleep(2.0)  # the workers read the session from the compacted topic
        producing = asyncio.create_task(_produce(bootstrap, topics.name(REQUESTS), s, ended))
        deadline: float | None = None
        while deadline is None or time.monotonic() < deadline:
            for event in await live.poll(0.05) or []:
                render_event(event, TapView(""))
                if event.proxy_seq in ended:
                    latencies.append(time.monotonic() - ended[event.proxy_seq])
            if producing.done() and deadline is None:
                await producing
                deadline = time.monotonic() + 10.0
            if deadline is not None and len(latencies) >= len(ended):
                break
    return latencies, len(ended)


def tap(ctx: RunContext, result: ScenarioResult) -> None:
    """Measure the tap scenario (quick or full) into result."""
    s = QUICK if ctx.quick else FULL
    result.conditions.update({**s.__dict__, "load_average_before": load_average()})
    with bench_topics(ctx.kafka, "tap") as topics, bench_database(ctx.clickhouse, "tap") as (_, db):
        url = server_url(ctx.clickhouse, db)
        worker, port = start_worker(ctx.kafka, url, topics.prefix, ctx.workdir)
        try:
            wait_ready(worker, port)
            latencies, sent = asyncio.run(_tap(ctx.kafka, topics, s))
        finally:
            worker.stop()
    result.conditions["load_average_after"] = load_average()
    if not latencies:
        raise BenchError(f"none of {sent} tapped events reached the tap client")
    note = f"{len(latencies)}/{sent} tapped events seen; events produced directly (no proxy)"
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        value = percentile(latencies, q)
        aim = AIM_P99_S if name == "p99" else None
        figure = Figure(
            SCENARIO, f"tap_latency_{name}", "sent -> meshtap line", value, "s", aim=aim
        )
        result.add(compared(figure, "aim (issue #8)", AIM_P99_S))
    result.conditions["seen"] = note
