"""Retention of the stream tables: TTL where the server has it, day-partition drops elsewhere."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from meshpipe.sinks.client import ClickHouseClient, check_name
from meshpipe.sinks.migrations.dialect import Dialect
from meshpipe.sinks.migrations.versions import (
    DEFAULT_LOSS_DAYS,
    DEFAULT_REQUEST_DAYS,
    DEFAULT_WINDOW_DAYS,
)
from meshpipe.sinks.rollup import EDGE_DAYS, LOSS_DAYS, SOURCES
from meshpipe.sinks.tables import EDGE_WINDOWS, PROXY_LOSSES, REQUESTS, TCP_CONNECTIONS


@dataclass(frozen=True)
class Retention:
    """How many days each table keeps its rows."""

    window_days: int = DEFAULT_WINDOW_DAYS  # edge_windows and tcp_connections, by window_start
    request_days: int = DEFAULT_REQUEST_DAYS  # requests, by start_time
    loss_days: int = DEFAULT_LOSS_DAYS  # proxy_losses, by window_start

    def __post_init__(self) -> None:
        if min(self.window_days, self.request_days, self.loss_days) < 1:
            raise ValueError("retention must be at least 1 day for every table")

    def tables(self) -> tuple[tuple[str, str, int], ...]:
        """(table, time column, days) for each stream table and rollup."""
        return (
            (EDGE_WINDOWS, "window_start", self.window_days),
            (REQUESTS, "start_time", self.request_days),
            (PROXY_LOSSES, "window_start", self.loss_days),
            (TCP_CONNECTIONS, "window_start", self.window_days),
            # the daily rollups (sinks.rollup) last as long as what they sum
            (EDGE_DAYS, "day", self.window_days),
            (LOSS_DAYS, "day", self.loss_days),
            (SOURCES, "day", max(self.window_days, self.loss_days)),
        )


def apply_retention(client: ClickHouseClient, database: str, retention: Retention) -> bool:
    """Set each table's TTL to its retention; False (nothing done) on servers without TTL.

    Tables whose TTL already matches are left alone, so calling it at every start is cheap.
    """
    check_name(database, "database")
    if not Dialect(client.server_version()).modern:
        return False
    engines = {
        str(name): str(engine)
        for name, engine in client.execute(
            "SELECT name, engine_full FROM system.tables"  # noqa: S608 - name checked
            f" WHERE database = '{database}'"
        )
    }
    for table, column, days in retention.tables():
        # MODIFY TTL rewrites every part by default: skip it when the TTL is already right, so
        # that each worker start does not do it again.
        if f"TTL {column} + toIntervalDay({int(days)})" in engines.get(table, ""):
            continue
        client.execute(
            f"ALTER TABLE {database}.{table} MODIFY TTL {column} + INTERVAL {int(days)} DAY"
        )
    return True


def expired_partitions(partitions: list[str], days: int, now: dt.datetime) -> list[str]:
    """The `YYYYMMDD` day partitions whose every row is older than now - days."""
    cutoff = now.astimezone(dt.UTC) - dt.timedelta(days=days)
    expired = []
    for partition in partitions:
        day = dt.datetime.strptime(partition, "%Y%m%d").replace(tzinfo=dt.UTC)
        if day + dt.timedelta(days=1) <= cutoff:
            expired.append(partition)
    return expired


def drop_expired_partitions(
    client: ClickHouseClient,
    database: str,
    now: dt.datetime,
    retention: Retention | None = None,
) -> list[tuple[str, str]]:
    """Drop the day partitions entirely past retention; return the (table, partition) dropped.

    For servers without TTL (run it daily); harmless where TTL exists. A partition is dropped
    only when all of its day lies before now - days, so rows are kept at least `days` days.
    """
    check_name(database, "database")
    dropped = []
    for table, _column, days in (retention or Retention()).tables():
        rows = client.execute(
            "SELECT DISTINCT partition FROM system.parts"  # noqa: S608 - names checked
            f" WHERE database = '{database}' AND table = '{table}' AND active"
        )
        for partition in expired_partitions(sorted(str(r[0]) for r in rows), days, now):
            client.execute(f"ALTER TABLE {database}.{table} DROP PARTITION {int(partition)}")
            dropped.append((table, partition))
    return dropped
