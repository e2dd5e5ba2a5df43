"""Expired day partitions are dropped on 18.16; TTL retention is changed on the modern engine."""

from __future__ import annotations

import datetime as dt

import pytest
from sinks_truth import batch, generate

from meshpipe.sinks.client import ChdbClient, NativeClient
from meshpipe.sinks.migrations import apply_migrations
from meshpipe.sinks.retention import Retention, apply_retention, drop_expired_partitions
from meshpipe.sinks.tables import batch_tables

pytestmark = pytest.mark.integration


def test_drop_expired_partitions_removes_only_days_past_retention(
    clickhouse_db: tuple[NativeClient, str],
) -> None:
    client, db = clickhouse_db
    apply_migrations(client, db)
    old_day = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
    new_day = int(dt.datetime(2024, 1, 20, tzinfo=dt.UTC).timestamp())
    for base in (old_day, new_day):
        for table in batch_tables(batch(generate(base, calls=50))):
            client.insert(f"{db}.{table.table}", table.columns, table.rows)
    now = dt.datetime(2024, 1, 25, tzinfo=dt.UTC)
    dropped = drop_expired_partitions(
        client, db, now, Retention(window_days=10, request_days=10, loss_days=10)
    )
    assert sorted(dropped) == [
        ("edge_windows", "20240101"),
        ("proxy_losses", "20240101"),
        ("requests", "20240101"),
        ("tcp_connections", "20240101"),
    ]
    days = client.execute(f"SELECT DISTINCT toYYYYMMDD(start_time) FROM {db}.requests")
    assert days == [(20240120,)]


def test_apply_retention_sets_the_ttl_on_a_modern_server(chdb_db: tuple[ChdbClient, str]) -> None:
    client, db = chdb_db
    apply_migrations(client, db)
    assert apply_retention(client, db, Retention(request_days=3))
    ddl = client.execute(f"SHOW CREATE TABLE {db}.requests")[0][0]
    assert "toIntervalDay(3)" in ddl


def test_apply_retention_does_nothing_on_18_16(clickhouse_db: tuple[NativeClient, str]) -> None:
    client, db = clickhouse_db
    apply_migrations(client, db)
    assert not apply_retention(client, db, Retention(request_days=3))


class _Recording:
    """The chdb client, remembering the statements it ran."""

    def __init__(self, client: ChdbClient) -> None:
        self.client = client
        self.statements: list[str] = []

    def execute(self, sql: str) -> list[tuple[object, ...]]:
        self.statements.append(sql)
        return self.client.execute(sql)

    def server_version(self) -> tuple[int, int]:
        return self.client.server_version()


def test_apply_retention_leaves_a_matching_ttl_alone(chdb_db: tuple[ChdbClient, str]) -> None:
    client, db = chdb_db
    apply_migrations(client, db)
    recording = _Recording(client)
    assert apply_retention(recording, db, Retention(request_days=3))  # type: ignore[arg-type]
    assert apply_retention(recording, db, Retention(request_days=3))  # type: ignore[arg-type]
    alters = [s for s in recording.statements if s.startswith("ALTER")]
    assert alters == [f"ALTER TABLE {db}.requests MODIFY TTL start_time + INTERVAL 3 DAY"]
