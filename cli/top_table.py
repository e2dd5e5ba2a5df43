"""`meshctl top`'s table: tapped requests folded into the busiest routes (Linkerd's `viz top`).

A row is (source, destination, method, route): source and destination are pods when the events
name them, else the workload, else the address; the route is the path templated as in
`schemas.routes` (`/api/vote?choice=x` → `/api/vote`, gRPC methods as they are), so the table
stays bounded. COUNT, BEST/WORST/LAST latency (start to response headers, as Linkerd) and
SUCCESS_RATE (Linkerd's classification) per row; ordered by count, then by name. At most
`RouteCap.limit` rows, the rest summed into one `[overflow]` row.

Tapping a namespace (or every resource of a kind) sees a call between two of its meshed
workloads twice (the client's outbound and the server's inbound event); only the server's is
counted, so COUNT is requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from meshpipe.cli.stat_render import format_latency, format_percent
from meshpipe.cli.table import Align, Column, render_table
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.routes import RouteCap, is_grpc_path, strip_query, template_path

HEADERS = (
    "SOURCE",
    "DESTINATION",
    "METHOD",
    "PATH",
    "COUNT",
    "BEST",
    "WORST",
    "LAST",
    "SUCCESS_RATE",
)
_LEFT = frozenset({"SOURCE", "DESTINATION", "METHOD", "PATH"})
OVERFLOW = ("[overflow]", "", "", "")
Key = tuple[str, str, str, str]  # source, destination, method, route path


@dataclass
class RouteStats:
    """One row's running numbers (latencies in microseconds)."""

    count: int = 0
    successes: int = 0
    best_us: int | None = None
    worst_us: int | None = None
    last_us: int | None = None

    def add(self, latency_us: int, success: bool) -> None:
        self.count += 1
        self.successes += int(success)
        self.best_us = latency_us if self.best_us is None else min(self.best_us, latency_us)
        self.worst_us = latency_us if self.worst_us is None else max(self.worst_us, latency_us)
        self.last_us = latency_us


def _merge(parts: Iterable[RouteStats]) -> RouteStats:
    merged = RouteStats()
    for part in parts:
        merged.count += part.count
        merged.successes += part.successes
        for name, pick in (("best_us", min), ("worst_us", max)):
            values = [v for v in (getattr(merged, name), getattr(part, name)) if v is not None]
            setattr(merged, name, pick(values) if values else None)
        merged.last_us = part.last_us if part.last_us is not None else merged.last_us
    return merged


def peer_name(workload: meshpipe_pb2.Workload, authority: str = "") -> str:
    """The pod, else the workload, else the address the event names."""
    if workload.pod:
        return workload.pod
    if workload.name:
        return workload.name
    if workload.ip:
        return f"{workload.ip}:{workload.port}" if workload.port else workload.ip
    return workload.authority or authority or "unknown"


def route_of(event: meshpipe_pb2.RequestEvent) -> tuple[str, str]:
    """(METHOD, PATH) of the event's route: gRPC methods as they are, HTTP paths templated."""
    grpc = event.protocol == meshpipe_pb2.GRPC
    if grpc and is_grpc_path(strip_query(event.path)):
        return event.method or "POST", strip_query(event.path)
    return event.method, template_path(event.path)


def counted_twice(event: meshpipe_pb2.RequestEvent, namespace_tap: str | None) -> bool:
    """In a tap of many resources (of namespace_tap; "" for all namespaces): a client's event
    whose server side is in the tap too."""
    dst = event.destination
    return (
        namespace_tap is not None
        and event.direction == meshpipe_pb2.OUTBOUND
        and dst.meshed
        and namespace_tap in ("", dst.namespace)
    )


@dataclass
class TopTable:
    """The routes seen so far."""

    namespace_tap: str | None = None  # many resources tapped: their namespace ("" for all)
    cap: RouteCap = field(default_factory=RouteCap)
    rows: dict[Key, RouteStats] = field(default_factory=dict)

    def add(self, event: meshpipe_pb2.RequestEvent) -> bool:
        """Fold one tapped event in; False when it was not counted (its twin is)."""
        if counted_twice(event, self.namespace_tap):
            return False
        method, path = route_of(event)
        key = (
            peer_name(event.source),
            peer_name(event.destination, event.authority),
            method,
            path,
        )
        stats = self.rows.setdefault(key, RouteStats())
        stats.add(event.latency_us, event.classification == meshpipe_pb2.SUCCESS)
        return True

    def render(self) -> str:
        """The table (busiest first), or "" before any request was counted."""
        if not self.rows:
            return ""
        shown = self.cap.apply(self.rows, lambda s: s.count, _merge, OVERFLOW)
        ordered = sorted(
            shown.items(), key=lambda item: (item[0] == OVERFLOW, -item[1].count, item[0])
        )
        columns = [Column(h, Align.LEFT if h in _LEFT else Align.RIGHT) for h in HEADERS]
        return render_table(columns, [_cells(key, stats) for key, stats in ordered])


def _latency(us: int | None) -> str:
    return format_latency(None if us is None else us / 1000.0)


def _cells(key: Key, stats: RouteStats) -> list[str]:
    return [
        *key,
        str(stats.count),
        _latency(stats.best_us),
        _latency(stats.worst_us),
        _latency(stats.last_us),
        format_percent(stats.successes / stats.count if stats.count else None),
    ]
