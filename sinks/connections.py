"""TCP_CONN: the open connections of each meshstat row, from the proxies' connection reports.

Linkerd's `stat` shows `sum(tcp_open_connections{...})` of the row's proxies at the moment it
runs: an instant Prometheus query, a gauge summed over pods, not an average over the window;
inbound connections without --from/--to, the source's outbound connections to the destination
with them. Here every proxy reports each edge's open connections every CONNECTION_REPORT_S
(`tcp_connections`, see `streams.connections`), and a row's TCP_CONN at the end of its range is
the sum, over the proxies and edges of the row, of the open count of each one's latest report in
the CONNECTION_LOOKBACK_S before the end (by report window start, counted whole like the edge
windows). The rows are those of the stat query: same direction, selection, peer and grouping
(`sinks.query` passes them in). A proxy that stopped reporting (its pod is gone) stops counting
after the lookback; a row without any report in it has None (`-`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from meshpipe.schemas import clickhouse_codes as codes
from meshpipe.schemas.identity import IdentityError, UnmeshedPeer
from meshpipe.schemas.rows import CONNECTION_LOOKBACK_S
from meshpipe.sinks.client import ClickHouseError
from meshpipe.sinks.rollup import time_range
from meshpipe.sinks.tables import TCP_CONNECTIONS

RowKey = tuple[str, str, str]  # (namespace, kind, name) of a meshstat row
Execute = Callable[[str], Sequence[Sequence[Any]]]  # runs one FINAL read, returns its rows


@dataclass(frozen=True)
class GaugeRead:
    """Which rows of tcp_connections a stat query's TCP_CONN sums, and how it names them."""

    database: str  # checked name
    group: tuple[str, str, str]  # SQL of a row's namespace, kind, name (as the stat query's)
    filters: str  # SQL selecting the rows' proxy edges (direction, selection, peer)
    end_s: float  # Unix seconds: the range's end
    # Unmeshed peers are named by authority, else IP (as rows from `requests` are), instead of
    # by their peer text (as rows from `edge_windows` are).
    unmeshed_by_address: bool = False


def open_connections_sql(read: GaugeRead) -> str:
    """One statement: per row key, the latest report's open count summed over proxy edges."""
    g_ns, g_kind, g_name = read.group
    high = math.ceil(read.end_s)
    return (
        "SELECT c_ns, c_kind, c_name, sum(latest_open) FROM ("  # noqa: S608 - names checked
        f"SELECT {g_ns} AS c_ns, {g_kind} AS c_kind, {g_name} AS c_name,"
        " argMax(open_connections, report_us) AS latest_open"
        f" FROM {read.database}.{TCP_CONNECTIONS} FINAL"
        f" WHERE {time_range('window_start', high - CONNECTION_LOOKBACK_S, high)}"
        f" AND {read.filters}"
        " GROUP BY c_ns, c_kind, c_name, proxy_id, direction, source, destination"
        ") GROUP BY c_ns, c_kind, c_name"
    )


def open_connections(execute: Execute, read: GaugeRead) -> dict[RowKey, int]:
    """TCP_CONN per row key; rows without reports are absent (a schema without the table too)."""
    try:
        rows = execute(open_connections_sql(read))
    except ClickHouseError as exc:
        if exc.code != codes.UNKNOWN_TABLE:
            raise
        return {}  # a schema from before the reports (migration 5): TCP_CONN stays `-`
    result: dict[RowKey, int] = {}
    for ns, kind, name, count in rows:
        key = (str(ns), str(kind), str(name))
        if read.unmeshed_by_address and not key[1]:
            key = ("", "", _address(key[2]))
        result[key] = result.get(key, 0) + int(count)
    return result


def _address(text: str) -> str:
    """An unmeshed peer's authority, else its IP, from its peer text."""
    try:
        peer = UnmeshedPeer.parse(text)
    except IdentityError:
        return text
    return peer.authority or peer.ip
