"""Statistics the dashboard needs together, each from one read of the sums: a selection over
consecutive equal time buckets (sparklines, charts) and over the whole range; the workloads of
every namespace and the namespaces (the overview).

Each bucket's rows are exactly what `stat(figures=False)` gives for the part of the bucket inside
the query's range; the whole range's rows are exactly `stat`'s (figures included), merged from the
buckets' sums (counts add up, histograms merge) instead of read a second time.

Workload and namespace selections are one read: the stat query's sums grouped also by bucket,
over the edge windows as `stat` reads them (`FINAL`, a `UNION ALL` of days). When the buckets are
whole UTC days, each whole day of the range is read from its daily rollup, as `stat` does: a
month is then one small read per day instead of one per bucket. Pod selections (raw requests)
are asked per bucket.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from meshpipe.sinks import query as stat_query
from meshpipe.sinks.client import ClickHouseClient, check_name
from meshpipe.sinks.query import (
    EdgeMode,
    QueryError,
    Selection,
    StatQuery,
    StatRow,
    daily_rollups,
    execute_final,
    final_source,
    stat,
    stat_rows,
    stat_sums,
    window_bounds,
)
from meshpipe.sinks.rollup import DAY_S, EDGE_ROLLUP
from meshpipe.sinks.tables import EDGE_WINDOWS

Bucket = tuple[float, float]
RowKey = tuple[str, str, str]


def _check(query: StatQuery, buckets: Sequence[Bucket]) -> int:
    """The buckets' common whole-second length; QueryError unless consecutive, equal and
    covering the query's range."""
    if not buckets:
        raise QueryError("a series needs at least one bucket")
    step = buckets[0][1] - buckets[0][0]
    for (_, a1), (b0, b1) in itertools.pairwise(buckets):
        if a1 != b0 or b1 - b0 != step:
            raise QueryError("series buckets must be consecutive and of equal length")
    if step <= 0 or step != int(step) or buckets[0][0] != int(buckets[0][0]):
        raise QueryError("series buckets must start and last whole seconds")
    if buckets[0][0] > query.start_s or buckets[-1][1] < query.end_s:
        raise QueryError("series buckets must cover the query's range")
    return int(step)


def _clipped(query: StatQuery, bucket: Bucket) -> StatQuery:
    """query over the part of bucket inside its range."""
    return replace(query, start_s=max(bucket[0], query.start_s), end_s=min(bucket[1], query.end_s))


def stat_series(
    client: ClickHouseClient, database: str, query: StatQuery, buckets: Sequence[Bucket]
) -> tuple[list[StatRow], list[list[StatRow]]]:
    """query's rows over its range (as `stat`), and per bucket its rows (as `stat` without
    figures) over the part of the bucket inside the range. The buckets cover the range."""
    step = _check(query, buckets)
    db = check_name(database, "database")
    plan = stat_query._plan(query)
    if plan.table != EDGE_WINDOWS:  # pods: raw requests, bucket by bucket
        inside = [
            (i, b)
            for i, b in enumerate(buckets)
            if min(b[1], query.end_s) > max(b[0], query.start_s)
        ]
        out: list[list[StatRow]] = [[] for _ in buckets]
        for i, bucket in inside:
            out[i] = stat(client, db, _clipped(query, bucket), figures=False)
        return stat(client, db, query), out
    first = int(buckets[0][0])
    low, high = window_bounds(query.start_s, query.end_s)
    daily = stat_query._NO_DAILY
    if step % DAY_S == 0 and first % DAY_S == 0:  # every whole day lies inside one bucket
        daily = daily_rollups(client, db, EDGE_ROLLUP, low, high, plan.filters)
    source = final_source(
        db, plan.table, stat_query._columns(plan), plan.where, low, high, daily, with_time=True
    )
    g_ns, g_kind, g_name = plan.group
    rows = execute_final(
        client,
        f"SELECT {g_ns} AS g_ns, {g_kind} AS g_kind, {g_name} AS g_name,"  # noqa: S608
        f" {first} + intDiv(toUInt32(window_start) - {first}, {step}) * {step} AS g_bucket,"
        f" max({plan.side}_meshed), {stat_query._metrics(plan)}"
        f" FROM {source}"
        " GROUP BY g_ns, g_kind, g_name, g_bucket ORDER BY g_ns, g_kind, g_name",
    )
    index = {int(a): i for i, (a, _) in enumerate(buckets)}
    per_bucket: list[list[Sequence[Any]]] = [[] for _ in buckets]
    whole: dict[RowKey, _Sums] = {}
    for ns, kind, name, bucket, *sums in rows:
        per_bucket[index[int(bucket)]].append((ns, kind, name, *sums))
        whole.setdefault((str(ns), str(kind), str(name)), _Sums()).add(sums)
    series = [
        stat_rows(client, db, _clipped(query, buckets[i]), sums, figures=False) if sums else []
        for i, sums in enumerate(per_bucket)
    ]
    merged = [(*key, *whole[key].row()) for key in sorted(whole)]
    return stat_rows(client, db, query, merged), series


def stat_with_namespaces(
    client: ClickHouseClient, database: str, query: StatQuery
) -> tuple[list[StatRow], list[StatRow]]:
    """query's rows (every workload of every namespace, inbound: `meshstat all -A`) and the
    rows of the namespaces over the same range (`meshstat ns`), both exactly as `stat` gives
    them, from one read: a namespace's sums are those of its workloads."""
    sel = query.selection
    if (sel.kind, sel.names, sel.namespace, query.mode) != ("all", (), None, EdgeMode.SERVER):
        raise QueryError("namespaces come only from every workload's inbound rows")
    db = check_name(database, "database")
    sums = stat_sums(client, db, query)
    namespaces: dict[str, _Sums] = {}
    for ns, _kind, _name, *row in sums:
        namespaces.setdefault(str(ns), _Sums()).add(row)
    of_namespaces = replace(query, selection=Selection("namespace", (), None))
    merged = [(ns, "namespace", ns, *namespaces[ns].row()) for ns in sorted(namespaces)]
    return stat_rows(client, db, query, sums), stat_rows(client, db, of_namespaces, merged)


@dataclass
class _Sums:
    """One resource's sums over several buckets: meshed by max, counts added, histograms
    (sumMap's keys and counts) merged."""

    meshed: int = 0
    counts: list[int] = field(default_factory=list)
    histogram: dict[int, int] = field(default_factory=dict)

    def add(self, sums: Sequence[Any]) -> None:
        meshed, *counts, (keys, values) = sums
        self.meshed = max(self.meshed, int(meshed))
        if not self.counts:
            self.counts = [0] * len(counts)
        self.counts = [a + int(b) for a, b in zip(self.counts, counts, strict=True)]
        for key, value in zip(keys, values, strict=True):
            self.histogram[int(key)] = self.histogram.get(int(key), 0) + int(value)

    def row(self) -> tuple[Any, ...]:
        """The sums as one row of the sums query gives them."""
        keys = sorted(self.histogram)
        return (self.meshed, *self.counts, (keys, [self.histogram[k] for k in keys]))
