"""Daily rollups on 18.16 and chdb: stat() reads them only while exact, and equals the raw read."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import pytest
from sinks_truth import WINDOW_S, batch, generate
from test_sinks_query import DEPLOY, _versioned_rows, load_superseded, run_both

import meshpipe.sinks.query as query_module
from meshpipe.sinks.client import ChdbClient, ClickHouseClient, NativeClient
from meshpipe.sinks.edges import EdgeQuery, edges
from meshpipe.sinks.migrations import MIGRATIONS, apply_migrations
from meshpipe.sinks.query import EdgeMode, Peer, Selection, StatQuery, StatRow, stat
from meshpipe.sinks.rollup import DAY_S, EDGE_ROLLUP, LOSS_ROLLUP, current_rollups, roll_closed_days
from meshpipe.sinks.series import stat_series
from meshpipe.sinks.tables import EDGE_WINDOWS, batch_tables

pytestmark = pytest.mark.integration

MIDNIGHT = int(time.time()) // DAY_S * DAY_S
YESTERDAY = MIDNIGHT - DAY_S
TRUTH = generate(MIDNIGHT - 3 * WINDOW_S)  # windows on both sides of the last midnight
QUERIES = (
    StatQuery(DEPLOY, start_s=YESTERDAY - 3_600, end_s=MIDNIGHT + 3 * WINDOW_S),
    StatQuery(DEPLOY, EdgeMode.FROM, Peer("deployment", "web", "shop"), YESTERDAY, MIDNIGHT),
    StatQuery(Selection("namespace", (), None), start_s=YESTERDAY, end_s=MIDNIGHT + DAY_S),
)


def _raw_only(client: ClickHouseClient, db: str, query: StatQuery) -> list[StatRow]:
    """stat() as if no rollup existed."""
    original = query_module.daily_rollups
    query_module.daily_rollups = lambda *args, **kwargs: query_module._NO_DAILY  # type: ignore[assignment]
    try:
        return stat(client, db, query)
    finally:
        query_module.daily_rollups = original  # type: ignore[assignment]


def _check_same_as_raw(both: list[tuple[ClickHouseClient, str]]) -> None:
    for query in QUERIES:
        rows = run_both(both, query)
        assert rows, query
        for client, db in both:
            assert _raw_only(client, db, query) == rows


@pytest.fixture
def both(
    clickhouse_db: tuple[NativeClient, str], chdb_db: tuple[ChdbClient, str]
) -> list[tuple[ClickHouseClient, str]]:
    for client, db in (clickhouse_db, chdb_db):
        load_superseded(client, db, TRUTH)
    return [clickhouse_db, chdb_db]


def test_rolled_days_are_read_from_the_rollup_and_equal_the_raw_rows(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    for client, db in both:
        done = roll_closed_days(client, db, MIDNIGHT + 60, days_back=3)
        assert sorted(done) == [("edge_windows", YESTERDAY), ("proxy_losses", YESTERDAY)]
        for rollup in (EDGE_ROLLUP, LOSS_ROLLUP):
            assert set(current_rollups(client, db, rollup, [YESTERDAY])) == {YESTERDAY}
        # a second pass finds nothing stale
        assert roll_closed_days(client, db, MIDNIGHT + 60, days_back=3) == []
    _check_same_as_raw(both)
    sql: list[str] = []
    client, db = both[0]
    recording = _Recording(client, sql)
    stat(recording, db, QUERIES[0])
    [aggregate] = [q for q in sql if "GROUP BY g_ns" in q]
    assert f"FROM {db}.edge_days WHERE day = toDateTime({YESTERDAY})" in aggregate


def test_a_series_of_whole_days_reads_rolled_days_from_the_rollup_in_one_query(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    query = StatQuery(DEPLOY, start_s=YESTERDAY - 3_600, end_s=MIDNIGHT + 3 * WINDOW_S)
    days = [(YESTERDAY + d * DAY_S, YESTERDAY + (d + 1) * DAY_S) for d in (-1, 0, 1)]
    for client, db in both:
        roll_closed_days(client, db, MIDNIGHT + 60, days_back=3)
        sql: list[str] = []
        whole, per_day = stat_series(_Recording(client, sql), db, query, days)
        assert whole == stat(client, db, query)
        assert per_day == [
            stat(
                client,
                db,
                replace(query, start_s=max(a, query.start_s), end_s=min(b, query.end_s)),
                figures=False,
            )
            for a, b in days
        ]
        assert per_day[1]  # yesterday: rolled
        assert per_day[2]  # today: raw
        [aggregate] = [q for q in sql if "GROUP BY g_ns" in q]
        assert f"day AS window_start FROM {db}.edge_days WHERE day = toDateTime({YESTERDAY})" in (
            aggregate
        )


def test_edges_read_rolled_days_from_the_rollup_with_the_raw_rows_numbers(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    query = EdgeQuery(None, "all", YESTERDAY - 3_600, MIDNIGHT + 3 * WINDOW_S)
    raw = [edges(client, db, query) for client, db in both]
    assert raw[0]
    assert raw[0] == raw[1]
    for client, db in both:
        roll_closed_days(client, db, MIDNIGHT + 60, days_back=3)
        sql: list[str] = []
        assert edges(_Recording(client, sql), db, query) == raw[0]
        assert any(f"FROM {db}.edge_days WHERE day = toDateTime({YESTERDAY})" in q for q in sql)


def test_a_change_to_a_rolled_day_sends_reads_back_to_the_raw_rows_until_rolled_again(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    for client, db in both:
        roll_closed_days(client, db, MIDNIGHT + 60, days_back=3)
        # a newer version of yesterday's windows with other counts (a replay folding more)
        [edges] = [t for t in batch_tables(batch(TRUTH)) if t.table == EDGE_WINDOWS]
        day_of = edges.columns.index("window_start")
        newer = [
            r for r in _versioned_rows(edges, 2_000_000_000, 2) if r[day_of].timestamp() < MIDNIGHT
        ]
        client.insert(f"{db}.{EDGE_WINDOWS}", edges.columns, newer)
        assert current_rollups(client, db, EDGE_ROLLUP, [YESTERDAY]) == {}
    _check_same_as_raw(both)
    for client, db in both:
        assert roll_closed_days(client, db, MIDNIGHT + 60, days_back=3) == [
            ("edge_windows", YESTERDAY)
        ]
    _check_same_as_raw(both)


class _Recording:
    """A client that remembers every statement it ran."""

    def __init__(self, client: ClickHouseClient, sql: list[str]) -> None:
        self._client, self._sql = client, sql

    def execute(self, sql: str) -> list[tuple[object, ...]]:
        self._sql.append(sql)
        return self._client.execute(sql)

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)


def _without_batch_index(
    columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> tuple[list[str], list[tuple[object, ...]]]:
    """Rows as a schema from before migration 6 (requests.batch_index) takes them."""
    keep = [i for i, name in enumerate(columns) if name != "batch_index"]
    return [columns[i] for i in keep], [tuple(row[i] for i in keep) for row in rows]


def test_a_schema_from_before_the_rollups_is_read_from_the_raw_rows(
    clickhouse_db: tuple[NativeClient, str], chdb_db: tuple[ChdbClient, str]
) -> None:
    both: list[tuple[ClickHouseClient, str]] = [clickhouse_db, chdb_db]
    for client, db in both:
        apply_migrations(client, db, MIGRATIONS[:3])  # no rollup (nor connection) tables yet
        for table in batch_tables(replace(batch(TRUTH), connections=())):
            columns, rows = _without_batch_index(table.columns, table.rows)
            client.insert(f"{db}.{table.table}", columns, rows)
    for query in QUERIES:
        assert run_both(both, query)
