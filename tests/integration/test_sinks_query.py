"""stat() over generated rows equals the known truth, on 18.16 and on chdb, row for row."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

import pytest
from sinks_truth import (
    API,
    BILLING,
    DB,
    EXTERNAL,
    WEB,
    WINDOW_S,
    Event,
    Truth,
    batch,
    generate,
    open_connections,
)

from meshpipe.schemas.identity import WorkloadId
from meshpipe.schemas.latency import MAX_ABSOLUTE_ERROR_US, MAX_RELATIVE_ERROR
from meshpipe.sinks.client import ChdbClient, ClickHouseClient, NativeClient
from meshpipe.sinks.migrations import apply_migrations
from meshpipe.sinks.query import (
    EdgeMode,
    Peer,
    QueryError,
    Selection,
    StatQuery,
    StatRow,
    resource_names,
    stat,
)
from meshpipe.sinks.series import stat_series, stat_with_namespaces
from meshpipe.sinks.tables import TableRows, Values, batch_tables

pytestmark = pytest.mark.integration

BASE_S = (int(time.time()) // 60) * 60 - 600  # recent: inside every TTL, inside "last hour"
TRUTH = generate(BASE_S)
START, END = float(BASE_S), float(BASE_S + 6 * WINDOW_S)
DEPLOY = Selection("deployment", (), None)


def load(client: ClickHouseClient, db: str, truth: Truth = TRUTH) -> None:
    apply_migrations(client, db)
    for table in batch_tables(batch(truth)):
        client.insert(f"{db}.{table.table}", table.columns, table.rows)


@pytest.fixture
def both(
    clickhouse_db: tuple[NativeClient, str], chdb_db: tuple[ChdbClient, str]
) -> list[tuple[ClickHouseClient, str]]:
    load(*clickhouse_db)
    load(*chdb_db)
    return [clickhouse_db, chdb_db]


Key = tuple[str, str, str]


def expected(
    keep: Callable[[Event], bool],
    key: Callable[[Event], Key],
    start: float,
    end: float,
    truth: Truth = TRUTH,
) -> dict[Key, list[Event]]:
    groups: dict[Key, list[Event]] = defaultdict(list)
    for e in truth.events:
        if start <= e.window_start_s < end and keep(e):
            groups[key(e)].append(e)
    return dict(groups)


def workload_key(peer: object) -> Key:
    if isinstance(peer, WorkloadId):
        return (peer.namespace, peer.kind, peer.name)
    return ("", "", str(peer))


def exact_quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def check_rows(rows: list[StatRow], truth: dict[Key, list[Event]], seconds: float) -> None:
    assert [(r.namespace, r.kind, r.name) for r in rows] == sorted(truth)
    for row in rows:
        events = truth[(row.namespace, row.kind, row.name)]
        assert row.requests == len(events)
        assert row.successes == sum(e.success for e in events)
        assert row.failures == row.requests - row.successes
        assert row.status_4xx == sum(400 <= e.http_status < 500 for e in events)
        assert row.status_5xx == sum(e.http_status >= 500 for e in events)
        assert row.success == row.successes / row.requests
        assert row.rps == pytest.approx(len(events) / seconds)
        assert row.read_bytes_per_s == pytest.approx(sum(e.request_bytes for e in events) / seconds)
        assert row.write_bytes_per_s == pytest.approx(
            sum(e.response_bytes for e in events) / seconds
        )
        latencies = [e.latency_us for e in events]
        for q, got_ms in (
            (0.5, row.latency_ms_p50),
            (0.95, row.latency_ms_p95),
            (0.99, row.latency_ms_p99),
        ):
            exact = exact_quantile(latencies, q)
            assert got_ms is not None
            bound = max(MAX_ABSOLUTE_ERROR_US, MAX_RELATIVE_ERROR * exact)
            assert abs(got_ms * 1000 - exact) <= bound + 1e-6, (row.name, q, got_ms, exact)


def run_both(both: list[tuple[ClickHouseClient, str]], query: StatQuery) -> list[StatRow]:
    old, new = (stat(client, db, query) for client, db in both)
    assert old == new
    return old


def inbound_deployment_truth(
    start: float = START, end: float = END, truth: Truth = TRUTH
) -> dict[Key, list[Event]]:
    """The events of the SERVER-mode deployment rows over [start, end)."""
    return expected(
        lambda e: (
            e.direction == "in"
            and isinstance(e.destination, WorkloadId)
            and e.destination.kind == "deployment"
        ),
        lambda e: workload_key(e.destination),
        start,
        end,
        truth,
    )


def inbound_shop_pod_truth(
    start: float = START, end: float = END, truth: Truth = TRUTH
) -> dict[Key, list[Event]]:
    """The events of the SERVER-mode pod rows of namespace shop over [start, end)."""
    return expected(
        lambda e: e.direction == "in" and e.destination in (WEB, API, DB),
        lambda e: ("shop", "pod", e.destination_pod),
        start,
        end,
        truth,
    )


def tcp_conn(rows: list[StatRow]) -> dict[Key, int]:
    """TCP_CONN of the rows that have one."""
    return {
        (r.namespace, r.kind, r.name): r.tcp_open_connections
        for r in rows
        if r.tcp_open_connections is not None
    }


def test_server_mode_rows_equal_the_truth_for_inbound_traffic(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    rows = run_both(both, StatQuery(DEPLOY, start_s=START, end_s=END))
    truth = inbound_deployment_truth()
    check_rows(rows, truth, END - START)
    assert {r.name for r in rows} == {"web", "api", "billing"}


def test_from_mode_rows_equal_the_truth_for_outbound_traffic_of_the_peer(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    query = StatQuery(
        Selection("all", (), None),
        EdgeMode.FROM,
        Peer("deployment", "api", "shop"),
        START,
        END,
        include_unmeshed=True,
    )
    rows = run_both(both, query)
    truth = expected(
        lambda e: e.direction == "out" and e.source == API,
        lambda e: workload_key(e.destination),
        START,
        END,
    )
    check_rows(rows, truth, END - START)
    assert {r.name for r in rows} == {"db", str(EXTERNAL)}
    assert [r.meshed for r in rows] == [False, True]  # unmeshed peers sort first (empty ns)


def test_to_mode_rows_equal_the_truth_for_callers_of_the_peer(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    start, end = START + 10, START + 40  # a sub-range: windows starting in it
    query = StatQuery(DEPLOY, EdgeMode.TO, Peer("deployment", "billing", None), start, end)
    rows = run_both(both, query)
    truth = expected(
        lambda e: e.direction == "out" and e.destination == BILLING,
        lambda e: workload_key(e.source),
        start,
        end,
    )
    check_rows(rows, truth, end - start)
    assert [r.name for r in rows] == ["web"]


def test_namespace_rows_sum_their_workloads(both: list[tuple[ClickHouseClient, str]]) -> None:
    rows = run_both(both, StatQuery(Selection("namespace", (), None), start_s=START, end_s=END))
    truth = expected(
        lambda e: e.direction == "in",
        lambda e: (e.destination.namespace, "namespace", e.destination.namespace),  # type: ignore[union-attr]
        START,
        END,
    )
    check_rows(rows, truth, END - START)


def test_pod_rows_come_from_raw_requests_and_equal_the_truth(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    rows = run_both(both, StatQuery(Selection("pod", (), "shop"), start_s=START, end_s=END))
    truth = inbound_shop_pod_truth()
    check_rows(rows, truth, END - START)
    assert [r.name for r in rows] == ["api-1", "db-0", "web-1", "web-2"]


def test_events_lost_counts_the_dropped_sequence_numbers_of_the_rows_proxies(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    rows = run_both(both, StatQuery(DEPLOY, start_s=START, end_s=END))
    assert TRUTH.lost["api-1-proxy"] > 0
    assert {r.name: r.events_lost for r in rows} == {
        "api": TRUTH.lost["api-1-proxy"],
        "billing": 0,
        "web": 0,
    }


def test_range_without_events_gives_no_rows(both: list[tuple[ClickHouseClient, str]]) -> None:
    assert run_both(both, StatQuery(DEPLOY, start_s=END + 3600, end_s=END + 7200)) == []


def test_named_selection_in_a_namespace_returns_only_those_resources(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    query = StatQuery(Selection("deployment", ("api", "nosuch"), "shop"), start_s=START, end_s=END)
    assert [r.name for r in run_both(both, query)] == ["api"]


def test_from_mode_without_a_peer_is_refused(both: list[tuple[ClickHouseClient, str]]) -> None:
    with pytest.raises(QueryError):
        stat(*both[0], StatQuery(DEPLOY, EdgeMode.FROM, None, START, END))


def test_resource_names_list_seen_meshed_resources(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    for client, db in both:
        assert resource_names(client, db, "deployment", None) == ["api", "billing", "web"]
        assert resource_names(client, db, "deployment", "pay") == ["billing"]
        assert resource_names(client, db, "statefulset", "shop") == ["db"]
        assert resource_names(client, db, "namespace", None) == ["pay", "shop"]
        assert resource_names(client, db, "pod", "shop") == ["api-1", "db-0", "web-1", "web-2"]


def _versioned_rows(table: TableRows, bump: int, scale: int) -> list[Values]:
    """table's rows with version + bump and every count column times scale (requests: as is)."""
    columns = list(table.columns)
    if "version" not in columns:
        return list(table.rows)
    scaled = {
        "requests", "successes", "failures", "events", "seq_max", "latency_counts",
        "open_connections",
    }  # fmt: skip
    out = []
    for row in table.rows:
        values = list(row)
        values[columns.index("version")] += bump
        for name in scaled & set(columns):
            i = columns.index(name)
            values[i] = (
                [v * scale for v in values[i]] if name == "latency_counts" else values[i] * scale
            )
        out.append(tuple(values))
    return out


