"""Unit tests for streams.settings: durations, windows, chunks and worker settings checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpipe.streams.settings import (
    SettingsError,
    WorkerSettings,
    chunk_settings,
    parse_duration_s,
    retention_schedule,
    window_settings,
)


def test_durations_take_the_cli_grammar() -> None:
    assert [parse_duration_s(t) for t in ("10s", "500ms", "1m", "2h", "1m30s")] == [
        10.0,
        0.5,
        60.0,
        7200.0,
        90.0,
    ]


def test_window_takes_a_compound_duration_as_meshstat_does() -> None:
    assert window_settings("1m30s").window_s == 90


def test_a_bare_number_is_not_a_duration() -> None:
    with pytest.raises(SettingsError, match="invalid duration"):
        parse_duration_s("3")


def test_retention_interval_zero_switches_retention_off() -> None:
    assert retention_schedule(7, 7, 7, "0") is None


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
