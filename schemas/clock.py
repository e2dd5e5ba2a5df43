"""The one clock interface: wall time, monotonic time and sleep, injectable so tests never wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

# A clock as one function returning Unix seconds (`time.time`), for code that needs nothing else.
WallClock = Callable[[], float]


class Clock(Protocol):
    """What meshpipe reads time from. Fakes implement the methods their code uses."""

    def time(self) -> float:
        """Seconds since the Unix epoch (event timestamps, windows, expiries)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (latencies, deadlines)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for seconds."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
