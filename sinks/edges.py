"""Every edge between resources (meshstat edges) from the per-edge windows.

Where the numbers come from: `edge_windows` through `sinks.query`'s reader (`FINAL` per UTC
day, a whole day's current rollup instead of its windows), windows whose start lies in the
range, as in `stat`. Each request is counted once: by the destination's proxy when the
destination is meshed (`in`), else by the source's (`out`, e.g. calls out of the mesh).
A meshed end is named by its workload (namespace, canonical kind, name); an unmeshed end by its
peer text (`schemas.identity`), with namespace and kind empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from meshpipe.schemas.latency import Histogram, quantile
from meshpipe.sinks.client import ClickHouseClient, check_name
from meshpipe.sinks.query import (
    QueryError,
    canonical_kind_sql,
    daily_rollups,
    execute_final,
    final_source,
    kind_is,
    quote,
    window_bounds,
)
from meshpipe.sinks.rollup import EDGE_ROLLUP, time_range
from meshpipe.sinks.tables import EDGE_WINDOWS

_SIDES = ("source", "destination")
_PEER = ("", "_namespace", "_kind", "_name", "_meshed")
_COLUMNS = ", ".join(
    ["direction"]
    + [f"{side}{c}" for side in _SIDES for c in _PEER]
    + ["requests", "successes", "latency_buckets", "latency_counts"]
)
ANY_KIND = "all"
_KEY = "e_src_ns, e_src_kind, e_src_name, e_dst_ns, e_dst_kind, e_dst_name"


@dataclass(frozen=True)
class EdgeQuery:
    """Edges touching a namespace (None: all) between resources of one kind (or all)."""

    namespace: str | None
    kind: str = ANY_KIND  # canonical workload kind of the meshed ends, or ANY_KIND
    start_s: float = 0.0  # Unix seconds, inclusive
    end_s: float = 0.0  # Unix seconds, exclusive


@dataclass(frozen=True)
class EdgeRow:
    """One edge's statistics over the query's range."""

    src_namespace: str
    src_kind: str
    src: str
    dst_namespace: str
    dst_kind: str
    dst: str
    requests: int
    successes: int
    success: float | None
    rps: float
    latency_ms_p99: float | None
    start_s: float
    end_s: float


def _filters(query: EdgeQuery) -> str:
    counted_once = (
        "((direction = 'in' AND destination_meshed = 1)"
        " OR (direction = 'out' AND destination_meshed = 0))"
    )
    parts = [counted_once]
    if query.namespace is not None:
        ns = quote(query.namespace)
        parts.append(f"(source_namespace = {ns} OR destination_namespace = {ns})")
    if query.kind != ANY_KIND:
        parts += [f"({s}_meshed = 0 OR {kind_is(f'{s}_kind', query.kind)})" for s in _SIDES]
    return " AND ".join(parts)


def _end(side: str, alias: str) -> str:
    """SQL for (namespace, kind, name) of one end of an edge, as alias_ns, alias_kind, alias_name.

    Named, not positional: 18.16 cannot GROUP BY column numbers.
    """
    meshed = f"{side}_meshed = 1"
    kind = canonical_kind_sql(f"{side}_kind")
    return (
        f"if({meshed}, {side}_namespace, '') AS {alias}_ns,"
        f" if({meshed}, {kind}, '') AS {alias}_kind,"
        f" if({meshed}, {side}_name, {side}) AS {alias}_name"
    )


def edges(client: ClickHouseClient, database: str, query: EdgeQuery) -> list[EdgeRow]:
    """One row per edge with requests in the range, by source then destination."""
    db = check_name(database, "database")
    if not query.end_s > query.start_s:
        raise QueryError(f"empty time range [{query.start_s}, {query.end_s})")
    low, high = window_bounds(query.start_s, query.end_s)
    filters = _filters(query)
    daily = daily_rollups(client, db, EDGE_ROLLUP, low, high, filters)
    where = f"{time_range('window_start', low, high)} AND {filters}"
    source = final_source(db, EDGE_WINDOWS, _COLUMNS, where, low, high, daily)
    rows = execute_final(
        client,
        f"SELECT {_end('source', 'e_src')}, {_end('destination', 'e_dst')},"  # noqa: S608
        " sum(requests), sum(successes), sumMap(latency_buckets, latency_counts)"
        f" FROM {source} GROUP BY {_KEY} ORDER BY {_KEY}",
    )
    return [_row(row, query) for row in rows]


def _row(row: Sequence[Any], query: EdgeQuery) -> EdgeRow:
    s_ns, s_kind, s_name, d_ns, d_kind, d_name, requests, successes, hist = row
    histogram = Histogram.from_counts(dict(zip(hist[0], hist[1], strict=True)))
    p99 = quantile(histogram, 0.99)
    return EdgeRow(
        src_namespace=str(s_ns),
        src_kind=str(s_kind),
        src=str(s_name),
        dst_namespace=str(d_ns),
        dst_kind=str(d_kind),
        dst=str(d_name),
        requests=int(requests),
        successes=int(successes),
        success=int(successes) / int(requests) if requests else None,
        rps=int(requests) / (query.end_s - query.start_s),
        latency_ms_p99=None if p99 is None else p99 / 1000.0,
        start_s=query.start_s,
        end_s=query.end_s,
    )
