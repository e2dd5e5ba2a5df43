"""Growing the requests topic while a worker runs keeps every total and loss exact.

Kafka can only add partitions, and adding them moves keys: an edge's later events land on another
partition than its earlier ones, as do a proxy's. The worker must pick the new partitions up
(within --metadata-max-age) and still store each event once, with the loss count unchanged.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from streams_procs import (
    WorkerProc,
    clickhouse_url,
    stored_edges,
    stored_loss_events,
    stored_losses,
    stored_request_total,
    truth_edges,
    wait_for,
)

from bench.generate import GeneratorSpec, aligned_start_s, generate, produce
from meshpipe.deploy.dev.clickhouse import ClickHouseSettings
from meshpipe.deploy.kafka.topics import (
    TopicSet,
    delete_topics,
    ensure_topics,
    grow_partitions,
    load_spec,
)
from meshpipe.schemas.topics import REQUESTS
from meshpipe.sinks.client import NativeClient
from meshpipe.sinks.migrations import apply_migrations

pytestmark = pytest.mark.integration
BEFORE, AFTER = 2, 6  # partitions of the requests topic


@pytest.fixture
def small_topics(kafka_bootstrap: str) -> Iterator[TopicSet]:
    """The project's topics under a unique prefix, the requests topic with BEFORE partitions."""
    topics = load_spec().with_prefix(f"p{uuid.uuid4().hex[:10]}.").with_partitions(REQUESTS, BEFORE)
    asyncio.run(ensure_topics(kafka_bootstrap, topics))
    yield topics
    asyncio.run(delete_topics(kafka_bootstrap, topics))


async def _partitions(bootstrap: str, topic: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        await admin.close()


def _stored_all(client: NativeClient, db: str, events: int) -> None:
    for probe, what in ((stored_request_total, "edge windows"), (stored_loss_events, "loss rows")):
        wait_for(lambda p=probe: p(client, db), lambda n: n >= events, 120, what, 0.5)


def test_adding_partitions_mid_stream_keeps_totals_and_losses_exact(
    kafka_bootstrap: str,
    small_topics: TopicSet,
    clickhouse_db: tuple[NativeClient, str],
    clickhouse_settings: ClickHouseSettings,
    tmp_path: Path,
) -> None:
    client, db = clickhouse_db
    apply_migrations(client, db)
    start = aligned_start_s(10, 8, time.time())
    spec = GeneratorSpec(6_000, start, 6, 10, skip_every=97, late_fraction=0.05, late_max_s=25)
    events, truth = generate(spec)
    first, second = events[: len(events) // 2], events[len(events) // 2 :]
    url = clickhouse_url(clickhouse_settings.url(), db)
    group = f"g-{small_topics.prefix}"
    extra = ("--chunk-records=500", "--session-timeout=6s", "--metadata-max-age=2s")
    worker = WorkerProc(kafka_bootstrap, url, small_topics.prefix, group, tmp_path, extra)
    requests_topic = small_topics.name(REQUESTS)
    try:
        worker.start()
        asyncio.run(produce(kafka_bootstrap, requests_topic, first))
        _stored_all(client, db, len(first))

        grown = asyncio.run(
            grow_partitions(kafka_bootstrap, small_topics.with_partitions(REQUESTS, AFTER))
        )
        assert [(g.name, g.before, g.after) for g in grown] == [(requests_topic, BEFORE, AFTER)]
        assert asyncio.run(_partitions(kafka_bootstrap, requests_topic)) == AFTER
        asyncio.run(produce(kafka_bootstrap, requests_topic, second))
        _stored_all(client, db, truth.events)
        # The worker consumed partitions that did not exist when it started.
        wait_for(
            worker.health,
            lambda h: len((h or {}).get("partitions", [])) == AFTER,
            60,
            "every partition assigned",
        )
    finally:
        worker.kill()
    assert stored_edges(client, db) == truth_edges(truth)
    assert {proxy: lost for proxy, lost in stored_losses(client, db).items() if lost} == truth.lost


def test_a_spec_with_fewer_partitions_never_lowers_a_topic(
    kafka_bootstrap: str, small_topics: TopicSet
) -> None:
    fewer = small_topics.with_partitions(REQUESTS, 1)
    [kept] = asyncio.run(grow_partitions(kafka_bootstrap, fewer))
    assert (kept.before, kept.after) == (BEFORE, BEFORE)
    assert asyncio.run(_partitions(kafka_bootstrap, small_topics.name(REQUESTS))) == BEFORE
