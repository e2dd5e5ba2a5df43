"""The worker's retention schedule, driven by a fake clock: TTL once, else timed partition drops."""

from __future__ import annotations

import datetime as dt

import pytest

from meshpipe.sinks.client import ClickHouseError
from meshpipe.sinks.retention import Retention
from meshpipe.streams.retention import RetentionSchedule, keep_retention
from meshpipe.streams.settings import SettingsError, retention_schedule

START = 1_700_000_000.0
SCHEDULE = RetentionSchedule(interval_s=3600, first_delay_s=30, retry_s=60)


class StopLoopError(Exception):
    """Raised by the fake sleep to end the otherwise endless loop."""


class FakeClock:
    """Wall time that only moves when the code under test sleeps."""

    def __init__(self, max_sleeps: int) -> None:
        self.now = START
        self.sleeps: list[float] = []
        self.max_sleeps = max_sleeps

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if len(self.sleeps) == self.max_sleeps:
            raise StopLoopError
        self.sleeps.append(seconds)
        self.now += seconds


class FakeStore:
    """Records when each retention operation ran; the first call of each may fail."""

    def __init__(self, has_ttl: bool, fail_first: bool = False) -> None:
        self.has_ttl = has_ttl
        self.fail = {"ttl": fail_first, "drop": fail_first}
        self.ttl_calls = 0
        self.drops: list[float] = []

    def _maybe_fail(self, operation: str) -> None:
        if self.fail[operation]:
            self.fail[operation] = False
            raise ClickHouseError("cannot reach ClickHouse")

    def apply_ttl(self) -> bool:
        self.ttl_calls += 1
        self._maybe_fail("ttl")
        return self.has_ttl

    def drop_expired(self, now: dt.datetime) -> list[tuple[str, str]]:
        self._maybe_fail("drop")
        self.drops.append(now.timestamp() - START)
        return []


async def test_ttl_server_gets_the_ttl_once_and_no_partition_drops() -> None:
    clock, store = FakeClock(max_sleeps=5), FakeStore(has_ttl=True)
    await keep_retention(store, SCHEDULE, clock, clock.sleep)
    assert (store.ttl_calls, store.drops, clock.sleeps) == (1, [], [])


async def test_without_ttl_first_drop_comes_shortly_after_start_then_hourly() -> None:
    clock, store = FakeClock(max_sleeps=3), FakeStore(has_ttl=False)
    with pytest.raises(StopLoopError):
        await keep_retention(store, SCHEDULE, clock, clock.sleep)
    assert store.drops == [30, 30 + 3600, 30 + 7200]


async def test_failed_attempts_are_retried_after_the_retry_delay() -> None:
    clock, store = FakeClock(max_sleeps=4), FakeStore(has_ttl=False, fail_first=True)
    with pytest.raises(StopLoopError):
        await keep_retention(store, SCHEDULE, clock, clock.sleep)
    # TTL probe fails (retry at 60), succeeds; first drop at 90 fails, retried at 150.
    assert store.ttl_calls == 2
    assert store.drops == [150, 150 + 3600]


def test_short_interval_brings_the_first_drop_forward() -> None:
    assert RetentionSchedule(interval_s=2).first_s == 2


def test_retention_interval_zero_switches_retention_off() -> None:
    assert retention_schedule(30, 7, 30, "0") is None


def test_retention_days_from_options_reach_the_schedule() -> None:
    schedule = retention_schedule(10, 3, 20, "30m")
    assert schedule == RetentionSchedule(Retention(10, 3, 20), interval_s=1800)


def test_retention_below_one_day_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="at least 1 day"):
        retention_schedule(30, 0, 30, "1h")
