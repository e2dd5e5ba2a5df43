"""The ClickHouse row sink writes batches from its own thread, retries outages, stops cleanly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sinks_rows import edge, loss, request

from meshpipe.schemas.rows import RowBatch
from meshpipe.sinks.client import ClickHouseError
from meshpipe.sinks.tables import EDGE_WINDOW_COLUMNS, REQUEST_COLUMNS, edge_window_values
from meshpipe.sinks.writer import ClickHouseRowSink, RowSinkError, SinkStoppedError, WriterSettings

FAST = WriterSettings(retry_initial_s=0.01, retry_max_s=0.02, poll_s=0.01)


@dataclass
class FakeClient:
    """Records inserts; fails while `down` is set, or for rows matching `poison`."""

    inserts: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)
    down: threading.Event = field(default_factory=threading.Event)
    poison_version: int | None = None
    attempts: int = 0
    closed: int = 0

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        raise AssertionError("the writer only inserts")

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        self.threads.add(threading.get_ident())
        self.attempts += 1
        data = [tuple(r) for r in rows]
        if self.down.is_set():
            raise ClickHouseError("cannot reach ClickHouse: connection refused")
        if self.poison_version is not None and any(
            "version" in columns and r[list(columns).index("version")] == self.poison_version
            for r in data
        ):
            raise ClickHouseError("Type mismatch", code=53)
        self.inserts.append((table, tuple(columns), data))
        return len(data)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        return self.insert(table, columns, zip(*data, strict=True))

    def server_version(self) -> tuple[int, int]:
        return (18, 16)

    def close(self) -> None:
        self.closed += 1

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        return [row for name, _, rows in self.inserts if name == table for row in rows]


def _sink(client: FakeClient, settings: WriterSettings = FAST) -> ClickHouseRowSink:
    return ClickHouseRowSink(lambda: client, "meshpipe", settings)


async def test_completion_resolves_after_rows_are_inserted() -> None:
    client = FakeClient()
    async with _sink(client) as sink:
        done = await sink.submit(RowBatch(edge_windows=(edge(1),), requests=(request(1),)))
        await asyncio.wait_for(done, 5)
    assert client.rows("meshpipe.edge_windows") == [edge_window_values(edge(1))]
    assert [r[REQUEST_COLUMNS.index("offset")] for r in client.rows("meshpipe.requests")] == [1]
    assert client.inserts[0][1] == EDGE_WINDOW_COLUMNS


async def test_client_is_only_called_from_the_writer_thread() -> None:
    client = FakeClient()
    async with _sink(client) as sink:
        await asyncio.wait_for(await sink.submit(RowBatch(losses=(loss(1),))), 5)
    assert client.threads
    assert threading.get_ident() not in client.threads


async def test_completion_stays_pending_while_clickhouse_is_down_and_nothing_is_lost() -> None:
    client = FakeClient()
    client.down.set()
    async with _sink(client) as sink:
        dones = [await sink.submit(RowBatch(requests=(request(i),))) for i in range(5)]
        await asyncio.sleep(0.2)
        assert not any(d.done() for d in dones)  # type: ignore[attr-defined]
        assert sink.retries > 0
        client.down.clear()
        await asyncio.wait_for(asyncio.gather(*dones), 5)
    offsets = sorted(r[REQUEST_COLUMNS.index("offset")] for r in client.rows("meshpipe.requests"))
    assert offsets == [0, 1, 2, 3, 4]


async def test_queued_batches_are_merged_into_one_insert_per_table() -> None:
    client = FakeClient()
    client.down.set()  # let batches pile up first
    async with _sink(client) as sink:
        dones = [await sink.submit(RowBatch(edge_windows=(edge(i),))) for i in range(4)]
        await asyncio.sleep(0.05)
        client.down.clear()
        await asyncio.wait_for(asyncio.gather(*dones), 5)
    # The first batch was taken alone before the rest arrived at most; the others merge.
    assert len(client.inserts) <= 2
    assert len(client.rows("meshpipe.edge_windows")) == 4


async def test_a_batch_the_server_refuses_fails_alone() -> None:
    client = FakeClient(poison_version=2)
    client.down.set()
    async with _sink(client) as sink:
        dones = [await sink.submit(RowBatch(edge_windows=(edge(i),))) for i in range(4)]
        client.down.clear()
        results = await asyncio.wait_for(asyncio.gather(*dones, return_exceptions=True), 5)
    assert [isinstance(r, RowSinkError) for r in results] == [False, False, True, False]
    versions = sorted(
        r[EDGE_WINDOW_COLUMNS.index("version")] for r in client.rows("meshpipe.edge_windows")
    )
    assert versions == [0, 1, 3]


async def test_stop_stores_queued_batches_before_returning() -> None:
    client = FakeClient()
    sink = _sink(client)
    sink.start()
    dones = [await sink.submit(RowBatch(requests=(request(i),))) for i in range(20)]
    await sink.stop(timeout_s=5)
    assert all(d.done() and d.exception() is None for d in dones)  # type: ignore[attr-defined]
    assert len(client.rows("meshpipe.requests")) == 20


async def test_stop_fails_unstored_batches_when_clickhouse_stays_down() -> None:
    client = FakeClient()
    client.down.set()
    sink = _sink(client)
    sink.start()
    dones = [await sink.submit(RowBatch(requests=(request(i),))) for i in range(3)]
    await sink.stop(timeout_s=0.1)
    results = await asyncio.gather(*dones, return_exceptions=True)
    assert all(isinstance(r, SinkStoppedError) for r in results)
    assert client.rows("meshpipe.requests") == []


async def test_submit_waits_while_the_queue_is_full() -> None:
    client = FakeClient()
    client.down.set()
    async with _sink(
        client,
        WriterSettings(max_queued_batches=2, retry_initial_s=0.01, retry_max_s=0.02, poll_s=0.01),
    ) as sink:
        first = [await sink.submit(RowBatch(requests=(request(i),))) for i in range(2)]
        third = asyncio.ensure_future(sink.submit(RowBatch(requests=(request(2),))))
        await asyncio.sleep(0.1)
        assert not third.done()
        client.down.clear()
        await asyncio.wait_for(asyncio.gather(*first), 5)
        await asyncio.wait_for(await asyncio.wait_for(third, 5), 5)
    assert len(client.rows("meshpipe.requests")) == 3


async def test_submit_after_stop_is_refused() -> None:
    sink = _sink(FakeClient())
    sink.start()
    await sink.stop()
    with pytest.raises(SinkStoppedError):
        await sink.submit(RowBatch(requests=(request(0),)))


def test_settings_refuse_backoff_ceiling_below_initial_delay() -> None:
    with pytest.raises(ValueError, match="retry"):
        WriterSettings(retry_initial_s=2.0, retry_max_s=1.0)
