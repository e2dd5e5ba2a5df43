"""The same DDL (rendered per engine) and queries give the same rows on 18.16 and on chdb."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from meshpipe.sinks.client import ChdbClient, ClickHouseClient, ClickHouseError, NativeClient
from meshpipe.sinks.migrations import (
    MIGRATIONS,
    Dialect,
    Migration,
    applied_versions,
    apply_migrations,
    pending_migrations,
)

pytestmark = pytest.mark.integration


def _windows(d: Dialect, db: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.edge_windows (
    window_start DateTime('UTC'),
    src {d.low_cardinality("String")},
    dst {d.low_cardinality("String")},
    requests UInt64{d.codec("T64, ZSTD(1)")},
    buckets Array(UInt16),
    counts Array(UInt64),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (src, dst, window_start)
{d.ttl("window_start + INTERVAL 30 DAY")}"""
    ]


WINDOWS = Migration(2, "edge_windows", _windows)
# Only migration 1 of the real list: the example table above stands in for migration 2.
BASE = MIGRATIONS[:1]
UTC = dt.UTC
# Far-future windows: on the modern engine the TTL drops expired rows on insert or merge (which
# made rows from the past vanish at random), while 18.16 has no TTL and keeps them.
ROWS: list[tuple[Any, ...]] = [
    (dt.datetime(2099, 5, 1, 0, 0, 0, tzinfo=UTC), "web", "emoji", 10, [3, 5], [6, 4], 100),
    (dt.datetime(2099, 5, 1, 0, 0, 0, tzinfo=UTC), "web", "emoji", 12, [3, 5], [7, 5], 120),
    (dt.datetime(2099, 5, 1, 0, 0, 10, tzinfo=UTC), "web", "emoji", 4, [5], [4], 130),
    (dt.datetime(2099, 5, 1, 0, 0, 0, tzinfo=UTC), "web", "voting", 2, [9], [2], 101),
]
COLUMNS = ["window_start", "src", "dst", "requests", "buckets", "counts", "version"]
QUERY = """
SELECT src, dst, toDateTime(intDiv(toUInt32(window_start), 60) * 60, 'UTC') AS minute,
       sum(requests) AS requests, sumMap(buckets, counts) AS histogram
FROM (
    SELECT src, dst, window_start, argMax(requests, version) AS requests,
           argMax(buckets, version) AS buckets, argMax(counts, version) AS counts
    FROM {db}.edge_windows GROUP BY src, dst, window_start
)
GROUP BY src, dst, minute ORDER BY src, dst, minute
"""


def _load(client: ClickHouseClient, db: str) -> list[tuple[Any, ...]]:
    apply_migrations(client, db, (*BASE, WINDOWS))
    client.insert(f"{db}.edge_windows", COLUMNS, ROWS)
    return client.execute(QUERY.format(db=db))


def test_same_ddl_and_query_give_same_rows_on_both_engines(
    clickhouse_db: tuple[NativeClient, str], chdb_db: tuple[ChdbClient, str]
) -> None:
    old = _load(*clickhouse_db)
    new = _load(*chdb_db)
    assert clickhouse_db[0].server_version() < (19, 0) < chdb_db[0].server_version()
    assert old == new
    minute = dt.datetime(2099, 5, 1, tzinfo=UTC)
    assert [r[:4] for r in old] == [("web", "emoji", minute, 16), ("web", "voting", minute, 2)]
    assert old[0][4] == ([3, 5], [7, 9])


def test_final_collapses_replayed_rows_on_both_engines(
    clickhouse_db: tuple[NativeClient, str], chdb_db: tuple[ChdbClient, str]
) -> None:
    results = []
    for client, db in (clickhouse_db, chdb_db):
        apply_migrations(client, db, (*BASE, WINDOWS))
        client.insert(f"{db}.edge_windows", COLUMNS, ROWS)
        client.insert(f"{db}.edge_windows", COLUMNS, ROWS)  # a replay rewrites the same rows
        sql = f"SELECT dst, sum(requests) FROM {db}.edge_windows FINAL GROUP BY dst ORDER BY dst"
        results.append(client.execute(sql))
    assert results[0] == results[1] == [("emoji", 16), ("voting", 2)]


@pytest.mark.parametrize("engine", ["clickhouse_db", "chdb_db"])
def test_migrations_are_idempotent(engine: str, request: pytest.FixtureRequest) -> None:
    client, db = request.getfixturevalue(engine)
    everything = (*BASE, WINDOWS)
    assert apply_migrations(client, db, everything) == [1, 2]
    assert apply_migrations(client, db, everything) == []
    assert applied_versions(client, db) == {1, 2}
    assert pending_migrations(client, db, everything) == []
    assert client.execute(f"SELECT count() FROM {db}.schema_migrations FINAL") == [(2,)]


@pytest.mark.parametrize("engine", ["clickhouse_db", "chdb_db"])
def test_a_migration_cut_short_before_it_was_recorded_runs_again_to_the_end(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """A crash after the statements but before the version row: the next run repeats them all
    (ALTER ... ADD COLUMN included) and records the migration."""
    client, db = request.getfixturevalue(engine)
    assert apply_migrations(client, db) == [m.version for m in MIGRATIONS]
    last = MIGRATIONS[-1]
    client.execute(f"ALTER TABLE {db}.schema_migrations DELETE WHERE version = {last.version}")
    deadline = time.monotonic() + 30  # ALTER ... DELETE is a mutation: applied in the background
    while last.version in applied_versions(client, db):
        assert time.monotonic() < deadline, "the version row was not deleted"
        time.sleep(0.1)
    assert apply_migrations(client, db) == [last.version]
    columns = {r[0] for r in client.execute(f"DESCRIBE TABLE {db}.proxy_losses")}
    assert {"proxy_namespace", "proxy_kind", "proxy_name", "proxy_pod"} <= columns


@pytest.mark.parametrize("engine", ["clickhouse_db", "chdb_db"])
def test_a_failed_statement_is_a_clickhouse_error_with_the_servers_code(
    engine: str, request: pytest.FixtureRequest
) -> None:
    client, db = request.getfixturevalue(engine)
    with pytest.raises(ClickHouseError) as failed:
        client.execute(f"SELECT 1 FROM {db}.no_such_table")
    assert failed.value.code == 60  # UNKNOWN_TABLE on both engines
