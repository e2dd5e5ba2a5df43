"""The pipeline scenario: worker throughput into ClickHouse over a backlog, then freshness."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer

from bench.database import bench_database, server_url
from bench.freshness import FreshnessSpec, measure_freshness
from bench.generate import GeneratorSpec, aligned_start_s, generate, produce
from bench.machine import load_average
from bench.procs import BenchError, Service
from bench.report import Figure, ScenarioResult, compared, percentile
from bench.topics import bench_topics
from bench.worker import WORKER_CPUS, start_worker
from meshpipe.deploy.dev.compiled import compiled_venv
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.schemas import eventbatch
from meshpipe.schemas.topics import REQUESTS
from meshpipe.sinks.client import ClickHouseClient, NativeClient, parse_url
from meshpipe.streams.settings import FLUSH_INTERVAL_S

if TYPE_CHECKING:
    from bench.run import RunContext

SCENARIO = "pipeline"
SUBJECT = "meshstreams worker"
COMPILED_SUBJECT = "meshstreams worker (compiled)"  # `python -m bench pipeline --compiled`
EVENTS_AIM_PER_CORE = 50_000.0  # events/s per worker core (issue #16)
FRESHNESS_P99_AIM_S = 1.0  # issue #16 (issue #8 asked for 5 s)


@dataclass(frozen=True)
class PipelineSettings:
    """Backlog size and the steady-rate freshness run."""

    events: int  # pre-produced backlog
    chunk: int  # events generated and produced at a time (memory bound)
    freshness: FreshnessSpec
    timeout_s: float  # longest wait for the worker to store the backlog
    send_events: int = 64  # events per sidecar send the backlog is batched as (0: one per record)


QUICK = PipelineSettings(50_000, 50_000, FreshnessSpec(rate=200, seconds=8), 180)
FULL = PipelineSettings(2_000_000, 200_000, FreshnessSpec(rate=1_000, seconds=60), 1_800)
SEND_EVENTS_ENV = "MESHPIPE_BENCH_SEND_EVENTS"  # overrides send_events (0: the old format)


def _settings(quick: bool) -> PipelineSettings:
    settings = QUICK if quick else FULL
    override = os.environ.get(SEND_EVENTS_ENV)
    return settings if override is None else replace(settings, send_events=int(override))


def _produce_backlog(bootstrap: str, topic: str, settings: PipelineSettings) -> float:
    """Produce the backlog in chunks (2 s windows, already past); return seconds taken."""
    began = time.monotonic()
    chunks = max(1, settings.events // settings.chunk)
    windows = 30
    start = aligned_start_s(2, windows * chunks + 2, time.time())
    for k in range(chunks):
        spec = GeneratorSpec(
            settings.chunk, start + k * windows * 2, windows, 2, late_fraction=0.0, seed=k + 1
        )
        events, _ = generate(spec)
        asyncio.run(produce(bootstrap, topic, events, settings.send_events))
    return time.monotonic() - began


async def _consume_decode(bootstrap: str, topic: str, events: int) -> float:
    """Seconds a bare aiokafka consumer takes to read and decode `events` events (the peer)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        began, seen = time.monotonic(), 0
        while seen < events and time.monotonic() - began < 300:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for record in records:
                    seen += len(eventbatch.decode_record(record.value, record.headers))
        return time.monotonic() - began
    finally:
        await consumer.stop()


def _stored(client: ClickHouseClient, db: str) -> tuple[int, int]:
    windows = client.execute(f"SELECT sum(requests) FROM {db}.edge_windows FINAL")
    rows = client.execute(f"SELECT count() FROM {db}.requests FINAL")
    return int(windows[0][0] or 0), int(rows[0][0])


@dataclass(frozen=True)
class Throughput:
    events: int
    seconds: float
    cpu_seconds: float


def _drain(
    worker: Service, client: ClickHouseClient, db: str, events: int, timeout_s: float
) -> Throughput:
    """Poll until the backlog is stored; rate from the first poll that saw rows to the end."""
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int, float] | None = None
    while time.monotonic() < deadline:
        worker.check_alive()
        windows, rows = _stored(client, db)
        now, cpu = time.monotonic(), worker.cpu_seconds()
        if first is None and windows > 0:
            first = (now, windows, cpu)
        if first is not None and min(windows, rows) >= events:
            done = events - first[1]
            return Throughput(done, now - first[0], cpu - first[2])
        time.sleep(0.5)
    raise BenchError(f"worker stored {_stored(client, db)} of {events} events in {timeout_s:.0f} s")


