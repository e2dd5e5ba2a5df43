"""meshstat's outside world: the ClickHouse fetches of each verb, their one-line failures, and
the environment (terminal, clock, fetches) that tests replace."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from meshpipe.cli.exit import quiet_library_logs
from meshpipe.cli.terminal import Terminal
from meshpipe.schemas import clickhouse_codes as codes
from meshpipe.schemas.clock import Clock, SystemClock
from meshpipe.schemas.exits import CliError, ExitStatus
from meshpipe.sinks import query
from meshpipe.sinks.client import ClickHouseClient, ClickHouseError, ClickHouseUrl, NativeClient
from meshpipe.sinks.edges import EdgeQuery, EdgeRow, edges
from meshpipe.sinks.query import StatQuery, StatRow
from meshpipe.sinks.routes import RouteQuery, RouteRow, routes

T = TypeVar("T")
Fetch = Callable[[ClickHouseUrl, Sequence[StatQuery]], list[list[StatRow]]]
RouteFetch = Callable[[ClickHouseUrl, RouteQuery], list[RouteRow]]
EdgeFetch = Callable[[ClickHouseUrl, EdgeQuery], list[EdgeRow]]


def _on_clickhouse(url: ClickHouseUrl, work: Callable[[ClickHouseClient], T]) -> T:
    """work(client) on the server at url; ClickHouse failures become one-line CliErrors."""
    quiet_library_logs("clickhouse_driver")
    try:
        with NativeClient(url, timeout_s=30.0) as client:
            return work(client)
    except ClickHouseError as exc:
        raise clickhouse_failure(exc, url) from None
    except query.QueryError as exc:  # a question the query layer cannot answer as asked
        raise CliError(str(exc), ExitStatus.USAGE) from None


def fetch_clickhouse(url: ClickHouseUrl, queries: Sequence[StatQuery]) -> list[list[StatRow]]:
    """Run each stat query on the server at url."""
    return _on_clickhouse(url, lambda c: [query.stat(c, url.database, q) for q in queries])


def fetch_routes(url: ClickHouseUrl, route_query: RouteQuery) -> list[RouteRow]:
    """Run a routes query on the server at url."""
    return _on_clickhouse(url, lambda c: routes(c, url.database, route_query))


def fetch_edges(url: ClickHouseUrl, edge_query: EdgeQuery) -> list[EdgeRow]:
    """Run an edges query on the server at url."""
    return _on_clickhouse(url, lambda c: edges(c, url.database, edge_query))


def clickhouse_failure(exc: ClickHouseError, url: ClickHouseUrl) -> CliError:
    """The one line and exit status for a ClickHouse failure."""
    detail = str(exc).removeprefix(f"cannot reach ClickHouse at {url.render()}: ")
    if exc.code in codes.UNREACHABLE:
        return CliError(
            f"cannot reach ClickHouse at {url.render()}: {detail}", ExitStatus.UNAVAILABLE
        )
    if exc.code in codes.NO_SCHEMA:
        return CliError(
            f"ClickHouse at {url.render()} has no meshpipe schema ({detail}); "
            "run `meshctl dev up` or check --clickhouse",
            ExitStatus.UNAVAILABLE,
        )
    if exc.code in codes.OLD_SCHEMA:
        return CliError(
            f"ClickHouse at {url.render()} has an older meshpipe schema ({detail}); "
            f"run `meshstreams migrate --clickhouse {url.render()}` with a writing user",
            ExitStatus.UNAVAILABLE,
        )
    return CliError(f"ClickHouse at {url.render()}: {detail}", ExitStatus.ERROR)


@dataclass(frozen=True)
class StatEnv:
    """What meshstat needs from the outside world; tests pass their own as the click obj."""

    terminal: Terminal = field(default_factory=Terminal.detect)
    clock: Clock = field(default_factory=SystemClock)
    fetch: Fetch = fetch_clickhouse
    fetch_routes: RouteFetch = fetch_routes
    fetch_edges: EdgeFetch = fetch_edges
    watch_refreshes: int | None = None  # None: until interrupted