def load_superseded(client: ClickHouseClient, db: str, truth: Truth = TRUTH) -> None:
    """Stale versions with wrong counts (and replayed requests), then the true rows, newer."""
    apply_migrations(client, db)
    for bump, scale in ((0, 3), (1_000_000_000, 1)):
        for table in batch_tables(batch(truth)):
            rows = _versioned_rows(table, bump, scale)
            client.insert(f"{db}.{table.table}", table.columns, rows)


def test_superseded_versions_and_replayed_requests_collapse_to_the_latest_rows(
    clickhouse_db: tuple[NativeClient, str],
    chdb_db: tuple[ChdbClient, str],
) -> None:
    both: list[tuple[ClickHouseClient, str]] = [clickhouse_db, chdb_db]
    for client, db in both:
        load_superseded(client, db)
    rows = run_both(both, StatQuery(DEPLOY, start_s=START, end_s=END))
    truth = inbound_deployment_truth()
    check_rows(rows, truth, END - START)
    assert {r.name: r.events_lost for r in rows}["api"] == TRUTH.lost["api-1-proxy"]
    pods = run_both(both, StatQuery(Selection("pod", (), "shop"), start_s=START, end_s=END))
    pod_truth = inbound_shop_pod_truth()
    check_rows(pods, pod_truth, END - START)
    assert tcp_conn(rows) == open_connections(
        TRUTH,
        lambda g: g.direction == "in" and g.destination in (WEB, API, BILLING),
        lambda g: workload_key(g.destination),
        END,
    )


