"""In-memory stand-ins for the dashboard's own interfaces (Backend, the tap opener, a clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.sinks.edges import EdgeQuery, EdgeRow
from meshpipe.sinks.query import Selection, StatQuery, StatRow
from meshpipe.sinks.routes import RouteQuery, RouteRow

NOW = 1_800_000_000.0


@dataclass
class FixedClock:
    now: float = NOW

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def stat_row(
    name: str, namespace: str = "emojivoto", kind: str = "deployment", **kw: object
) -> StatRow:
    row = StatRow(
        namespace=namespace,
        kind=kind,
        name=name,
        meshed=True,
        requests=100,
        successes=90,
        failures=10,
        status_4xx=0,
        status_5xx=10,
        success=0.9,
        rps=1.0,
        latency_ms_p50=1.0,
        latency_ms_p95=5.0,
        latency_ms_p99=9.0,
        read_bytes_per_s=0.0,
        write_bytes_per_s=0.0,
        tcp_open_connections=None,
        events_lost=0,
        start_s=NOW - 900,
        end_s=NOW,
    )
    return replace(row, **kw)  # type: ignore[arg-type]


def edge_row(src: str, dst: str, success: float | None = 1.0, **kw: object) -> EdgeRow:
    row = EdgeRow(
        src_namespace="emojivoto",
        src_kind="deployment",
        src=src,
        dst_namespace="emojivoto",
        dst_kind="deployment",
        dst=dst,
        requests=10,
        successes=10,
        success=success,
        rps=0.5,
        latency_ms_p99=3.0,
        start_s=NOW - 900,
        end_s=NOW,
    )
    return replace(row, **kw)  # type: ignore[arg-type]


@dataclass
class FakeBackend:
    """Answers every stat query with `answer(query)`; records what was asked."""

    rows: dict[tuple[str, str | None, str], list[StatRow]] = field(default_factory=dict)
    edge_rows: list[EdgeRow] = field(default_factory=list)
    route_rows: list[RouteRow] = field(default_factory=list)
    stat_queries: list[StatQuery] = field(default_factory=list)
    edge_queries: list[EdgeQuery] = field(default_factory=list)
    route_queries: list[RouteQuery] = field(default_factory=list)
    error: Exception | None = None
    newest: float | None = None
    series_buckets: list[list[tuple[float, float]]] = field(default_factory=list)

    async def stat(self, queries: Sequence[StatQuery]) -> list[list[StatRow]]:
        if self.error is not None:
            raise self.error
        self.stat_queries.extend(queries)
        return [self.rows.get(self._key(q), []) for q in queries]

    @staticmethod
    def _key(q: StatQuery) -> tuple[str, str | None, str]:
        return (q.selection.kind, q.selection.namespace, q.mode.value)

    async def stat_series(
        self, query: StatQuery, buckets: Sequence[tuple[float, float]]
    ) -> tuple[list[StatRow], list[list[StatRow]]]:
        self.series_buckets.append(list(buckets))
        whole, *per_bucket = await self.stat(
            [query, *(replace(query, start_s=a, end_s=b) for a, b in buckets)]
        )
        return whole, per_bucket

    async def stat_with_namespaces(self, query: StatQuery) -> tuple[list[StatRow], list[StatRow]]:
        namespaces = replace(query, selection=Selection("namespace", (), None))
        workloads, of_namespaces = await self.stat([query, namespaces])
        return workloads, of_namespaces

    async def edges(self, query: EdgeQuery) -> list[EdgeRow]:
        self.edge_queries.append(query)
        return self.edge_rows

    async def routes(self, query: RouteQuery) -> list[RouteRow]:
        self.route_queries.append(query)
        return self.route_rows

    async def newest_window(self, since_s: float) -> float | None:
        return self.newest if self.newest is not None and self.newest >= since_s else None


@dataclass
class FakeTap:
    """A tap source that hands out one event per poll and records its session's life."""

    events: list[meshpipe_pb2.RequestEvent]
    sessions: list[meshpipe_pb2.TapSession] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, session: meshpipe_pb2.TapSession) -> FakeTap:
        self.sessions.append(session)
        return self

    async def __aenter__(self) -> FakeTap:
        self.opened.set()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed.set()

    async def poll(self, timeout_s: float) -> list[meshpipe_pb2.RequestEvent] | None:
        await asyncio.sleep(min(timeout_s, 0.01))
        return list(self.events)
