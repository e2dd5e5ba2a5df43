"""Per-resource request statistics (meshstat's rows) read from the ClickHouse tables.

Where the numbers come from:

- Workloads and namespaces: `edge_windows`, latest version per key (`FINAL`), summed over
  partitions and segments. A window belongs to the range when its *start* lies in
  [start_s, end_s): windows are counted whole, so a range that does not fall on window
  boundaries can include up to one window length of events after end_s and leave out the events
  of the window that holds start_s. rps and bytes/s still divide by end_s - start_s.
- Pods (a pod selection or a pod `--from`/`--to`): edge windows carry no pods, so these come
  from `requests` (`FINAL`), exactly by each event's start time in [start_s, end_s); success is
  the stored classification, and retention is that of the requests table (7 days by default).
- Percentiles: the latency histograms of every row of the group are merged (sumMap), then
  interpolated (`schemas.latency.quantile`); percentiles are never averaged.
- events_lost: gaps in the `proxy_seq` of the proxies of the row's resource (SERVER and TO; for
  FROM every row gets the loss of the --from resource's proxies), over `proxy_losses` windows
  starting in the range, of proxies that reported events of the rows' direction. Each loss
  row names its proxy's workload, pod and directions, so this reads `proxy_losses` alone; rows
  written before those columns existed (migration 3) count for no resource.
- Unmeshed peers (`include_unmeshed`): one row per peer with namespace and kind empty and the
  peer text (`schemas.identity`) as name; from `requests` their name is the authority, else the IP.
- tcp_open_connections (TCP_CONN): the open connections of the row's proxies and edges at the
  end of the range, from their latest connection reports (`sinks.connections`). A resource with
  open connections but no requests in the range gets a row too, with zero requests.
- Deduplication is `FINAL` inside the one query that sums: the workers rewrite the open
  window's rows about every second, and ClickHouse has no snapshot across two queries, so any
  scheme that first looks for duplicates and then reads can count a rewritten row twice.
  `FINAL` reads every part of the range at once, each column through its own read buffer; the
  queries set a small `max_read_buffer_size` so that 30 days fit 18.16's memory limit.
- A range over several UTC days reads each day with its own `FINAL` (`UNION ALL` in the same
  statement): the tables are partitioned by UTC day and a row's key never leaves its day, so
  this is exact, and 18.16 merges the days on all cores instead of in one `FINAL` stream.
- A whole UTC day whose daily rollup is still exact (`sinks.rollup`: checked against the raw
  rows' per-partition versions right before the read) is read from the rollup instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from meshpipe.schemas import clickhouse_codes as codes
from meshpipe.schemas.kinds import ALIASES, aliases_of, canonical
from meshpipe.schemas.latency import BOUNDS_US, OVERFLOW_INDEX, Histogram, quantile
from meshpipe.schemas.rows import DIRECTION_BITS
from meshpipe.sinks.client import ClickHouseClient, ClickHouseError, Row, check_name
from meshpipe.sinks.connections import GaugeRead, open_connections
from meshpipe.sinks.rollup import (
    DAY_S,
    EDGE_ROLLUP,
    LOSS_ROLLUP,
    Rollup,
    current_rollups,
    time_range,
    whole_days,
)
from meshpipe.sinks.tables import EDGE_WINDOWS, PROXY_LOSSES, REQUESTS, TCP_CONNECTIONS


class QueryError(ValueError):
    """A StatQuery that cannot be answered as asked; the message says why."""


class EdgeMode(Enum):
    """Which side of an edge the statistics describe."""

    SERVER = "server"  # no --from/--to: inbound events of the selected resources, by destination
    FROM = "from"  # --from X: X's outbound events, grouped by destination workload
    TO = "to"  # --to X: callers' outbound events to X, grouped by source workload


@dataclass(frozen=True)
class Selection:
    """Which rows to show."""

    kind: str  # canonical kind ("deployment", "pod", "namespace", ...) or "all"
    names: tuple[str, ...]  # empty: every resource of that kind
    namespace: str | None  # None: all namespaces (-A)


@dataclass(frozen=True)
class Peer:
    """The --from/--to resource."""

    kind: str
    name: str
    namespace: str | None


@dataclass(frozen=True)
class StatQuery:
    """One meshstat question: a selection, a direction and a time range."""

    selection: Selection
    mode: EdgeMode = EdgeMode.SERVER
    peer: Peer | None = None  # required for FROM and TO
    start_s: float = 0.0  # Unix seconds, inclusive
    end_s: float = 0.0  # Unix seconds, exclusive
    include_unmeshed: bool = False


@dataclass(frozen=True)
class StatRow:
    """Statistics of one resource over the query's time range."""

    namespace: str
    kind: str
    name: str
    meshed: bool
    requests: int
    successes: int
    failures: int
    status_4xx: int
    status_5xx: int
    success: float | None  # successes / requests, None when requests == 0
    rps: float  # requests / (end_s - start_s)
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_ms_p99: float | None
    read_bytes_per_s: float  # request bytes / s
    write_bytes_per_s: float  # response bytes / s
    tcp_open_connections: int | None  # at the range's end; None without connection reports
    events_lost: int  # gaps in proxy_seq of the proxies involved
    start_s: float
    end_s: float


