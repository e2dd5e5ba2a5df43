"""stat() turns aggregated rows into StatRows: rates per second, merged percentiles, validation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from meshpipe.schemas import clickhouse_codes as codes
from meshpipe.schemas.latency import Histogram, bucket_index, quantile
from meshpipe.sinks.client import ClickHouseError
from meshpipe.sinks.query import (
    READ_BUFFER_BYTES,
    EdgeMode,
    Peer,
    QueryError,
    Selection,
    StatQuery,
    quote,
    stat,
)


class CannedClient:
    """Answers the aggregate query with `rows` and every other query with nothing."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.queries: list[str] = []

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        self.queries.append(sql)
        return self.rows if "GROUP BY g_ns" in sql else []

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        raise AssertionError("queries never insert")

    def server_version(self) -> tuple[int, int]:
        return (18, 16)

    def close(self) -> None:
        pass


QUERY = StatQuery(Selection("deployment", (), "shop"), start_s=100.0, end_s=110.0)


def test_rates_divide_by_the_range_length() -> None:
    client = CannedClient([("shop", "deployment", "api", 1, 20, 15, 5, 1, 4, 1000, 5000, ([], []))])
    [row] = stat(client, "meshpipe", QUERY)
    assert (row.rps, row.read_bytes_per_s, row.write_bytes_per_s) == (2.0, 100.0, 500.0)
    assert row.success == 0.75
    assert row.latency_ms_p99 is None


def test_percentiles_come_from_the_merged_histogram() -> None:
    values = [1000] * 90 + [50_000] * 10
    hist = Histogram.of(values)
    keys = sorted(hist.counts)
    client = CannedClient(
        [
            (
                "shop",
                "deployment",
                "api",
                1,
                100,
                100,
                0,
                0,
                0,
                0,
                0,
                (keys, [hist.counts[k] for k in keys]),
            )
        ]
    )
    [row] = stat(client, "meshpipe", QUERY)
    assert row.latency_ms_p50 == pytest.approx(quantile(hist, 0.5) / 1000)  # type: ignore[operator]
    assert row.latency_ms_p99 is not None
    assert bucket_index(int(row.latency_ms_p99 * 1000)) == bucket_index(50_000)


def test_names_are_quoted_so_they_cannot_end_the_string() -> None:
    assert quote("a'b\\") == "'a\\'b\\\\'"
    client = CannedClient([])
    stat(
        client,
        "meshpipe",
        StatQuery(Selection("deployment", ("x' OR 1=1 --",), None), start_s=0, end_s=1),
    )
    assert "'x\\' OR 1=1 --'" in client.queries[0]


def test_to_mode_without_a_peer_is_refused() -> None:
    with pytest.raises(QueryError, match="peer"):
        stat(CannedClient([]), "meshpipe", StatQuery(QUERY.selection, EdgeMode.TO, None, 0, 1))


def test_empty_time_range_is_refused() -> None:
    with pytest.raises(QueryError, match="empty time range"):
        stat(CannedClient([]), "meshpipe", StatQuery(QUERY.selection, start_s=5, end_s=5))


def test_pod_selection_reads_raw_requests() -> None:
    client = CannedClient([])
    stat(client, "meshpipe", StatQuery(Selection("pod", (), None), start_s=0, end_s=1))
    assert "FROM meshpipe.requests FINAL WHERE" in client.queries[0]


class OwnersClient(CannedClient):
    """Like CannedClient, but the losses query finds lost events of three proxies."""

    LOSSES = (
        ("shop", "deployment", "api", "api-1", 3),
        ("shop", "deployment", "api", "api-2", 4),
        ("shop", "deployment", "web", "web-1", 5),
    )

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        if "FROM meshpipe.proxy_losses" in sql:
            self.queries.append(sql)
            return list(self.LOSSES)
        return super().execute(sql)


@pytest.mark.parametrize(
    ("query", "table"),
    [
        (QUERY, "edge_windows"),
        (
            StatQuery(QUERY.selection, EdgeMode.FROM, Peer("deployment", "web", "shop"), 0, 9),
            "edge_windows",
        ),
        (StatQuery(Selection("pod", (), None), start_s=0, end_s=1), "requests"),
    ],
    ids=["server", "from", "pods"],
)
def test_every_sum_reads_its_table_once_with_final_in_one_statement(
    query: StatQuery, table: str
) -> None:
    client = OwnersClient([])
    stat(client, "meshpipe", query)
    aggregate, losses, connections = client.queries
    assert f"FROM meshpipe.{table} FINAL WHERE" in aggregate
    assert "FROM meshpipe.proxy_losses FINAL WHERE" in losses
    assert "FROM meshpipe.tcp_connections FINAL WHERE" in connections
    for sql in (aggregate, losses, connections):
        assert sql.count(" FINAL") == 1
        assert "UNION" not in sql
        assert ";" not in sql
        assert sql.endswith(f" SETTINGS max_read_buffer_size = {READ_BUFFER_BYTES}")
    for sql in (aggregate, losses):
        assert sql.count("FROM") == 1
    # Proxies are found by the owner columns of proxy_losses, never through requests.
    assert "requests" not in losses


