"""edges() over generated windows equals the known truth, on 18.16 and on chdb."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sinks_truth import EXTERNAL, Event
from test_sinks_query import END, START, TRUTH, both, exact_quantile, workload_key

from meshpipe.schemas.identity import WorkloadId
from meshpipe.schemas.latency import MAX_ABSOLUTE_ERROR_US, MAX_RELATIVE_ERROR
from meshpipe.sinks.client import ClickHouseClient
from meshpipe.sinks.edges import EdgeQuery, EdgeRow, edges
from meshpipe.sinks.health import newest_window_s

pytestmark = pytest.mark.integration
__all__ = ["both"]  # the fixture, loaded with TRUTH on both engines

Key = tuple[str, str, str, str, str, str]


def _counted_once(e: Event) -> bool:
    """The event an edge's request is counted by: the server's when meshed, else the client's."""
    meshed_destination = isinstance(e.destination, WorkloadId)
    return e.direction == ("in" if meshed_destination else "out")


def _expected(
    start: float, end: float, namespace: str | None, kind: str | None = None
) -> dict[Key, list[Event]]:
    groups: dict[Key, list[Event]] = defaultdict(list)
    for e in TRUTH.events:
        meshed = [p for p in (e.source, e.destination) if isinstance(p, WorkloadId)]
        touches = namespace is None or any(p.namespace == namespace for p in meshed)
        of_kind = kind is None or all(p.kind == kind for p in meshed)
        if start <= e.window_start_s < end and _counted_once(e) and touches and of_kind:
            groups[(*workload_key(e.source), *workload_key(e.destination))].append(e)
    return dict(groups)


def _check(rows: list[EdgeRow], truth: dict[Key, list[Event]]) -> None:
    keys = [(r.src_namespace, r.src_kind, r.src, r.dst_namespace, r.dst_kind, r.dst) for r in rows]
    assert keys == sorted(truth)
    for key, row in zip(keys, rows, strict=True):
        events = truth[key]
        assert row.requests == len(events)
        assert row.successes == sum(e.success for e in events)
        exact = exact_quantile([e.latency_us for e in events], 0.99)
        assert row.latency_ms_p99 is not None
        bound = max(MAX_ABSOLUTE_ERROR_US, MAX_RELATIVE_ERROR * exact)
        assert abs(row.latency_ms_p99 * 1000 - exact) <= bound + 1e-6


def _run_both(both: list[tuple[ClickHouseClient, str]], query: EdgeQuery) -> list[EdgeRow]:
    old, new = (edges(client, db, query) for client, db in both)
    assert old == new
    return old


def test_every_edge_counts_each_request_once(both: list[tuple[ClickHouseClient, str]]) -> None:
    rows = _run_both(both, EdgeQuery(None, "all", START, END))
    truth = _expected(START, END, None)
    assert ("shop", "deployment", "api", "", "", str(EXTERNAL)) in truth  # a call out of the mesh
    _check(rows, truth)


def test_edges_of_a_namespace_and_kind_touch_it(both: list[tuple[ClickHouseClient, str]]) -> None:
    rows = _run_both(both, EdgeQuery("shop", "deployment", START, END))
    truth = _expected(START, END, "shop", "deployment")
    assert not any("statefulset" in key for key in truth)
    _check(rows, truth)


def test_a_range_over_several_days_reads_each_day_exactly(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    rows = _run_both(both, EdgeQuery(None, "all", START - 2 * 86400, END))
    _check(rows, _expected(START - 2 * 86400, END, None))


def test_newest_window_is_the_start_of_the_latest_stored_window(
    both: list[tuple[ClickHouseClient, str]],
) -> None:
    newest = max(e.window_start_s for e in TRUTH.events)
    for client, db in both:
        assert newest_window_s(client, db, START) == newest
        assert newest_window_s(client, db, newest + 1) is None
