"""The dev server's config keeps it on loopback, on our ports, with its files in data_dir."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from meshpipe.deploy.dev.clickhouse import (
    ClickHouseSettings,
    render_config,
    render_users,
    server_argv,
)
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.sinks.query import READ_BUFFER_BYTES

SETTINGS = ClickHouseSettings(tcp_port=19000, http_port=18123, data_dir=Path("/srv/ch"))


def test_config_listens_on_loopback_and_configured_ports_only() -> None:
    root = ET.fromstring(render_config(SETTINGS))
    assert root.tag == "yandex"
    assert [e.text for e in root.iter("listen_host")] == ["127.0.0.1"]
    assert (root.findtext("tcp_port"), root.findtext("http_port")) == ("19000", "18123")
    for other in ("interserver_http_port", "mysql_port", "postgresql_port", "https_port"):
        assert root.find(other) is None


def test_config_keeps_every_path_in_the_data_dir() -> None:
    root = ET.fromstring(render_config(SETTINGS))
    for tag in ("path", "tmp_path", "user_files_path", "format_schema_path", "users_config"):
        assert (root.findtext(tag) or "").startswith("/srv/ch/"), tag
    assert (root.findtext("logger/log") or "").startswith("/srv/ch/log/")


def test_users_are_loopback_only_and_readonly_user_has_readonly_profile() -> None:
    root = ET.fromstring(render_users(SETTINGS))
    users = root.find("users")
    assert users is not None
    assert sorted(u.tag for u in users) == ["default", "meshpipe_ro"]
    for user in users:
        assert sorted(ip.text or "" for ip in user.iter("ip")) == ["127.0.0.1", "::1"]
    assert root.findtext("users/meshpipe_ro/profile") == "readonly"
    assert root.findtext("profiles/readonly/readonly") == "1"
    assert root.findtext("profiles/default/readonly") is None


def test_readonly_profile_has_the_read_buffer_size_stat_asks_for() -> None:
    # readonly=1 refuses a SETTINGS clause unless it repeats the profile's value.
    root = ET.fromstring(render_users(SETTINGS))
    assert root.findtext("profiles/readonly/max_read_buffer_size") == str(READ_BUFFER_BYTES)


def test_single_modern_binary_runs_as_server_subcommand(tmp_path: Path) -> None:
    binary = tmp_path / "clickhouse"
    binary.touch()
    argv = server_argv(ClickHouseSettings(binary=binary), Path("/c.xml"))
    assert argv == [str(binary), "server", "--config-file=/c.xml"]


def test_legacy_server_binary_runs_directly(tmp_path: Path) -> None:
    binary = tmp_path / "clickhouse-server"
    binary.touch()
    argv = server_argv(ClickHouseSettings(binary=binary), Path("/c.xml"))
    assert argv == [str(binary), "--config-file=/c.xml"]


def test_missing_binary_says_to_run_make_setup(tmp_path: Path) -> None:
    with pytest.raises(DevStackError, match="make setup"):
        server_argv(ClickHouseSettings(binary=tmp_path / "nope"), Path("/c.xml"))