DAY_S = 86_400


def test_a_range_over_several_days_equals_the_truth_across_midnight(
    clickhouse_db: tuple[NativeClient, str],
    chdb_db: tuple[ChdbClient, str],
) -> None:
    """Windows on both sides of the last UTC midnight, superseded versions on both days, read
    over parts of three days (one FINAL per day): every row still equals the truth."""
    midnight = int(time.time()) // DAY_S * DAY_S
    truth = generate(midnight - 3 * WINDOW_S)
    both: list[tuple[ClickHouseClient, str]] = [clickhouse_db, chdb_db]
    for client, db in both:
        load_superseded(client, db, truth)
    start, end = float(midnight - DAY_S - 3_600), float(midnight + 3 * WINDOW_S)
    assert {e.window_start_s // DAY_S for e in truth.events} == {
        midnight // DAY_S - 1,
        midnight // DAY_S,
    }
    rows = run_both(both, StatQuery(DEPLOY, start_s=start, end_s=end))
    check_rows(rows, inbound_deployment_truth(start, end, truth), end - start)
    # api-1's lost events lie after midnight, its sequence numbers span both days
    assert truth.lost["api-1-proxy"] > 0
    assert {r.name: r.events_lost for r in rows}["api"] == truth.lost["api-1-proxy"]
    pods = run_both(both, StatQuery(Selection("pod", (), "shop"), start_s=start, end_s=end))
    check_rows(pods, inbound_shop_pod_truth(start, end, truth), end - start)


# --- TCP_CONN ------------------------------------------------------------------------------------


