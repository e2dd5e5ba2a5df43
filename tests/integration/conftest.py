"""Shared fixtures for integration tests: the real dev-stack servers, started once per session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from meshpipe.deploy.dev.clickhouse import ClickHouseSettings
from meshpipe.deploy.dev.stack import DevStack
from meshpipe.sinks.client import ChdbClient, ClickHouseUrl, NativeClient

# --- ClickHouse -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def clickhouse_settings(dev_stack: DevStack) -> ClickHouseSettings:
    """The dev stack's ClickHouse (started once per session by the root conftest's dev_stack)."""
    return dev_stack.settings.clickhouse


def _unique_database() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def clickhouse_db(clickhouse_settings: ClickHouseSettings) -> Iterator[tuple[NativeClient, str]]:
    """A writer client on the real server and a fresh database dropped after the test."""
    database = _unique_database()
    with NativeClient(clickhouse_settings.url()) as client:
        client.execute(f"CREATE DATABASE {database}")
        try:
            yield client, database
        finally:
            client.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture
def clickhouse_readonly(clickhouse_settings: ClickHouseSettings) -> Iterator[NativeClient]:
    """A client logged in as the read-only user meshpipe_ro."""
    url: ClickHouseUrl = clickhouse_settings.url(user="meshpipe_ro")
    with NativeClient(url) as client:
        yield client


@pytest.fixture
def chdb_db(chdb_session: ChdbClient) -> Iterator[tuple[ChdbClient, str]]:
    """The chdb client and a fresh database dropped after the test."""
    database = _unique_database()
    chdb_session.execute(f"CREATE DATABASE {database}")
    try:
        yield chdb_session, database
    finally:
        chdb_session.execute(f"DROP DATABASE IF EXISTS {database}")
