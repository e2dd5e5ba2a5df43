"""`meshstreams migrate` against the real dev-stack ClickHouse, as the Kubernetes init container
runs it: a database that does not exist yet, then the same command again."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpipe.deploy.dev.clickhouse import ClickHouseSettings
from meshpipe.schemas.exits import ExitStatus
from meshpipe.sinks.client import NativeClient
from meshpipe.sinks.migrations import MIGRATIONS, applied_versions

pytestmark = pytest.mark.integration

MESHSTREAMS = str(Path(sys.executable).parent / "meshstreams")


def migrate(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MESHSTREAMS, "migrate", "--clickhouse", url],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


@pytest.fixture
def missing_database(clickhouse_settings: ClickHouseSettings) -> Iterator[tuple[NativeClient, str]]:
    """A client on the real server and a database name that does not exist; dropped after."""
    database = f"test_migrate_{uuid.uuid4().hex[:12]}"
    with NativeClient(clickhouse_settings.url()) as client:
        try:
            yield client, database
        finally:
            client.execute(f"DROP DATABASE IF EXISTS {database}")


def url_of(settings: ClickHouseSettings, database: str) -> str:
    return f"clickhouse://default@{settings.host}:{settings.tcp_port}/{database}"


def test_migrate_creates_the_missing_database_with_every_migration(
    clickhouse_settings: ClickHouseSettings, missing_database: tuple[NativeClient, str]
) -> None:
    client, database = missing_database
    result = migrate(url_of(clickhouse_settings, database))
    versions = sorted(m.version for m in MIGRATIONS)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        f"schema clickhouse://default@{clickhouse_settings.host}:{clickhouse_settings.tcp_port}"
        f"/{database}: {len(versions)} migrations applied ({', '.join(map(str, versions))})"
    ]
    assert applied_versions(client, database) == set(versions)
    tables = {row[0] for row in client.execute(f"SHOW TABLES FROM {database}")}
    assert {"schema_migrations", "edge_windows"} <= tables


def test_migrate_again_reports_up_to_date_and_changes_nothing(
    clickhouse_settings: ClickHouseSettings, missing_database: tuple[NativeClient, str]
) -> None:
    client, database = missing_database
    url = url_of(clickhouse_settings, database)
    assert migrate(url).returncode == 0
    before = client.execute(f"SELECT count() FROM {database}.schema_migrations")
    again = migrate(url)
    after = client.execute(f"SELECT count() FROM {database}.schema_migrations")
    assert (again.returncode, again.stdout.strip()) == (0, f"schema {url}: up to date")
    assert after == before


def test_unreachable_clickhouse_is_one_line_and_the_unavailable_exit_code() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = migrate(f"clickhouse://default@127.0.0.1:{port}/meshpipe")
    assert result.returncode == ExitStatus.UNAVAILABLE
    assert result.stderr.startswith("meshstreams: cannot migrate clickhouse://default@127.0.0.1:")
    assert result.stderr.count("\n") == 1