_ALL = "all"
_NAMESPACE = "namespace"
_POD = "pod"


@dataclass(frozen=True)
class _Plan:
    """How one StatQuery reads: which table, direction, sides, and the SQL pieces."""

    table: str
    direction: str
    side: str  # the grouped side: "source" or "destination"
    other: str
    group: tuple[str, str, str]  # SQL for the row's namespace, kind, name
    where: str
    filters: str  # where without the time range (what a daily rollup is filtered by)


def quote(text: str) -> str:
    """A ClickHouse string literal of text (same escaping on 18.16 and 26.x)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def kind_is(column: str, kind: str) -> str:
    """column holds kind in any spelling: rows stored before kinds were made canonical at the
    proxy may say `deploy` or `deployments` (schemas.kinds)."""
    return _in(column, aliases_of(kind))


def canonical_kind_sql(column: str) -> str:
    """SQL giving the canonical kind of column's value (unknown values stay as they are)."""
    cases = [
        f"{_in(column, [a for a in aliases if a != kind])}, {quote(kind)}"
        for kind, aliases in ALIASES
        if any(a != kind for a in aliases)
    ]
    return f"multiIf({', '.join(cases)}, {column})"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(quote(v) for v in values)})"


def _plan(query: StatQuery, table: str | None = None) -> _Plan:
    """The plan of query, on table when given (else the one the selection needs)."""
    sel, peer = query.selection, query.peer
    if query.mode is not EdgeMode.SERVER and peer is None:
        raise QueryError(f"{query.mode.value} needs a peer resource")
    if not query.end_s > query.start_s:
        raise QueryError(f"empty time range [{query.start_s}, {query.end_s})")
    to = query.mode is EdgeMode.TO
    side, other = ("source", "destination") if to else ("destination", "source")
    uses_pods = sel.kind == _POD or (peer is not None and peer.kind == _POD)
    table = table or (REQUESTS if uses_pods else EDGE_WINDOWS)
    direction = "in" if query.mode is EdgeMode.SERVER else "out"
    conditions = [f"direction = {quote(direction)}"]
    conditions.append(selection_filter(sel, side, query.include_unmeshed))
    if peer is not None and query.mode is not EdgeMode.SERVER:
        conditions.append(peer_filter(peer, other))
    group = _group(sel.kind, side, table)
    filters = " AND ".join(conditions)
    where = f"{_time_filter(table, query)} AND {filters}"
    return _Plan(table, direction, side, other, group, where, filters)


def _window_bounds(query: StatQuery) -> tuple[int, int]:
    return window_bounds(query.start_s, query.end_s)


def window_bounds(start_s: float, end_s: float) -> tuple[int, int]:
    """Whole seconds [a, b) such that an integer t is in [start_s, end_s) iff a <= t < b."""
    return math.ceil(start_s), math.ceil(end_s)


def _time_filter(table: str, query: StatQuery) -> str:
    low, high = _window_bounds(query)
    if table != REQUESTS:
        return time_range("window_start", low, high)
    return requests_time_filter(query.start_s, query.end_s)


def requests_time_filter(start_s: float, end_s: float) -> str:
    """SQL over `requests`: the event started in [start_s, end_s), to the microsecond."""
    low_us, high_us = math.ceil(start_s * 1e6), math.ceil(end_s * 1e6)
    return (
        f"{time_range('start_time', math.floor(start_s), math.ceil(end_s))}"
        f" AND start_us >= {low_us} AND start_us < {high_us}"
    )


