"""The dev ClickHouse server stores and returns rows, and keeps the read-only user read-only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from meshpipe.deploy.dev.clickhouse import ClickHouseServer, ClickHouseSettings
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.sinks.client import ClickHouseError, NativeClient

pytestmark = pytest.mark.integration


def test_rows_written_with_the_driver_are_read_back(
    clickhouse_db: tuple[NativeClient, str],
) -> None:
    client, db = clickhouse_db
    client.execute(
        f"CREATE TABLE {db}.t (id UInt64, name String, at DateTime('UTC'), tags Array(String),"
        " note Nullable(String)) ENGINE = MergeTree ORDER BY id"
    )
    rows = [
        (1, "web", dt.datetime(2024, 1, 1, 0, 0, 5, tzinfo=dt.UTC), ["a", "b"], None),
        (2, "emoji", dt.datetime(2024, 1, 1, 0, 0, 6, tzinfo=dt.UTC), [], "x"),
    ]
    assert client.insert(f"{db}.t", ["id", "name", "at", "tags", "note"], rows) == 2
    assert client.execute(f"SELECT id, name, at, tags, note FROM {db}.t ORDER BY id") == rows


def test_readonly_user_cannot_write(
    clickhouse_db: tuple[NativeClient, str], clickhouse_readonly: NativeClient
) -> None:
    client, db = clickhouse_db
    client.execute(f"CREATE TABLE {db}.t (id UInt64) ENGINE = MergeTree ORDER BY id")
    client.insert(f"{db}.t", ["id"], [(1,)])
    assert clickhouse_readonly.execute(f"SELECT count() FROM {db}.t") == [(1,)]
    with pytest.raises(ClickHouseError) as caught:
        clickhouse_readonly.insert(f"{db}.t", ["id"], [(2,)])
    assert caught.value.code == 164  # READONLY
    assert client.execute(f"SELECT count() FROM {db}.t") == [(1,)]


def test_readonly_user_cannot_create_tables(
    clickhouse_db: tuple[NativeClient, str], clickhouse_readonly: NativeClient
) -> None:
    _, db = clickhouse_db
    with pytest.raises(ClickHouseError) as caught:
        clickhouse_readonly.execute(f"CREATE TABLE {db}.x (id UInt64) ENGINE = Memory")
    assert caught.value.code == 164


def test_status_reports_the_version_answering_on_the_endpoint(
    clickhouse_settings: ClickHouseSettings,
) -> None:
    status = ClickHouseServer(clickhouse_settings).status()
    assert status.version is not None
    assert status.endpoint == f"{clickhouse_settings.host}:{clickhouse_settings.tcp_port}"


def test_start_refuses_a_port_held_by_another_server(
    clickhouse_settings: ClickHouseSettings, tmp_path: Path
) -> None:
    other = ClickHouseServer(ClickHouseSettings(data_dir=tmp_path / "other"))
    with pytest.raises(DevStackError, match=r"port 127\.0\.0\.1:9000 is in use"):
        other.start(timeout_s=5)
