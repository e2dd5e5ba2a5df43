"""A `meshstreams worker` on 18.16 (no TTL) drops the day partitions past retention by itself."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from sinks_truth import batch, generate
from streams_procs import WorkerProc, clickhouse_url, wait_for

from meshpipe.deploy.dev.clickhouse import ClickHouseSettings
from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.sinks.client import NativeClient
from meshpipe.sinks.migrations import apply_migrations
from meshpipe.sinks.tables import batch_tables

pytestmark = pytest.mark.integration


def _days(client: NativeClient, db: str) -> dict[str, list[str]]:
    rows = client.execute(
        "SELECT table, partition FROM system.parts"
        f" WHERE database = '{db}' AND active AND table != 'schema_migrations'"
        " GROUP BY table, partition ORDER BY table, partition"
    )
    days: dict[str, list[str]] = {}
    for table, partition in rows:
        days.setdefault(str(table), []).append(str(partition))
    return days


def test_worker_drops_partitions_past_retention_and_keeps_recent_ones(
    kafka_bootstrap: str,
    topics: TopicSet,
    clickhouse_db: tuple[NativeClient, str],
    clickhouse_settings: ClickHouseSettings,
    tmp_path: Path,
) -> None:
    client, db = clickhouse_db
    apply_migrations(client, db)
    assert client.server_version() < (20, 3)  # the server without TTL
    old_day = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
    recent = int(time.time()) // 86400 * 86400  # today's first window: within any retention
    for base in (old_day, recent):
        for table in batch_tables(batch(generate(base, calls=50))):
            client.insert(f"{db}.{table.table}", table.columns, table.rows)
    today = dt.datetime.fromtimestamp(recent, dt.UTC).strftime("%Y%m%d")
    assert _days(client, db)["requests"] == ["20240101", today]

    worker = WorkerProc(
        kafka_bootstrap,
        clickhouse_url(clickhouse_settings.url(), db),
        topics.prefix,
        f"g-{topics.prefix}",
        tmp_path,
        ("--retention-interval=1s", "--retention-requests-days=2"),
    )
    try:
        worker.start()
        kept = wait_for(
            lambda: _days(client, db),
            lambda days: all("20240101" not in parts for parts in days.values()),
            60,
            "the 2024-01-01 partitions to be dropped",
        )
    finally:
        worker.stop()
    assert kept == {
        "edge_windows": [today],
        "proxy_losses": [today],
        "requests": [today],
        "tcp_connections": [today],
    }
