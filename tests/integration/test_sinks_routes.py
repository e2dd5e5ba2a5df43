"""routes() over generated request rows equals the known truth, on 18.16 and on chdb."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

import pytest
from sinks_truth import API, WEB, WINDOW_S, WINDOWS, Event, Truth, generate
from test_sinks_query import exact_quantile, load

from meshpipe.schemas.latency import MAX_ABSOLUTE_ERROR_US, MAX_RELATIVE_ERROR
from meshpipe.schemas.routes import OVERFLOW_ROUTE, RouteCap
from meshpipe.sinks.client import ChdbClient, ClickHouseClient, NativeClient
from meshpipe.sinks.query import EdgeMode, Peer, Selection
from meshpipe.sinks.routes import RouteQuery, RouteRow, routes

pytestmark = pytest.mark.integration

BASE_S = (int(time.time()) // 60) * 60 - 600
START, END = BASE_S + 7.5, float(BASE_S + WINDOWS * WINDOW_S - 3)  # not on window bounds
API_SERVER = Selection("deployment", ("api",), "shop")


def _real_looking(index: int, event: Event) -> Event:
    """The generated paths with ids, UUID-like and query-string variations."""
    path = {
        0: f"{event.path}/{index}?page=2",
        1: f"{event.path}/{index:08x}-aaaa-4bbb-8ccc-{index:012x}/",
        2: f"{event.path}?user={index}",
    }[index % 3]
    return replace(event, path=path)


def _truth() -> Truth:
    truth = generate(BASE_S, calls=600, seed=11)
    events = tuple(_real_looking(i, e) for i, e in enumerate(truth.events))
    return replace(truth, events=events)


TRUTH = _truth()
TEMPLATE = {0: "{id}", 1: "{uuid}"}


def _route(index: int, event: Event) -> str:
    base = event.path.split("?")[0].split("/")[1]
    suffix = TEMPLATE.get(index % 3)
    return f"GET /{base}/{suffix}" if suffix else f"GET /{base}"


@pytest.fixture
def both(
    clickhouse_db: tuple[NativeClient, str], chdb_db: tuple[ChdbClient, str]
) -> list[tuple[ClickHouseClient, str]]:
    load(*clickhouse_db, truth=TRUTH)
    load(*chdb_db, truth=TRUTH)
    return [clickhouse_db, chdb_db]


def _expected(keep: Callable[[Event], bool], start: float, end: float) -> dict[str, list[Event]]:
    groups: dict[str, list[Event]] = defaultdict(list)
    for i, e in enumerate(TRUTH.events):
        if start * 1e6 <= e.start_us < end * 1e6 and keep(e):
            groups[_route(i, e)].append(e)
    return dict(groups)


def _check(rows: list[RouteRow], truth: dict[str, list[Event]]) -> None:
    assert [r.route for r in rows] == sorted(truth)
    for row in rows:
        events = truth[row.route]
        assert row.service == "svc"
        assert row.requests == len(events)
        assert row.successes == sum(e.success for e in events)
        latencies = [e.latency_us for e in events]
        for q, got_ms in ((0.5, row.latency_ms_p50), (0.99, row.latency_ms_p99)):
            exact = exact_quantile(latencies, q)
            assert got_ms is not None
            bound = max(MAX_ABSOLUTE_ERROR_US, MAX_RELATIVE_ERROR * exact)
            assert abs(got_ms * 1000 - exact) <= bound + 1e-6


def _run_both(both: list[tuple[ClickHouseClient, str]], query: RouteQuery) -> list[RouteRow]:
    old, new = (routes(client, db, query) for client, db in both)
    assert old == new
    return old


def test_server_routes_are_templates_with_exact_counts(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    rows = _run_both(both, RouteQuery(API_SERVER, start_s=START, end_s=END))
    truth = _expected(lambda e: e.direction == "in" and e.destination == API, START, END)
    assert len(truth) == 9  # three paths, each with an id, a uuid and a query string
    _check(rows, truth)


def test_routes_to_a_target_are_the_callers_outbound_events(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    query = RouteQuery(
        Selection("deployment", ("web",), "shop"),
        EdgeMode.TO,
        Peer("deployment", "api", "shop"),
        START,
        END,
    )
    rows = _run_both(both, query)
    truth = _expected(
        lambda e: e.direction == "out" and e.source == WEB and e.destination == API, START, END
    )
    _check(rows, truth)


def test_a_range_over_several_days_reads_each_day_exactly(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    start = START - 2 * 86400
    rows = _run_both(both, RouteQuery(API_SERVER, start_s=start, end_s=END))
    _check(rows, _expected(lambda e: e.direction == "in" and e.destination == API, start, END))


def test_the_cap_counts_the_rest_as_overflow(both: list[tuple[ClickHouseClient, str]]) -> None:
    rows = _run_both(both, RouteQuery(API_SERVER, start_s=START, end_s=END, cap=RouteCap(4)))
    truth = _expected(lambda e: e.direction == "in" and e.destination == API, START, END)
    assert len(rows) == 4
    assert rows[-1].route == OVERFLOW_ROUTE
    assert sum(r.requests for r in rows) == sum(len(v) for v in truth.values())
