"""Unit tests for cli.durations: Go-style durations and RFC 3339 or relative times."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.schemas.durations import (
    DurationError,
    format_duration,
    format_time,
    parse_duration,
    parse_time,
)

NOW = 1_795_000_000.0  # 2026-11-18T...Z


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("1m", 60), ("1h30m", 5400), ("500ms", 0.5), ("1.5h", 5400), ("2m10s", 130)],
)
def test_parse_duration_accepts_go_style_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1x", "m", "1m 2s", "-1m", "1m-", "0s"])
def test_parse_duration_rejects_anything_else_in_one_line(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert "\n" not in str(info.value)
    assert "duration" in str(info.value)


def test_parse_time_reads_a_duration_as_that_long_ago() -> None:
    assert parse_time("1h", NOW) == NOW - 3600


def test_parse_time_reads_rfc3339_with_z() -> None:
    assert parse_time("2026-11-27T10:00:00Z", NOW) == 1_795_773_600.0


def test_parse_time_reads_rfc3339_with_offset() -> None:
    assert parse_time("2026-11-27T11:00:00+01:00", NOW) == 1_795_773_600.0


def test_parse_time_rejects_a_time_without_zone() -> None:
    with pytest.raises(DurationError, match="no zone"):
        parse_time("2026-11-27T10:00:00", NOW)


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(DurationError, match="RFC 3339"):
        parse_time("yesterday", NOW)


def test_format_time_is_utc_with_z_and_milliseconds_only_when_needed() -> None:
    assert format_time(1_795_773_600.0) == "2026-11-27T10:00:00Z"
    assert format_time(1_795_773_600.25) == "2026-11-27T10:00:00.250Z"


@given(st.integers(min_value=1, max_value=10 * 86400))
def test_format_duration_parses_back_to_the_same_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
