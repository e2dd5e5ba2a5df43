"""Keeps the stream tables within retention from a worker: TTL once at start, else timed drops.

Every worker runs this (no election): setting a TTL that is already set is skipped, and dropping
a partition another worker already dropped does nothing, so several workers only repeat a few
cheap queries an hour. clickhouse-driver is synchronous, so each attempt runs in a worker thread
(`asyncio.to_thread`) with a client of its own that is closed when the attempt ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from meshpipe.schemas.clock import WallClock
from meshpipe.sinks.client import ClickHouseClient, ClickHouseError
from meshpipe.sinks.retention import Retention, apply_retention, drop_expired_partitions

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
ClientFactory = Callable[[], ClickHouseClient]
Dropped = list[tuple[str, str]]  # (table, YYYYMMDD partition)


@dataclass(frozen=True, slots=True)
class RetentionSchedule:
    """How long rows are kept and when a worker enforces it."""

    days: Retention = field(default_factory=Retention)
    interval_s: float = 3600.0  # seconds between partition drops on servers without TTL
    first_delay_s: float = 30.0  # seconds after start before the first drop (at most interval_s)
    retry_s: float = 60.0  # seconds before retrying an attempt that failed (at most interval_s)

    def __post_init__(self) -> None:
        if min(self.interval_s, self.first_delay_s, self.retry_s) <= 0:
            raise ValueError("retention interval, first delay and retry must be positive")

    @property
    def first_s(self) -> float:
        """Seconds from start to the first partition drop."""
        return min(self.first_delay_s, self.interval_s)

    @property
    def retry_after_s(self) -> float:
        """Seconds from a failed attempt to the next one."""
        return min(self.retry_s, self.interval_s)


class RetentionStore(Protocol):
    """The two retention operations; each is synchronous and runs off the event loop."""

    def apply_ttl(self) -> bool:
        """Set the tables' TTL; False when the server has no TTL."""
        ...

    def drop_expired(self, now: dt.datetime) -> Dropped:
        """Drop the day partitions past retention at now; return what was dropped."""
        ...


@dataclass(frozen=True)
class ClickHouseRetention:
    """A RetentionStore opening its own client for each call (so any thread may call it)."""

    connect: ClientFactory
    database: str
    days: Retention

    def apply_ttl(self) -> bool:
        client = self.connect()
        try:
            return apply_retention(client, self.database, self.days)
        finally:
            client.close()

    def drop_expired(self, now: dt.datetime) -> Dropped:
        client = self.connect()
        try:
            return drop_expired_partitions(client, self.database, now, self.days)
        finally:
            client.close()


async def keep_retention(
    store: RetentionStore,
    schedule: RetentionSchedule,
    clock: WallClock,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Apply the TTL once where the server has one and return; else drop partitions forever.

    Without TTL the first drop comes schedule.first_s after start, then one every interval_s.
    A failed attempt (ClickHouse unreachable, a refused statement) is logged and retried after
    retry_after_s; the worker's other work never waits for any of this.
    """
    while True:
        try:
            has_ttl = await asyncio.to_thread(store.apply_ttl)
            break
        except (ClickHouseError, OSError) as exc:
            log.warning("retention: cannot set TTL, retrying in %.0f s: %s", schedule.retry_s, exc)
            await sleep(schedule.retry_after_s)
    if has_ttl:
        log.info("retention: kept by TTL (%s)", schedule.days)
        return
    log.info(
        "retention: server has no TTL, dropping expired day partitions every %.0f s",
        schedule.interval_s,
    )
    await sleep(schedule.first_s)
    while True:
        now = dt.datetime.fromtimestamp(clock(), dt.UTC)
        try:
            dropped = await asyncio.to_thread(store.drop_expired, now)
        except (ClickHouseError, OSError) as exc:
            log.warning("retention: partition drop failed, retrying: %s", exc)
            await sleep(schedule.retry_after_s)
            continue
        for table, partition in dropped:
            log.info("retention: dropped %s partition %s", table, partition)
        await sleep(schedule.interval_s)
