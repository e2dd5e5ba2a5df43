"""Where the dashboard's numbers come from: the query layer (sinks/) on ClickHouse, behind one
small interface that the API handlers use and unit tests replace with an in-memory fake."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from meshpipe.dashboard.sharedreads import SharedReads
from meshpipe.schemas.clock import SystemClock
from meshpipe.sinks import query as stat_query
from meshpipe.sinks.client import ClickHouseClient, ClickHouseUrl, NativeClient
from meshpipe.sinks.edges import EdgeQuery, EdgeRow, edges
from meshpipe.sinks.health import newest_window_s
from meshpipe.sinks.query import StatQuery, StatRow
from meshpipe.sinks.routes import RouteQuery, RouteRow, routes
from meshpipe.sinks.series import stat_series, stat_with_namespaces

T = TypeVar("T")


class Backend(Protocol):
    """The read-only questions the dashboard asks; every method may raise ClickHouseError or
    QueryError."""

    async def stat(self, queries: Sequence[StatQuery]) -> list[list[StatRow]]:
        """One list of rows per query (meshstat's rows)."""
        ...

    async def stat_series(
        self, query: StatQuery, buckets: Sequence[tuple[float, float]]
    ) -> tuple[list[StatRow], list[list[StatRow]]]:
        """query's rows (as stat), and per bucket (consecutive, equal, whole seconds, covering
        the range) its rows over the bucket's part of the range (as stat without figures)."""
        ...

    async def stat_with_namespaces(self, query: StatQuery) -> tuple[list[StatRow], list[StatRow]]:
        """Every workload's rows (query: `all`, every namespace, inbound) and the namespaces'
        rows over the same range (as stat of the namespace selection)."""
        ...

    async def edges(self, query: EdgeQuery) -> list[EdgeRow]:
        """meshstat edges' rows."""
        ...

    async def routes(self, query: RouteQuery) -> list[RouteRow]:
        """meshstat routes' rows."""
        ...

    async def newest_window(self, since_s: float) -> float | None:
        """Start of the newest stored edge window from since_s on (None: none)."""
        ...


class ClickHouseBackend:
    """The query layer over the native protocol, as the read-only user, off the event loop.

    clickhouse-driver is synchronous: each call runs in a worker thread with its own connection;
    `concurrency` bounds how many run at once (ClickHouse 18.16 limits a user's queries).
    Identical statements of parallel calls run once (SharedReads)."""

    def __init__(
        self,
        url: ClickHouseUrl,
        concurrency: int = 4,
        timeout_s: float = 30.0,
    ) -> None:
        self._url = url
        self._gate = asyncio.Semaphore(concurrency)
        self._timeout_s = timeout_s
        self._shared = SharedReads(SystemClock())

    async def _run(self, work: Callable[[ClickHouseClient, str], T]) -> T:
        def call() -> T:
            with NativeClient(self._url, timeout_s=self._timeout_s) as client:
                return work(self._shared.client(client), self._url.database)

        async with self._gate:
            return await asyncio.to_thread(call)

    async def stat(self, queries: Sequence[StatQuery]) -> list[list[StatRow]]:
        # One after the other: on a busy server parallel reads only slow each other down; the
        # second's check of the same days' rollups is answered by SharedReads.
        return await self._run(lambda c, db: [stat_query.stat(c, db, q) for q in queries])

    async def stat_series(
        self, query: StatQuery, buckets: Sequence[tuple[float, float]]
    ) -> tuple[list[StatRow], list[list[StatRow]]]:
        return await self._run(lambda c, db: stat_series(c, db, query, buckets))

    async def stat_with_namespaces(self, query: StatQuery) -> tuple[list[StatRow], list[StatRow]]:
        return await self._run(lambda c, db: stat_with_namespaces(c, db, query))

    async def edges(self, query: EdgeQuery) -> list[EdgeRow]:
        return await self._run(lambda c, db: edges(c, db, query))

    async def routes(self, query: RouteQuery) -> list[RouteRow]:
        return await self._run(lambda c, db: routes(c, db, query))

    async def newest_window(self, since_s: float) -> float | None:
        return await self._run(lambda c, db: newest_window_s(c, db, since_s))
