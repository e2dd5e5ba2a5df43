"""The time range a dashboard request asks for, from its URL parameters.

`since=15m` (the default) is live: the range ends now and the page refreshes. `start` and `end`
(RFC 3339 times, Unix seconds, or durations ago as `--since` takes them) fix the range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from meshpipe.schemas.durations import DurationError, parse_duration, parse_time
from meshpipe.schemas.rows import WINDOW_S

DEFAULT_SINCE = "15m"
MAX_POINTS = 120  # the most points a series asks the query layer for
DAY_S = 86_400
# Buckets this long or longer become whole UTC days: a bucket that cuts a day reads that day's
# raw windows, a whole day reads its small rollup.
DAY_BUCKET_S = 12 * 3600


class RangeError(ValueError):
    """The URL's range parameters cannot be read; the message says which and why."""


@dataclass(frozen=True)
class TimeRange:
    """[start_s, end_s) in Unix seconds; live when it ends at the request's now."""

    start_s: float
    end_s: float
    live: bool

    def buckets(self, points: int) -> list[tuple[float, float]]:
        """The range cut into about `points` consecutive sub-ranges of whole windows; from
        DAY_BUCKET_S on, into whole UTC days (which the query layer reads from the rollups)."""
        span = self.end_s - self.start_s
        step = max(WINDOW_S, math.ceil(span / max(1, points) / WINDOW_S) * WINDOW_S)
        align = WINDOW_S
        if step >= DAY_BUCKET_S:
            step = align = math.ceil(step / DAY_S) * DAY_S
        first = math.floor(self.start_s / align) * align
        edges: list[tuple[float, float]] = []
        low = float(first)
        while low < self.end_s:
            edges.append((low, low + step))
            low += step
        return edges

    def as_json(self) -> dict[str, object]:
        return {"start": self.start_s, "end": self.end_s, "live": self.live}


def _time(text: str, now_s: float, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_time(text, now_s)
    except DurationError as exc:
        raise RangeError(f"{name}: {exc}") from None


def parse_range(params: Mapping[str, str], now_s: float) -> TimeRange:
    """The range of params (since, or start and end) at now_s."""
    start, end = params.get("start"), params.get("end")
    if start:
        start_s = _time(start, now_s, "start")
        end_s = _time(end, now_s, "end") if end else now_s
        if not end_s > start_s:
            raise RangeError("end must be after start")
        return TimeRange(start_s, end_s, live=not end)
    since = params.get("since") or DEFAULT_SINCE
    try:
        seconds = parse_duration(since)
    except DurationError as exc:
        raise RangeError(f"since: {exc}") from None
    return TimeRange(now_s - seconds, now_s, live=True)


def points(params: Mapping[str, str], default: int) -> int:
    """How many points a series should have (2 to MAX_POINTS)."""
    text = params.get("points")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise RangeError(f"points: not a number: {text!r}") from None
    return min(MAX_POINTS, max(2, value))
