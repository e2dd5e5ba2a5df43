"""Keeps the daily rollups of closed days current from a worker (see sinks.rollup).

Every worker may run this: two computations of one day are both complete, and readers take the
newest that is still exact, so a duplicate costs one query's work and nothing else. Each pass
runs in a worker thread (clickhouse-driver is synchronous) with a client of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from meshpipe.schemas.clock import WallClock
from meshpipe.sinks.client import ClickHouseClient, ClickHouseError
from meshpipe.sinks.rollup import roll_closed_days

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Rolled = list[tuple[str, int]]  # (raw table, day start)


@dataclass(frozen=True)
class ClickHouseRollups:
    """One pass over the closed days, with a client opened for the pass."""

    connect: Callable[[], ClickHouseClient]
    database: str
    days_back: int

    def __call__(self, now_s: float) -> Rolled:
        client = self.connect()
        try:
            return roll_closed_days(client, self.database, now_s, self.days_back)
        finally:
            client.close()


async def keep_rollups(
    roll: Callable[[float], Rolled],
    interval_s: float,
    clock: WallClock,
    first_s: float = 60.0,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """A pass first_s after start, then one every interval_s; failures are logged and wait
    for the next pass (the raw rows answer every query meanwhile)."""
    await sleep(min(first_s, interval_s))
    while True:
        try:
            for table, day in await asyncio.to_thread(roll, clock()):
                log.info("rollup: %s day %d rolled up", table, day)
        except (ClickHouseError, OSError) as exc:
            log.warning("rollup: pass failed, next in %.0f s: %s", interval_s, exc)
        await sleep(interval_s)