ROW = ("shop", "deployment", "api", 1, 20, 15, 5, 1, 4, 1000, 5000, ([], []))


@pytest.mark.parametrize(
    ("query", "rows", "lost", "owners"),
    [
        (QUERY, [ROW, ("shop", "deployment", "web", *ROW[3:])], {"api": 7, "web": 5}, "shop"),
        (
            StatQuery(QUERY.selection, EdgeMode.FROM, Peer("deployment", "web", "shop"), 0, 9),
            [ROW],
            {"api": 12},  # FROM: every row shows the loss of the peer's proxies
            "proxy_name IN ('web')",
        ),
        (
            StatQuery(Selection("pod", ("api-1",), "shop"), start_s=0, end_s=1),
            [("shop", "pod", "api-1", *ROW[3:])],
            {"api-1": 3},  # pod rows: only the proxy in that pod
            "proxy_pod IN ('api-1')",
        ),
    ],
    ids=["server", "from", "pod"],
)
def test_events_lost_sum_the_losses_of_each_rows_proxies(
    query: StatQuery, rows: list[tuple[Any, ...]], lost: dict[str, int], owners: str
) -> None:
    client = OwnersClient(rows)
    result = stat(client, "meshpipe", query)
    assert {r.name: r.events_lost for r in result} == lost
    assert owners in client.queries[1]
    # only proxies that reported events of the rows' direction: inbound (1) or outbound (2)
    mask = 1 if query.mode is EdgeMode.SERVER else 2
    assert f"HAVING bitAnd(groupBitOr(proxy_directions), {mask}) != 0" in client.queries[1]


DAY = 86_400


@pytest.mark.parametrize(
    ("selection", "table", "column"),
    [
        (Selection("deployment", (), "shop"), "edge_windows", "window_start"),
        (Selection("pod", (), "shop"), "requests", "start_time"),
    ],
    ids=["windows", "pods"],
)
def test_a_range_over_several_days_reads_each_day_with_its_own_final_in_one_statement(
    selection: Selection, table: str, column: str
) -> None:
    client = OwnersClient([])
    start, end = 19_000 * DAY + 3_600, 19_002 * DAY + 60  # parts of three UTC days
    stat(client, "meshpipe", StatQuery(selection, start_s=start, end_s=end))
    [aggregate] = [q for q in client.queries if "GROUP BY g_ns" in q]
    assert aggregate.count(";") == 0
    assert aggregate.count(f"FROM meshpipe.{table} FINAL WHERE") == 3
    assert aggregate.count(" UNION ALL ") == 2
    for low, high in ((start, 19_001 * DAY), (19_001 * DAY, 19_002 * DAY), (19_002 * DAY, end)):
        assert f"{column} >= toDateTime({low}) AND {column} < toDateTime({high})" in aggregate
    assert aggregate.endswith(f" SETTINGS max_read_buffer_size = {READ_BUFFER_BYTES}")
    [losses] = [q for q in client.queries if "FROM meshpipe.proxy_losses" in q]
    assert losses.count("FROM meshpipe.proxy_losses FINAL WHERE") == 3
    assert losses.count(" UNION ALL ") == 2


def test_a_range_within_one_day_reads_once_without_union() -> None:
    client = OwnersClient([])
    stat(client, "meshpipe", StatQuery(QUERY.selection, start_s=DAY, end_s=2 * DAY))
    [aggregate] = [q for q in client.queries if "GROUP BY g_ns" in q]
    assert aggregate.count("FINAL") == 1
    assert "UNION" not in aggregate


class ReadonlyClient(OwnersClient):
    """A readonly=1 user whose profile has another buffer size: SETTINGS clauses are refused."""

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        if " SETTINGS " in sql:
            self.queries.append(sql)
            raise ClickHouseError("Cannot execute SET query in readonly mode", codes.READONLY)
        return super().execute(sql)


def test_a_readonly_user_gets_the_same_statements_without_the_setting() -> None:
    row = ("shop", "deployment", "api", 1, 20, 15, 5, 1, 4, 1000, 5000, ([], []))
    client = ReadonlyClient([row])
    [stat_row] = stat(client, "meshpipe", QUERY)
    assert stat_row.requests == 20
    refused, aggregate, refused_losses, losses, refused_connections, connections = client.queries
    assert refused == aggregate + f" SETTINGS max_read_buffer_size = {READ_BUFFER_BYTES}"
    assert refused_losses.startswith(losses + " SETTINGS ")
    assert refused_connections.startswith(connections + " SETTINGS ")


