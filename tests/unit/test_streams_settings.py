"""Unit tests for streams.settings: durations, windows, chunks and worker settings checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpipe.streams.settings import (
    SettingsError,
    WorkerSettings,
    chunk_settings,
    parse_duration_s,
    window_settings,
)


def test_durations_take_units() -> None:
    assert [parse_duration_s(t) for t in ("10s", "500ms", "1m", "2h", "3")] == [
        10.0,
        0.5,
        60.0,
        7200.0,
        3.0,
    ]


def test_window_must_be_whole_seconds() -> None:
    with pytest.raises(SettingsError, match="whole number of seconds"):
        window_settings("1500ms")


def test_bad_chunk_settings_are_settings_errors() -> None:
    with pytest.raises(SettingsError, match="at least 1 record"):
        chunk_settings(0, "30s")
    assert chunk_settings(500, "1m").max_age_s == 60.0


def test_session_timeout_outside_broker_limits_is_rejected() -> None:
    with pytest.raises(SettingsError, match="session timeout"):
        WorkerSettings(kafka="k:9092", clickhouse="memory://", session_timeout_s=2)


def test_faust_data_dir_defaults_to_a_per_group_dir_outside_the_cwd() -> None:
    settings = WorkerSettings(kafka="k:9092", clickhouse="memory://", group="g1")
    assert settings.faust_data_dir == Path.home() / ".local/share/meshpipe/streams/g1"
    given = WorkerSettings(kafka="k:9092", clickhouse="memory://", data_dir=Path("/tmp/x"))
    assert given.faust_data_dir == Path("/tmp/x")