def selection_filter(sel: Selection, side: str, include_unmeshed: bool) -> str:
    parts = [f"{side}_meshed = 1"]
    name_column = {_ALL: f"{side}_name", _NAMESPACE: f"{side}_namespace", _POD: f"{side}_pod"}
    if sel.kind == _POD:
        parts.append(f"{side}_pod != ''")
    elif sel.kind not in (_ALL, _NAMESPACE):
        parts.append(kind_is(f"{side}_kind", sel.kind))
    if sel.names:
        parts.append(_in(name_column.get(sel.kind, f"{side}_name"), sel.names))
    if sel.namespace is not None:
        parts.append(f"{side}_namespace = {quote(sel.namespace)}")
    meshed = "(" + " AND ".join(parts) + ")"
    if include_unmeshed and not sel.names:
        return f"({meshed} OR {side}_meshed = 0)"
    return meshed


def peer_filter(peer: Peer, side: str) -> str:
    parts = [f"{side}_meshed = 1"]
    if peer.kind == _NAMESPACE:
        parts.append(f"{side}_namespace = {quote(peer.name)}")
    elif peer.kind == _POD:
        parts.append(f"{side}_pod = {quote(peer.name)}")
    else:
        parts.extend([kind_is(f"{side}_kind", peer.kind), f"{side}_name = {quote(peer.name)}"])
    if peer.namespace is not None and peer.kind != _NAMESPACE:
        parts.append(f"{side}_namespace = {quote(peer.namespace)}")
    return "(" + " AND ".join(parts) + ")"


def _group(kind: str, side: str, table: str) -> tuple[str, str, str]:
    """SQL for (namespace, kind, name) of a row; unmeshed peers get ('', '', peer text)."""
    if kind == _NAMESPACE:
        kind_sql, name_sql = quote(_NAMESPACE), f"{side}_namespace"
    elif kind == _POD:
        kind_sql, name_sql = quote(_POD), f"{side}_pod"
    else:
        kind_sql, name_sql = canonical_kind_sql(f"{side}_kind"), f"{side}_name"
    unmeshed = (
        f"if({side}_authority != '', {side}_authority, {side}_ip)" if table == REQUESTS else side
    )
    meshed = f"{side}_meshed = 1"
    return (
        f"if({meshed}, {side}_namespace, '')",
        f"if({meshed}, {kind_sql}, '')",
        f"if({meshed}, {name_sql}, {unmeshed})",
    )


def _metrics(plan: _Plan) -> str:
    if plan.table == EDGE_WINDOWS:
        return (
            "sum(requests), sum(successes), sum(failures), sum(status_4xx), sum(status_5xx),"
            " sum(request_bytes), sum(response_bytes), sumMap(latency_buckets, latency_counts)"
        )
    return (
        "count(), countIf(classification = 'success'), countIf(classification != 'success'),"
        " countIf(http_status >= 400 AND http_status < 500),"
        " countIf(http_status >= 500 AND http_status < 600),"
        " sum(request_bytes), sum(response_bytes),"
        f" sumMap([toUInt16({bucket_index_multiif_sql('latency_us')})], [toUInt64(1)])"
    )


def bucket_index_multiif_sql(value_expr: str) -> str:
    """SQL for `schemas.latency.bucket_index` of an integer µs expression, without a lambda.

    18.16 loses table columns captured by a lambda inside an aggregating query ("Unknown
    identifier"), so `bucket_index_sql` (arrayCount with a lambda) cannot be used there.
    """
    conditions = ", ".join(f"{value_expr} <= {bound}, {i}" for i, bound in enumerate(BOUNDS_US))
    return f"multiIf({conditions}, {OVERFLOW_INDEX})"


# FINAL opens a reader (one buffer per column) for every part of the range at once; with the
# 1 MiB default, 30 days of day partitions exceed 18.16's per-query memory limit.
READ_BUFFER_BYTES = 65536
_SETTINGS = f" SETTINGS max_read_buffer_size = {READ_BUFFER_BYTES}"


def execute_final(client: ClickHouseClient, sql: str) -> list[Row]:
    """Run sql, a FINAL read, with small read buffers; as is where settings are read-only.

    A readonly=1 user keeps its profile's buffer size: set max_read_buffer_size there for long
    ranges on 18.16. Either way the statement and its numbers are the same.
    """
    try:
        return client.execute(sql + _SETTINGS)
    except ClickHouseError as exc:
        if exc.code != codes.READONLY:
            raise
    return client.execute(sql)


