"""Statistics of a selection over consecutive equal time buckets (the dashboard's sparklines
and charts), each bucket exactly what `stat(figures=False)` gives for its range.

Short ranges (up to SHORT_RANGE_S) are one read: the stat query's sums grouped also by bucket,
over the raw edge windows (`FINAL`, a `UNION ALL` of days as `stat` reads them). Longer ranges
ask `stat` per bucket, which reads whole days from the daily rollups: cheaper than grouping a
month of raw windows. Pod selections (raw requests) are always asked per bucket.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

from meshpipe.sinks import query as stat_query
from meshpipe.sinks.client import ClickHouseClient, check_name
from meshpipe.sinks.query import (
    QueryError,
    StatQuery,
    StatRow,
    execute_final,
    final_source,
    stat,
    window_bounds,
)
from meshpipe.sinks.tables import EDGE_WINDOWS

SHORT_RANGE_S = 2 * 86_400

Bucket = tuple[float, float]


def _check(buckets: Sequence[Bucket]) -> int:
    """The buckets' common whole-second length; QueryError unless consecutive and equal."""
    if not buckets:
        raise QueryError("a series needs at least one bucket")
    step = buckets[0][1] - buckets[0][0]
    for (_, a1), (b0, b1) in itertools.pairwise(buckets):
        if a1 != b0 or b1 - b0 != step:
            raise QueryError("series buckets must be consecutive and of equal length")
    if step <= 0 or step != int(step) or buckets[0][0] != int(buckets[0][0]):
        raise QueryError("series buckets must start and last whole seconds")
    return int(step)


def series(
    client: ClickHouseClient, database: str, query: StatQuery, buckets: Sequence[Bucket]
) -> list[list[StatRow]]:
    """Per bucket, the rows of query (its selection and mode) over that bucket's range."""
    step = _check(buckets)
    whole = replace(query, start_s=buckets[0][0], end_s=buckets[-1][1])
    # The same plan, sums and row building as stat (sinks.query's own pieces), one level finer.
    plan = stat_query._plan(whole)
    if plan.table != EDGE_WINDOWS or whole.end_s - whole.start_s > SHORT_RANGE_S:
        return [
            stat(client, database, replace(query, start_s=a, end_s=b), figures=False)
            for a, b in buckets
        ]
    db = check_name(database, "database")
    first = int(buckets[0][0])
    low, high = window_bounds(whole.start_s, whole.end_s)
    source = final_source(
        db, plan.table, stat_query._columns(plan) + ", window_start", plan.where, low, high
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
    out: list[list[StatRow]] = [[] for _ in buckets]
    for ns, kind, name, bucket, *sums in rows:
        i = index[int(bucket)]
        span = replace(query, start_s=buckets[i][0], end_s=buckets[i][1])
        out[i].append(stat_query._stat_row((ns, kind, name, *sums), span, stat_query._NO_FIGURES))
    return out
