"""Per-route statistics (meshstat routes) read from the raw `requests` table.

Where the numbers come from: `requests` (`FINAL`, one read per UTC day as in `sinks.query`),
exactly by each event's start time in [start_s, end_s), so retention is that of the raw rows
(7 days by default). HTTP and gRPC events only (opaque TCP has no routes). ClickHouse groups by
(gRPC or not, method, path without its query string, authority, destination workload) with exact
counts and a latency histogram on the shared grid; Python names each group's route
(`schemas.routes`) and service, sums the groups of one route, caps the table (`RouteCap`: the
rest counted under `[overflow]`) and takes percentiles from the merged histograms.

Sides: SERVER reads the inbound events of the resource (every caller); TO reads the resource's
outbound events to the target, as its own proxy saw them.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshpipe.schemas.latency import Histogram, quantile
from meshpipe.schemas.routes import OVERFLOW_ROUTE, RouteCap, route_name
from meshpipe.sinks.client import ClickHouseClient, check_name
from meshpipe.sinks.query import (
    EdgeMode,
    Peer,
    QueryError,
    Selection,
    bucket_index_multiif_sql,
    execute_final,
    final_source,
    peer_filter,
    quote,
    requests_time_filter,
    selection_filter,
)
from meshpipe.sinks.tables import REQUESTS

_COLUMNS = "protocol, method, path, authority, destination_name, classification, latency_us"
_ROUTED_PROTOCOLS = ("http1", "http2", "grpc")
NO_SERVICE = "-"


@dataclass(frozen=True)
class RouteQuery:
    """One resource's routes: its server side, or its calls to a target (TO)."""

    selection: Selection  # one named resource
    mode: EdgeMode = EdgeMode.SERVER  # SERVER or TO
    target: Peer | None = None  # required for TO
    start_s: float = 0.0  # Unix seconds, inclusive
    end_s: float = 0.0  # Unix seconds, exclusive
    cap: RouteCap = field(default_factory=RouteCap)


@dataclass(frozen=True)
class RouteRow:
    """Statistics of one route of one service over the query's range."""

    route: str
    service: str  # the authority's service name, NO_SERVICE without an authority
    requests: int
    successes: int
    failures: int
    success: float | None  # successes / requests
    rps: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_ms_p99: float | None
    start_s: float
    end_s: float


@dataclass
class _Sums:
    requests: int = 0
    successes: int = 0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, requests: int, successes: int, buckets: Iterable[tuple[int, int]]) -> None:
        self.requests += requests
        self.successes += successes
        for index, count in buckets:
            self.buckets[index] = self.buckets.get(index, 0) + count


def _merge(parts: Iterable[_Sums]) -> _Sums:
    total = _Sums()
    for part in parts:
        total.add(part.requests, part.successes, part.buckets.items())
    return total


def service_name(authority: str, workload: str) -> str:
    """The service an authority names: `web-svc.shop.svc.cluster.local:80` → `web-svc`.

    An authority that is an IP address or empty names no service: then the destination
    workload's name stands for it (NO_SERVICE when unmeshed), so one route is not split by the
    addresses of its pods.
    """
    host = authority
    if host.startswith("["):  # [v6]:port
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host:
            return host.split(".", 1)[0]
    return workload or NO_SERVICE


def _where(query: RouteQuery) -> str:
    sel = query.selection
    if len(sel.names) != 1:
        raise QueryError("routes need one named resource")
    protocols = ", ".join(quote(p) for p in _ROUTED_PROTOCOLS)
    conditions = [requests_time_filter(query.start_s, query.end_s), f"protocol IN ({protocols})"]
    if query.mode is EdgeMode.TO:
        if query.target is None:
            raise QueryError("routes --to needs a target resource")
        conditions += [
            "direction = 'out'",
            selection_filter(sel, "source", include_unmeshed=False),
            peer_filter(query.target, "destination"),
        ]
    elif query.mode is EdgeMode.SERVER:
        conditions += ["direction = 'in'", selection_filter(sel, "destination", False)]
    else:
        raise QueryError(f"routes cannot be read {query.mode.value} a resource")
    return " AND ".join(conditions)


def routes(client: ClickHouseClient, database: str, query: RouteQuery) -> list[RouteRow]:
    """One row per (service, route) in the range, by service then route, `[overflow]` last."""
    db = check_name(database, "database")
    if not query.end_s > query.start_s:
        raise QueryError(f"empty time range [{query.start_s}, {query.end_s})")
    low, high = math.floor(query.start_s), math.ceil(query.end_s)
    source = final_source(db, REQUESTS, _COLUMNS, _where(query), low, high)
    rows = execute_final(
        client,
        "SELECT protocol = 'grpc' AS g_grpc, method AS g_method,"  # noqa: S608
        " splitByChar('?', path)[1] AS g_path, authority AS g_authority,"
        " destination_name AS g_workload,"
        " count(), countIf(classification = 'success'),"
        f" sumMap([toUInt16({bucket_index_multiif_sql('latency_us')})], [toUInt64(1)])"
        f" FROM {source} GROUP BY g_grpc, g_method, g_path, g_authority, g_workload",
    )
    return route_rows(rows, query)


def route_rows(rows: Sequence[Sequence[Any]], query: RouteQuery) -> list[RouteRow]:
    """The grouped rows named, summed per (service, route), capped and ordered."""
    sums: dict[tuple[str, str], _Sums] = {}
    for grpc, method, path, authority, workload, requests, successes, hist in rows:
        service = service_name(str(authority), str(workload))
        key = (service, route_name(str(method), str(path), bool(grpc)))
        sums.setdefault(key, _Sums()).add(
            int(requests), int(successes), zip(hist[0], hist[1], strict=True)
        )
    services = {service for service, _ in sums}
    overflow = (next(iter(services)) if len(services) == 1 else NO_SERVICE, OVERFLOW_ROUTE)
    capped = query.cap.apply(sums, lambda s: s.requests, _merge, overflow)
    ordered = sorted(capped, key=lambda k: (k[0], k[1] == OVERFLOW_ROUTE, k[1]))
    return [_row(service, route, capped[(service, route)], query) for service, route in ordered]


def _row(service: str, route: str, sums: _Sums, query: RouteQuery) -> RouteRow:
    histogram = Histogram.from_counts(sums.buckets)
    seconds = query.end_s - query.start_s
    return RouteRow(
        route=route,
        service=service,
        requests=sums.requests,
        successes=sums.successes,
        failures=sums.requests - sums.successes,
        success=sums.successes / sums.requests if sums.requests else None,
        rps=sums.requests / seconds,
        latency_ms_p50=_ms(quantile(histogram, 0.5)),
        latency_ms_p95=_ms(quantile(histogram, 0.95)),
        latency_ms_p99=_ms(quantile(histogram, 0.99)),
        start_s=query.start_s,
        end_s=query.end_s,
    )


def _ms(value_us: float | None) -> float | None:
    return None if value_us is None else value_us / 1000.0