def test_tcp_conn_is_each_proxy_edges_latest_open_count_summed_per_row(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    inbound = open_connections(
        TRUTH,
        lambda g: g.direction == "in" and g.destination in (WEB, API, BILLING),
        lambda g: workload_key(g.destination),
        END,
    )
    assert tcp_conn(run_both(both, StatQuery(DEPLOY, start_s=START, end_s=END))) == inbound
    assert set(inbound) == {("shop", "deployment", n) for n in ("web", "api")} | {
        ("pay", "deployment", "billing")
    }
    # one report window earlier: the older reports are the latest ones
    earlier = open_connections(
        TRUTH,
        lambda g: g.direction == "in" and g.destination in (WEB, API, BILLING),
        lambda g: workload_key(g.destination),
        END - WINDOW_S,
    )
    assert earlier != inbound
    query = StatQuery(DEPLOY, start_s=START, end_s=END - WINDOW_S)
    assert tcp_conn(run_both(both, query)) == earlier


def test_tcp_conn_with_from_and_to_counts_the_sources_outbound_connections(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    from_api = StatQuery(
        Selection("all", (), None),
        EdgeMode.FROM,
        Peer("deployment", "api", "shop"),
        START,
        END,
        True,
    )
    assert tcp_conn(run_both(both, from_api)) == open_connections(
        TRUTH,
        lambda g: g.direction == "out" and g.source == API,
        lambda g: workload_key(g.destination),
        END,
    )
    to_billing = StatQuery(DEPLOY, EdgeMode.TO, Peer("deployment", "billing", None), START, END)
    got = tcp_conn(run_both(both, to_billing))
    assert got == open_connections(
        TRUTH,
        lambda g: g.direction == "out" and g.destination == BILLING,
        lambda g: workload_key(g.source),
        END,
    )
    assert list(got) == [("shop", "deployment", "web")]  # web-1's and web-2's summed


def test_tcp_conn_of_pod_rows_is_each_pods_own_proxy(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    rows = run_both(both, StatQuery(Selection("pod", (), "shop"), start_s=START, end_s=END))
    assert tcp_conn(rows) == open_connections(
        TRUTH,
        lambda g: g.direction == "in" and g.destination in (WEB, API, DB),
        lambda g: ("shop", "pod", g.pod),
        END,
    )


def test_a_range_ending_before_every_report_has_no_tcp_conn(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    rows = run_both(both, StatQuery(DEPLOY, start_s=START, end_s=START + 3 * WINDOW_S))
    assert rows
    assert {r.tcp_open_connections for r in rows} == {None}


def test_stat_without_figures_has_the_same_sums(both: list[tuple[ClickHouseClient, str]]) -> None:
    query = StatQuery(DEPLOY, start_s=START, end_s=END)
    for client, db in both:
        full = stat(client, db, query)
        lean = stat(client, db, query, figures=False)
        assert lean == [replace(r, events_lost=0, tcp_open_connections=None) for r in full]


@pytest.mark.parametrize("step", [WINDOW_S, 2 * WINDOW_S, 4 * WINDOW_S])
def test_series_buckets_and_the_whole_range_equal_stat_of_each(
    both: list[tuple[ClickHouseClient, str]], step: int
) -> None:
    """Buckets from before the range to after it: each bucket's rows are stat's over its part
    of the range, and the whole range's rows (merged from the buckets' sums) are stat's."""
    start, end = START + WINDOW_S / 2, END - WINDOW_S
    first = START - step
    buckets = [
        (first + i * step, first + (i + 1) * step) for i in range(math.ceil((end - first) / step))
    ]
    for selection in (DEPLOY, Selection("namespace", (), None), Selection("pod", (), "shop")):
        query = StatQuery(selection, start_s=start, end_s=end)
        for client, db in both:
            expected = [
                stat(
                    client,
                    db,
                    replace(query, start_s=max(a, start), end_s=min(b, end)),
                    figures=False,
                )
                if min(b, end) > max(a, start)
                else []
                for a, b in buckets
            ]
            whole, per_bucket = stat_series(client, db, query, buckets)
            assert per_bucket == expected
            assert any(expected)
            assert whole == stat(client, db, query)


def test_namespaces_summed_from_every_workloads_sums_equal_stat_of_the_namespaces(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    query = StatQuery(Selection("all", (), None), start_s=START, end_s=END)
    namespaces = replace(query, selection=Selection("namespace", (), None))
    for client, db in both:
        workloads, of_namespaces = stat_with_namespaces(client, db, query)
        assert workloads == stat(client, db, query)
        assert of_namespaces == stat(client, db, namespaces)
        assert len(of_namespaces) > 1
        assert any(r.events_lost for r in of_namespaces)


def test_namespaces_are_summed_only_from_every_workload_of_every_namespace(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    client, db = both[0]
    with pytest.raises(QueryError, match="namespaces"):
        stat_with_namespaces(client, db, StatQuery(DEPLOY, start_s=START, end_s=END))
