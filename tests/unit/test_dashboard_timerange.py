"""The dashboard's time range: live by default, fixed with start/end, cut into whole windows."""

from __future__ import annotations

import itertools

import pytest

from meshpipe.dashboard.timerange import RangeError, TimeRange, parse_range, points
from meshpipe.schemas.rows import WINDOW_S

NOW = 1_800_000_000.0


def test_since_is_live_and_ends_now() -> None:
    assert parse_range({"since": "1h"}, NOW) == TimeRange(NOW - 3600, NOW, live=True)


def test_start_and_end_take_rfc3339_and_unix_seconds() -> None:
    got = parse_range({"start": "2027-01-15T07:00:00Z", "end": str(NOW)}, NOW)
    assert (got.start_s, got.end_s) == (NOW - 3600, NOW)
    assert not got.live


def test_start_without_end_runs_to_now_and_stays_live() -> None:
    assert parse_range({"start": "30m"}, NOW) == TimeRange(NOW - 1800, NOW, live=True)


def test_end_before_start_is_refused() -> None:
    with pytest.raises(RangeError, match="after start"):
        parse_range({"start": str(NOW), "end": str(NOW - 10)}, NOW)


def test_buckets_are_whole_windows_covering_the_range() -> None:
    span = TimeRange(NOW - 3600, NOW, live=True)
    buckets = span.buckets(12)
    assert len(buckets) <= 13
    assert buckets[0][0] <= span.start_s
    assert buckets[-1][1] >= span.end_s
    assert all(low % WINDOW_S == 0 and (high - low) % WINDOW_S == 0 for low, high in buckets)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(buckets))


def test_buckets_are_never_shorter_than_a_window() -> None:
    assert all(high - low == WINDOW_S for low, high in TimeRange(NOW - 30, NOW, True).buckets(100))


def test_points_are_bounded() -> None:
    assert points({"points": "100000"}, 20) == 120
    assert points({}, 20) == 20
    with pytest.raises(RangeError):
        points({"points": "many"}, 20)


def test_long_ranges_are_cut_into_whole_utc_days() -> None:
    buckets = TimeRange(NOW - 30 * 86_400, NOW, live=True).buckets(20)
    assert all(low % 86_400 == 0 and (high - low) % 86_400 == 0 for low, high in buckets)
    assert buckets[0][0] <= NOW - 30 * 86_400
    assert buckets[-1][1] >= NOW
    assert 10 <= len(buckets) <= 20