# --- TCP_CONN: the latest connection report of each proxy edge before the end --------------------


class GaugesClient(CannedClient):
    """Like CannedClient, but the tcp_connections query answers `gauges`, or fails with `error`."""

    def __init__(
        self,
        rows: list[tuple[Any, ...]],
        gauges: list[tuple[Any, ...]],
        error: ClickHouseError | None = None,
    ) -> None:
        super().__init__(rows)
        self.gauges = gauges
        self.error = error

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        if "FROM meshpipe.tcp_connections" in sql:
            self.queries.append(sql)
            if self.error is not None:
                raise self.error
            return list(self.gauges)
        return super().execute(sql)


def _connections_sql(client: CannedClient) -> str:
    [sql] = [q for q in client.queries if "tcp_connections" in q]
    return sql


def test_tcp_conn_sums_each_proxy_edges_latest_report_in_the_lookback_before_the_end() -> None:
    client = GaugesClient([ROW], [("shop", "deployment", "api", 4)])
    [row] = stat(client, "meshpipe", StatQuery(QUERY.selection, start_s=100.0, end_s=1000.4))
    assert row.tcp_open_connections == 4
    sql = _connections_sql(client)
    # per proxy edge the open count of its latest report, then summed per row, in one statement
    assert "argMax(open_connections, report_us) AS latest_open" in sql
    assert "GROUP BY c_ns, c_kind, c_name, proxy_id, direction, source, destination" in sql
    assert sql.startswith("SELECT c_ns, c_kind, c_name, sum(latest_open) FROM (SELECT ")
    # the 30 s before the (whole-second) end, whatever the range's start
    assert "window_start >= toDateTime(971) AND window_start < toDateTime(1001)" in sql
    # the rows of the stat query: inbound, deployments of shop, grouped by destination
    assert "direction = 'in'" in sql
    assert "destination_kind IN ('deploy', 'deploys', 'deployment', 'deployments')" in sql
    assert "destination_namespace = 'shop'" in sql
    assert "if(destination_meshed = 1, destination_name, destination) AS c_name" in sql


def test_tcp_conn_of_from_and_to_reads_the_outbound_reports_of_the_sources() -> None:
    peer = Peer("deployment", "web", "shop")
    for mode, grouped, peer_side in (
        (EdgeMode.FROM, "destination", "source"),
        (EdgeMode.TO, "source", "destination"),
    ):
        client = GaugesClient([], [])
        stat(client, "meshpipe", StatQuery(QUERY.selection, mode, peer, 0, 10))
        sql = _connections_sql(client)
        assert "direction = 'out'" in sql
        assert f"{peer_side}_name = 'web'" in sql
        assert f"if({grouped}_meshed = 1, {grouped}_name, {grouped}) AS c_name" in sql


def test_a_row_without_reports_in_the_lookback_has_no_tcp_conn() -> None:
    client = GaugesClient([ROW], [])
    [row] = stat(client, "meshpipe", QUERY)
    assert row.tcp_open_connections is None


def test_a_resource_with_open_connections_but_no_requests_gets_a_row_of_its_own() -> None:
    web = ("shop", "deployment", "web", *ROW[3:])
    client = GaugesClient(
        [web], [("shop", "deployment", "api", 2), ("shop", "deployment", "web", 1)]
    )
    rows = stat(client, "meshpipe", QUERY)
    assert [(r.name, r.requests, r.tcp_open_connections) for r in rows] == [
        ("api", 0, 2),
        ("web", 20, 1),
    ]
    idle = rows[0]
    assert idle.meshed
    assert (idle.success, idle.rps, idle.latency_ms_p50) == (None, 0.0, None)


def test_a_schema_without_the_connections_table_leaves_tcp_conn_empty() -> None:
    error = ClickHouseError("Table meshpipe.tcp_connections doesn't exist", codes.UNKNOWN_TABLE)
    [row] = stat(client := GaugesClient([ROW], [], error), "meshpipe", QUERY)
    assert row.tcp_open_connections is None
    assert len(client.queries) == 3


def test_unmeshed_peers_of_pod_rows_are_named_by_address_as_requests_name_them() -> None:
    # pod rows come from `requests`, which names an unmeshed peer by its authority, else its IP
    query = StatQuery(
        Selection("pod", (), "shop"), EdgeMode.FROM, Peer("pod", "web-1", "shop"), 0, 10, True
    )
    gauges = [("", "", "authority=ext.example.com", 2), ("", "", "ip=10.9.9.9,port=443", 1)]
    rows = stat(GaugesClient([], gauges), "meshpipe", query)
    assert [(r.name, r.meshed, r.tcp_open_connections) for r in rows] == [
        ("10.9.9.9", False, 1),
        ("ext.example.com", False, 2),
    ]