def _compiled_drain(ctx: RunContext, prefix: str, settings: PipelineSettings) -> Throughput:
    """The backlog under prefix drained by the compiled build's worker (its own consumer group
    and database)."""
    try:
        program = compiled_venv("streams", log=lambda line: print(line, flush=True)) / "meshstreams"
    except DevStackError as exc:
        raise BenchError(f"the compiled build: {exc}") from exc
    with bench_database(ctx.clickhouse, "pipec") as (client, db):
        url = server_url(ctx.clickhouse, db)
        worker, _port = start_worker(ctx.kafka, url, prefix, ctx.workdir, str(program))
        try:
            return _drain(worker, client, db, settings.events, settings.timeout_s)
        finally:
            worker.stop()


def pipeline(ctx: RunContext, result: ScenarioResult) -> None:
    """Measure the pipeline scenario (quick or full) into result."""
    settings = _settings(ctx.quick)
    result.conditions.update(
        {
            "events": settings.events,
            "send_events": settings.send_events,
            "worker_cpus": WORKER_CPUS,
            "worker_flush_interval_s": FLUSH_INTERVAL_S,
            "load_average_before": load_average(),
        }
    )
    with (
        bench_topics(ctx.kafka, "pipe") as topics,
        bench_database(ctx.clickhouse, "pipe") as (client, db),
    ):
        topic = topics.name(REQUESTS)
        result.conditions["produce_s"] = round(_produce_backlog(ctx.kafka, topic, settings), 1)
        affinity = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {int(WORKER_CPUS)})
        try:
            peer_s = asyncio.run(_consume_decode(ctx.kafka, topic, settings.events))
        finally:
            os.sched_setaffinity(0, affinity)
        if ctx.compiled:  # the same backlog, first through the compiled worker
            compiled = _compiled_drain(ctx, topics.prefix, settings)
            _throughput_figures(result, settings, compiled, peer_s, COMPILED_SUBJECT)
        url = server_url(ctx.clickhouse, db)
        worker, _port = start_worker(ctx.kafka, url, topics.prefix, ctx.workdir)
        try:
            measured = _drain(worker, client, db, settings.events, settings.timeout_s)
            target = parse_url(url)
            latencies, seen, produced = asyncio.run(
                measure_freshness(
                    ctx.kafka, topic, lambda: NativeClient(target), db, settings.freshness
                )
            )
        finally:
            worker.stop()
    result.conditions["load_average_after"] = load_average()
    _throughput_figures(result, settings, measured, peer_s, SUBJECT)
    _figures(result, settings, (latencies, seen), produced)


def _throughput_figures(
    result: ScenarioResult, settings: PipelineSettings, t: Throughput, peer_s: float, subject: str
) -> None:
    """Events per second and per CPU-second of one worker over the backlog, next to the peer."""
    peer_rate = settings.events / peer_s
    wall = t.events / t.seconds
    per_core = t.events / t.cpu_seconds if t.cpu_seconds > 0 else float("inf")
    peer = "kafka consume+decode only (aiokafka, same core)"
    batching = (
        f"batched as sidecars sending {settings.send_events} events at a time"
        if settings.send_events
        else "one event per record"
    )
    note = f"{t.events} events measured, {batching}; worker pinned to CPU {WORKER_CPUS}"
    result.add(
        compared(
            Figure(
                SCENARIO,
                "events_per_s",
                subject,
                wall,
                "events/s",
                aim=EVENTS_AIM_PER_CORE,
                note=note,
            ),
            peer,
            peer_rate,
        )
    )
    result.add(
        compared(
            Figure(
                SCENARIO,
                "events_per_cpu_s",
                subject,
                per_core,
                "events/s per core",
                aim=EVENTS_AIM_PER_CORE,
                note=note,
            ),
            peer,
            peer_rate,
        )
    )


def _figures(
    result: ScenarioResult,
    settings: PipelineSettings,
    freshness: tuple[list[float], list[float]],
    produced: int,
) -> None:
    """The freshness figures: (latencies from the polls' send stamps, from their answer
    stamps); see bench.freshness."""
    latencies, seen = freshness
    if not latencies:
        result.skip("freshness", f"none of {produced} events became visible")
        return
    rate_note = f"{len(latencies)}/{produced} events seen at {settings.freshness.rate} events/s"
    for name, q, values, subject in (
        ("p50", 0.5, latencies, "produce -> stored (stat poll sent)"),
        ("p99", 0.99, latencies, "produce -> stored (stat poll sent)"),
        ("seen_p99", 0.99, seen, "produce -> sinks.query.stat answered"),
    ):
        value = percentile(values, q)
        result.add(
            compared(
                Figure(
                    SCENARIO,
                    f"freshness_{name}",
                    subject,
                    value,
                    "s",
                    aim=FRESHNESS_P99_AIM_S if name == "p99" else None,
                    note=rate_note,
                ),
                "aim (issue #16)",
                FRESHNESS_P99_AIM_S,
            )
        )
