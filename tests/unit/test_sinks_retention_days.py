"""Retention: which day partitions are past retention, and the TTL each dialect gets."""

from __future__ import annotations

import datetime as dt

import pytest

from meshpipe.sinks.migrations import MIGRATIONS, Dialect, render_migration
from meshpipe.sinks.retention import Retention, expired_partitions

NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.UTC)


def test_only_days_entirely_before_the_cutoff_are_expired() -> None:
    days = ["20240301", "20240302", "20240303", "20240304", "20240310"]
    # cutoff = 2024-03-03 12:00: the 3rd still holds rows younger than 7 days.
    assert expired_partitions(days, 7, NOW) == ["20240301", "20240302"]


def test_retention_below_one_day_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        Retention(request_days=0)


def test_stream_tables_get_ttl_only_on_modern_servers() -> None:
    stream = next(m for m in MIGRATIONS if m.name == "stream_tables")
    old = " ".join(render_migration(stream, Dialect((18, 16)), "meshpipe"))
    new = " ".join(render_migration(stream, Dialect((26, 9)), "meshpipe"))
    assert "TTL" not in old
    assert "LowCardinality" not in old
    assert "TTL window_start + INTERVAL 30 DAY" in new
    assert "TTL start_time + INTERVAL 7 DAY" in new


def test_replacing_keys_hold_the_row_keys_of_the_stream_rows() -> None:
    stream = next(m for m in MIGRATIONS if m.name == "stream_tables")
    ddl = render_migration(stream, Dialect((18, 16)), "meshpipe")
    windows, requests, losses = (" ".join(s.split()) for s in ddl)
    assert (
        "ORDER BY (window_start, direction, destination, source, partition, first_offset)"
        in windows
    )
    assert "partition, offset)" in requests
    assert "ORDER BY (window_start, proxy_id, partition, first_offset)" in losses


def test_connection_reports_are_kept_like_the_edge_windows_and_keyed_by_proxy_edge() -> None:
    gauges = next(m for m in MIGRATIONS if m.name == "tcp_connections")
    [old] = render_migration(gauges, Dialect((18, 16)), "meshpipe")
    [new] = render_migration(gauges, Dialect((26, 9)), "meshpipe")
    assert "TTL" not in old
    assert "LowCardinality" not in old
    assert "TTL window_start + INTERVAL 30 DAY" in new
    assert "ReplacingMergeTree(version)" in old
    assert (
        "ORDER BY (window_start, direction, destination, source, proxy_id, partition, first_offset)"
        in " ".join(old.split())
    )
    assert ("tcp_connections", "window_start", 9) in Retention(window_days=9).tables()
