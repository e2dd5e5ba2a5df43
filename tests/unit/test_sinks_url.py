"""ClickHouse URLs parse into connection settings, and bad ones fail with a clear message."""

from __future__ import annotations

import pytest

from meshpipe.sinks.client import ClickHouseUrl, UrlError, parse_url


def test_full_url_parses_every_part() -> None:
    url = parse_url("clickhouse://writer:s3cr%2Ft@db.local:19000/meshpipe")
    assert url == ClickHouseUrl("db.local", 19000, "writer", "s3cr/t", "meshpipe")


def test_user_port_and_database_default() -> None:
    assert parse_url("clickhouse://127.0.0.1") == ClickHouseUrl()


def test_user_without_password_has_empty_password() -> None:
    url = parse_url("clickhouse://meshpipe_ro@127.0.0.1:9000/meshpipe")
    assert (url.user, url.password, url.database) == ("meshpipe_ro", "", "meshpipe")


def test_password_is_not_shown_in_repr_or_render() -> None:
    url = parse_url("clickhouse://u:hunter2@h:1/d")
    assert "hunter2" not in repr(url)
    assert url.render() == "clickhouse://u@h:1/d"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("http://h:9000/db", "must start with clickhouse://"),
        ("clickhouse://h:port/db", "invalid port"),
        ("clickhouse://h:70000/db", "invalid port"),
        ("clickhouse:///db", "no host"),
        ("clickhouse://h:9000/db;drop", "invalid database name"),
        ("clickhouse://h:9000/a/b", "invalid database name"),
        ("clickhouse://h:9000/db?secure=1", "no query or fragment"),
    ],
)
def test_bad_url_is_rejected_with_reason(raw: str, message: str) -> None:
    with pytest.raises(UrlError, match=message):
        parse_url(raw)
