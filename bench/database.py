"""A fresh ClickHouse database with the project's schema for one scenario, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from bench.procs import BenchError
from meshpipe.sinks.client import ClickHouseError, NativeClient, parse_url
from meshpipe.sinks.migrations import apply_migrations

DROP_S = 600.0  # seconds the final DROP DATABASE may take


def server_url(clickhouse: str, database: str) -> str:
    """The --clickhouse URL of database on the server of clickhouse (a URL without database)."""
    url = parse_url(clickhouse)
    return f"clickhouse://{url.user}@{url.host}:{url.port}/{database}"


@contextmanager
def bench_database(clickhouse: str, label: str) -> Iterator[tuple[NativeClient, str]]:
    """A client and a migrated database `bench_LABEL_<random>`, dropped when the block ends."""
    database = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    try:
        client = NativeClient(parse_url(server_url(clickhouse, "default")))
        client.execute(f"CREATE DATABASE {database}")
    except (ClickHouseError, OSError) as exc:
        raise BenchError(f"ClickHouse at {clickhouse} is not usable: {exc}") from exc
    try:
        apply_migrations(client, database)
        yield client, database
    finally:
        client.close()
        # Dropping a month of day partitions on a busy 18.16 outlasts the default 30 s timeout.
        with NativeClient(
            parse_url(server_url(clickhouse, "default")), timeout_s=DROP_S
        ) as dropper:
            dropper.execute(f"DROP DATABASE IF EXISTS {database}")