def _days(low: int, high: int) -> list[tuple[int, int]]:
    """[low, high) cut at UTC midnights into one [a, b) piece per day."""
    pieces = []
    while low < high:
        end = min(high, (low // DAY_S + 1) * DAY_S)
        pieces.append((low, end))
        low = end
    return pieces


def _columns(plan: _Plan) -> str:
    """The columns the grouping and the sums read (what a per-day branch passes on)."""
    side = plan.side
    peer = ["namespace", "kind", "name", "meshed"]
    if plan.table == EDGE_WINDOWS:
        names = [side, *(f"{side}_{c}" for c in peer)]
        metrics = ["requests", "successes", "failures", "status_4xx", "status_5xx"]
        metrics += ["request_bytes", "response_bytes", "latency_buckets", "latency_counts"]
    else:
        names = [f"{side}_{c}" for c in (*peer, "pod", "ip", "authority")]
        metrics = ["classification", "http_status", "request_bytes", "response_bytes"]
        metrics.append("latency_us")
    return ", ".join(names + metrics)


def _time_column(table: str) -> str:
    return "start_time" if table == REQUESTS else "window_start"


@dataclass(frozen=True)
class _Daily:
    """Whole days of a range whose daily rollup is current: day start -> rolled id."""

    table: str
    rolled: Mapping[int, int]
    filters: str  # the read's conditions without its time range


_NO_DAILY = _Daily("", {}, "")


def final_source(
    db: str,
    table: str,
    columns: str,
    where: str,
    low: int,
    high: int,
    daily: _Daily = _NO_DAILY,
    *,
    with_time: bool = False,
) -> str:
    """A FROM clause: table's deduplicated rows matching where, time column in [low, high).

    One `FINAL` read for a range within one UTC day, else one per day in a `UNION ALL` that
    passes on columns; a whole day with a current rollup reads that instead (sinks.rollup).
    with_time passes on the time column too (a rolled day's rows carry the day's start in it).
    """
    days = _days(low, high)
    if len(days) <= 1 and not daily.rolled:
        return f"{db}.{table} FINAL WHERE {where}"
    column = _time_column(table)
    raw_columns, rolled_columns = columns, columns
    if with_time:
        raw_columns, rolled_columns = f"{columns}, {column}", f"{columns}, day AS {column}"
    branches = []
    for a, b in days:
        if a in daily.rolled and b == a + DAY_S:
            branches.append(
                f"SELECT {rolled_columns} FROM {db}.{daily.table}"  # noqa: S608
                f" WHERE day = toDateTime({a}) AND rolled = {daily.rolled[a]} AND {daily.filters}"
            )
        else:
            branches.append(
                f"SELECT {raw_columns} FROM {db}.{table} FINAL"  # noqa: S608
                f" WHERE {time_range(column, a, b)} AND {where}"
            )
    return "(" + " UNION ALL ".join(branches) + ")"


def daily_rollups(
    client: ClickHouseClient, db: str, rollup: Rollup, low: int, high: int, filters: str
) -> _Daily:
    """The current rollups of the whole days in [low, high) (none: no extra query)."""
    whole = whole_days(_days(low, high))
    if not whole:
        return _NO_DAILY
    try:
        current = current_rollups(client, db, rollup, whole)
    except ClickHouseError as exc:
        if exc.code != codes.UNKNOWN_TABLE:
            raise
        return _NO_DAILY  # a schema from before the rollups: the raw rows answer alone
    return _Daily(rollup.daily, current, filters)


def _source(client: ClickHouseClient, db: str, plan: _Plan, query: StatQuery) -> str:
    """The FROM clause of the sums: deduplicated rows of the plan's table within its filter."""
    low, high = _window_bounds(query)
    if plan.table == REQUESTS:  # raw requests have no rollup
        low = math.floor(query.start_s)
        return final_source(db, plan.table, _columns(plan), plan.where, low, high)
    daily = daily_rollups(client, db, EDGE_ROLLUP, low, high, plan.filters)
    return final_source(db, plan.table, _columns(plan), plan.where, low, high, daily)


def stat(
    client: ClickHouseClient, database: str, query: StatQuery, *, figures: bool = True
) -> list[StatRow]:
    """One row per resource of the selection with events in the range, ordered by ns/kind/name.

    figures=False leaves out what other tables add (events_lost 0, tcp_open_connections None,
    no rows for idle connections): two queries fewer, for series of many short ranges."""
    db = check_name(database, "database")
    return stat_rows(client, db, query, stat_sums(client, db, query), figures=figures)


def stat_sums(client: ClickHouseClient, db: str, query: StatQuery) -> list[Row]:
    """query's sums per row (what `stat_rows` takes), in one read."""
    plan = _plan(query)
    g_ns, g_kind, g_name = plan.group
    return execute_final(
        client,
        f"SELECT {g_ns} AS g_ns, {g_kind} AS g_kind, {g_name} AS g_name,"  # noqa: S608
        f" max({plan.side}_meshed), {_metrics(plan)}"
        f" FROM {_source(client, db, plan, query)}"
        " GROUP BY g_ns, g_kind, g_name ORDER BY g_ns, g_kind, g_name",
    )


def stat_rows(
    client: ClickHouseClient,
    db: str,
    query: StatQuery,
    sums: Sequence[Sequence[Any]],
    *,
    figures: bool = True,
) -> list[StatRow]:
    """query's rows from its sums (per row: namespace, kind, name, meshed, the sums of
    `_metrics` with the histogram last, ordered by namespace, kind, name), with the figures
    from the other tables unless figures=False."""
    rows = sums
    if not figures:
        return [_stat_row(row, query, _NO_FIGURES) for row in rows]
    plan = _plan(query)
    extra = _Figures(_losses(client, db, query), _open_connections(client, db, query, plan))
    found = [_stat_row(row, query, extra) for row in rows]
    seen = {(r.namespace, r.kind, r.name) for r in found}
    # Resources with open connections but no requests in the range: rows of zero requests.
    idle = [
        _stat_row((*key, bool(key[1]), *_NO_REQUESTS), query, extra)  # unmeshed: no kind
        for key in extra.connections
        if key not in seen
    ]
    return sorted(found + idle, key=lambda r: (r.namespace, r.kind, r.name)) if idle else found


_NO_REQUESTS: tuple[object, ...] = (0, 0, 0, 0, 0, 0, 0, ((), ()))  # sums without requests


RowKey = tuple[str, str, str]  # (namespace, kind, name) of a StatRow


@dataclass(frozen=True)
class _Figures:
    """What the rows get from other tables than the sums: lost events and open connections."""

    losses: dict[RowKey, int]
    connections: dict[RowKey, int]

    def lost(self, query: StatQuery, key: RowKey) -> int:
        return self.losses.get(("", "", "") if query.mode is EdgeMode.FROM else key, 0)


_NO_FIGURES = _Figures({}, {})


def _open_connections(
    client: ClickHouseClient, db: str, query: StatQuery, plan: _Plan
) -> dict[RowKey, int]:
    """TCP_CONN per row key, read with the stat query's filters and grouping."""
    gauges = _plan(query, TCP_CONNECTIONS)
    read = GaugeRead(db, gauges.group, gauges.filters, query.end_s, plan.table == REQUESTS)
    return open_connections(lambda sql: execute_final(client, sql), read)


def _stat_row(row: Sequence[Any], query: StatQuery, figures: _Figures) -> StatRow:
    ns, kind, name, meshed, requests, successes, failures, s4, s5, rx, tx, hist = row
    histogram = Histogram.from_counts(dict(zip(hist[0], hist[1], strict=True)))
    seconds = query.end_s - query.start_s
    key = (str(ns), str(kind), str(name))
    return StatRow(
        namespace=key[0],
        kind=key[1],
        name=key[2],
        meshed=bool(meshed),
        requests=int(requests),
        successes=int(successes),
        failures=int(failures),
        status_4xx=int(s4),
        status_5xx=int(s5),
        success=int(successes) / int(requests) if requests else None,
        rps=int(requests) / seconds,
        latency_ms_p50=_ms(quantile(histogram, 0.5)),
        latency_ms_p95=_ms(quantile(histogram, 0.95)),
        latency_ms_p99=_ms(quantile(histogram, 0.99)),
        read_bytes_per_s=int(rx) / seconds,
        write_bytes_per_s=int(tx) / seconds,
        tcp_open_connections=figures.connections.get(key),
        events_lost=figures.lost(query, key),
        start_s=query.start_s,
        end_s=query.end_s,
    )


def _ms(value_us: float | None) -> float | None:
    return None if value_us is None else value_us / 1000.0


def _losses(client: ClickHouseClient, db: str, query: StatQuery) -> dict[RowKey, int]:
    """Lost events per row key (one key ('', '', '') for FROM) of the proxies behind the rows."""
    if query.mode is EdgeMode.FROM:
        assert query.peer is not None  # _plan refused a FROM without one
        peer = query.peer
        owners = _owner_filter(peer.kind, (peer.name,), peer.namespace)
    else:
        sel = query.selection
        owners = _owner_filter(sel.kind, sel.names, sel.namespace)
    low, high = _window_bounds(query)
    # Proxies that reported events of the rows' direction (inbound for SERVER, else outbound).
    direction = DIRECTION_BITS["in" if query.mode is EdgeMode.SERVER else "out"]
    daily = daily_rollups(client, db, LOSS_ROLLUP, low, high, owners)
    where = f"{time_range('window_start', low, high)} AND {owners}"
    source = final_source(db, PROXY_LOSSES, _LOSS_COLUMNS, where, low, high, daily)
    rows = execute_final(
        client,
        "SELECT proxy_namespace, proxy_kind, proxy_name, proxy_pod,"  # noqa: S608
        f" max(seq_max) - min(seq_min) + 1 - sum(events) FROM {source}"
        " GROUP BY proxy_id, proxy_namespace, proxy_kind, proxy_name, proxy_pod"
        f" HAVING bitAnd(groupBitOr(proxy_directions), {direction}) != 0",
    )
    result: dict[RowKey, int] = {}
    for ns, kind, name, pod, lost in rows:
        key = _owner_key(query, str(ns), str(kind), str(name), str(pod))
        result[key] = result.get(key, 0) + int(lost)
    return result


_LOSS_COLUMNS = (
    "proxy_id, proxy_namespace, proxy_kind, proxy_name, proxy_pod, proxy_directions,"
    " seq_min, seq_max, events"
)


def _owner_filter(kind: str, names: Sequence[str], namespace: str | None) -> str:
    """SQL over proxy_losses' owner columns: proxies of the given resources."""
    parts = ["proxy_name != ''"]  # rows from before the owner columns name no resource
    column = {_NAMESPACE: "proxy_namespace", _POD: "proxy_pod"}.get(kind, "proxy_name")
    if kind not in (_ALL, _NAMESPACE, _POD):
        parts.append(kind_is("proxy_kind", kind))
    if names:
        parts.append(_in(column, names))
    if namespace is not None and kind != _NAMESPACE:
        parts.append(f"proxy_namespace = {quote(namespace)}")
    return "(" + " AND ".join(parts) + ")"


def _owner_key(query: StatQuery, ns: str, kind: str, name: str, pod: str) -> RowKey:
    """The row key a proxy of workload ns/kind/name in pod counts for."""
    if query.mode is EdgeMode.FROM:
        return ("", "", "")
    if query.selection.kind == _NAMESPACE:
        return (ns, _NAMESPACE, ns)
    if query.selection.kind == _POD:
        return (ns, _POD, pod)
    return (ns, canonical(kind) or kind, name)


def resource_names(
    client: ClickHouseClient, database: str, kind: str, namespace: str | None
) -> list[str]:
    """Sorted names of meshed resources of kind seen in the tables (for shell completion)."""
    db = check_name(database, "database")
    table = REQUESTS if kind == _POD else EDGE_WINDOWS
    names: set[str] = set()
    for side in ("source", "destination"):
        column = {_NAMESPACE: f"{side}_namespace", _POD: f"{side}_pod"}.get(kind, f"{side}_name")
        conditions = [f"{side}_meshed = 1", f"{column} != ''"]
        if kind not in (_ALL, _NAMESPACE, _POD):
            conditions.append(kind_is(f"{side}_kind", kind))
        if namespace is not None and kind != _NAMESPACE:
            conditions.append(f"{side}_namespace = {quote(namespace)}")
        rows = client.execute(
            f"SELECT DISTINCT {column} FROM {db}.{table}"  # noqa: S608
            f" WHERE {' AND '.join(conditions)}"
        )
        names.update(str(r[0]) for r in rows)
    return sorted(names)
