"""The row sink stores every row on the real 18.16 server, also across a server outage."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sinks_truth import batch, generate

from meshpipe.deploy.dev.clickhouse import ClickHouseServer, ClickHouseSettings
from meshpipe.schemas.rows import RowBatch
from meshpipe.sinks.client import NativeClient
from meshpipe.sinks.migrations import apply_migrations
from meshpipe.sinks.writer import ClickHouseRowSink, WriterSettings

pytestmark = pytest.mark.integration

RETRY = WriterSettings(retry_initial_s=0.1, retry_max_s=0.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ClickHouseServer]:
    """A ClickHouse server of this test alone (other ports, own files), so it can be stopped."""
    settings = ClickHouseSettings(
        tcp_port=_free_port(), http_port=_free_port(), data_dir=tmp_path / "clickhouse"
    )
    server = ClickHouseServer(settings)
    server.start(timeout_s=60)
    try:
        yield server
    finally:
        server.stop()


def _chunks(whole: RowBatch, size: int) -> list[RowBatch]:
    requests = whole.requests
    return [RowBatch(requests=requests[i : i + size]) for i in range(0, len(requests), size)]


def _stored(client: NativeClient, db: str) -> tuple[int, int]:
    rows = client.execute(f"SELECT count(), uniqExact(partition, offset) FROM {db}.requests FINAL")
    return int(rows[0][0]), int(rows[0][1])


async def test_every_batch_is_stored_and_replayed_rows_collapse(
    clickhouse_db: tuple[NativeClient, str],
) -> None:
    client, db = clickhouse_db
    apply_migrations(client, db)
    whole = batch(generate(1_700_000_000 // 60 * 60, calls=300))
    url = client.url
    async with ClickHouseRowSink(lambda: NativeClient(url), db, RETRY) as sink:
        dones = [await sink.submit(b) for b in (whole, whole)]  # the second is a replay
        await asyncio.wait_for(asyncio.gather(*dones), 30)
    distinct = len({(r.partition, r.offset) for r in whole.requests})
    assert _stored(client, db) == (distinct, distinct)
    windows = client.execute(f"SELECT count() FROM {db}.edge_windows FINAL")
    assert windows[0][0] == len(
        {
            (w.direction, w.source, w.destination, w.window_start_s, w.partition, w.first_offset)
            for w in whole.edge_windows
        }
    )


async def test_nothing_is_lost_while_the_server_is_down_for_seconds(
    own_server: ClickHouseServer,
) -> None:
    url = own_server.settings.url()
    with NativeClient(url) as admin:
        admin.execute("CREATE DATABASE outage")
        apply_migrations(admin, "outage")
    chunks = _chunks(batch(generate(1_700_000_000 // 60 * 60, calls=600)), 50)
    async with ClickHouseRowSink(lambda: NativeClient(url, timeout_s=5), "outage", RETRY) as sink:
        before = [await sink.submit(b) for b in chunks[:5]]
        await asyncio.wait_for(asyncio.gather(*before), 30)
        await asyncio.to_thread(own_server.stop)
        during = [await sink.submit(b) for b in chunks[5:]]
        await asyncio.sleep(3)
        assert not any(d.done() for d in during)  # type: ignore[attr-defined]
        await asyncio.to_thread(own_server.start, 60)
        await asyncio.wait_for(asyncio.gather(*during), 60)
        assert sink.retries > 0
    expected = len({(r.partition, r.offset) for c in chunks for r in c.requests})
    with NativeClient(url) as admin:
        assert _stored(admin, "outage") == (expected, expected)
