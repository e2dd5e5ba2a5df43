"""`ClickHouseRowSink`: stores row batches from the event loop through one writer thread.

clickhouse-driver is synchronous, so the driver is only ever called from the sink's own thread,
with its own client. `submit` puts a batch on a bounded queue (waiting while it is full) and
returns a future of the event loop; the thread merges queued batches into one insert per table
(columnar: the driver then neither turns rows into columns nor converts a datetime per row),
retries transient failures with backoff for as long as it takes (the future stays pending, so
the stream worker never commits offsets of rows that are not stored), and resolves the future
through `loop.call_soon_threadsafe` once every row is acknowledged. Re-inserting after a failure
that happened after the server stored a block is harmless: every table is a ReplacingMergeTree
keyed so that the same rows collapse.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from meshpipe.schemas import clickhouse_codes as codes
from meshpipe.schemas.rows import RowBatch
from meshpipe.sinks.client import ClickHouseClient, ClickHouseError, check_name
from meshpipe.sinks.tables import TableColumns, batch_columns

log = logging.getLogger(__name__)

ClientFactory = Callable[[], ClickHouseClient]


class RowSinkError(RuntimeError):
    """A batch could not be stored (it can never be, or the sink stopped first)."""


class SinkStoppedError(RowSinkError):
    """The sink stopped before the batch was stored."""


@dataclass(frozen=True)
class WriterSettings:
    """Queueing, batching and retry behaviour of the writer thread."""

    max_queued_batches: int = 64  # submit waits while this many batches are not yet stored
    max_insert_rows: int = 50_000  # rows per INSERT block; merged batches are split above it
    retry_initial_s: float = 0.1  # first backoff after a transient failure, seconds
    retry_max_s: float = 5.0  # backoff ceiling, seconds
    poll_s: float = 0.2  # how often an idle thread checks for stop, seconds

    def __post_init__(self) -> None:
        if self.max_queued_batches < 1 or self.max_insert_rows < 1:
            raise ValueError("queue and insert sizes must be at least 1")
        if not 0 < self.retry_initial_s <= self.retry_max_s:
            raise ValueError("want 0 < retry_initial_s <= retry_max_s")


def is_permanent(exc: Exception) -> bool:
    """True when retrying an insert that raised exc cannot succeed."""
    if isinstance(exc, ClickHouseError):
        return exc.code in codes.PERMANENT
    # The driver raises TypeError/ValueError/etc. when values do not fit the column types.
    return not isinstance(exc, OSError | EOFError)


@dataclass
class _Pending:
    """One submitted batch and the future that resolves when it is stored."""

    batch: RowBatch
    done: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


class ClickHouseRowSink:
    """A `schemas.rows.RowSink` writing to ClickHouse from one thread with its own client."""

    def __init__(
        self,
        connect: ClientFactory,
        database: str,
        settings: WriterSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._database = check_name(database, "database")
        self.settings = settings or WriterSettings()
        self._clock = clock
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._slots: asyncio.Semaphore | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._deadline: float | None = None  # clock() after which unstored batches are failed
        self.batches_written = 0  # written by the thread, read for tests and metrics
        self.retries = 0

    async def __aenter__(self) -> ClickHouseRowSink:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start(self) -> None:
        """Start the writer thread (call from the event loop that will submit)."""
        if self._thread is not None:
            raise RuntimeError("ClickHouseRowSink already started")
        self._slots = asyncio.Semaphore(self.settings.max_queued_batches)
        self._thread = threading.Thread(target=self._run, name="clickhouse-row-sink", daemon=True)
        self._thread.start()

    async def submit(self, batch: RowBatch) -> Awaitable[None]:
        """Queue a batch (waiting while the queue is full); return its completion."""
        if self._slots is None or self._stopping.is_set():
            raise SinkStoppedError("ClickHouseRowSink is not running")
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        done.add_done_callback(lambda _f: self._release_slot())
        self._queue.put(_Pending(batch, done, loop))
        return done

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Store what is queued for up to timeout_s, then fail what is left and end the thread."""
        if self._thread is None or self._stopping.is_set():
            return
        self._deadline = self._clock() + timeout_s
        self._stopping.set()
        # The thread fails what it could not store by the deadline, so this join ends soon
        # after it unless an insert is in flight (bounded by the client's own timeouts).
        await asyncio.to_thread(self._thread.join, timeout_s + self.settings.retry_max_s + 1.0)
        if self._thread.is_alive():
            log.warning("ClickHouse writer thread still busy after stop(%.1f s)", timeout_s)

    def _release_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        client: ClickHouseClient | None = None
        try:
            while not self._past_deadline() and (group := self._next_group()) is not None:
                client = self._store_group(client, group)
        finally:
            self._fail_remaining()
            if client is not None:
                _close_quietly(client)

    def _next_group(self) -> list[_Pending] | None:
        """Wait for a batch, then take every queued one up to max_insert_rows; None to stop."""
        while True:
            try:
                first = self._queue.get(timeout=self.settings.poll_s)
                break
            except queue.Empty:
                if self._stopping.is_set():
                    return None
        group, rows = [first], len(first.batch)
        while rows < self.settings.max_insert_rows:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            group.append(item)
            rows += len(item.batch)
        return group

    def _store_group(
        self, client: ClickHouseClient | None, group: list[_Pending]
    ) -> ClickHouseClient | None:
        merged = RowBatch.joined([item.batch for item in group])
        client, error = self._write_with_retry(client, batch_columns(merged))
        if error is not None and len(group) > 1:
            # Find the bad batch: store the others one by one, fail only the bad one.
            for item in group:
                client = self._store_group(client, [item])
            return client
        for item in group:
            _resolve(item, error)
        if error is None:
            self.batches_written += len(group)
        return client

    def _write_with_retry(
        self, client: ClickHouseClient | None, tables: list[TableColumns]
    ) -> tuple[ClickHouseClient | None, Exception | None]:
        """Insert every table, retrying transient failures; the error when it gave up."""
        delay = self.settings.retry_initial_s
        remaining = list(tables)
        while True:
            try:
                client = client or self._connect()
                while remaining:
                    self._insert(client, remaining[0])
                    remaining.pop(0)  # stored: a retry does not send it again
            except Exception as exc:  # classified below; the writer thread must not die
                if is_permanent(exc):
                    log.exception("ClickHouse refused rows, batch failed")
                    return client, exc
                if self._past_deadline():
                    return client, SinkStoppedError(f"stopped before storing rows: {exc}")
                log.warning("ClickHouse write failed, retrying in %.1f s: %s", delay, exc)
                self.retries += 1
                if client is not None:
                    _close_quietly(client)
                client = None
                self._sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
            else:
                return client, None

    def _insert(self, client: ClickHouseClient, table: TableColumns) -> None:
        for block in table.slices(self.settings.max_insert_rows):
            client.insert_columns(f"{self._database}.{table.table}", table.columns, block)

    def _sleep(self, seconds: float) -> None:
        if self._deadline is None:
            self._stopping.wait(seconds)  # stop() wakes it to recompute against the deadline
            if self._deadline is None:
                return
        self._stopping.wait(max(0.0, min(seconds, self._deadline - self._clock())))

    def _past_deadline(self) -> bool:
        return self._deadline is not None and self._clock() >= self._deadline

    def _fail_remaining(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            _resolve(item, SinkStoppedError("ClickHouseRowSink stopped before storing the batch"))


def _resolve(item: _Pending, error: Exception | None) -> None:
    """Complete item's future on its event loop (from the writer thread)."""

    def complete() -> None:
        if item.done.done():
            return
        if error is None:
            item.done.set_result(None)
        else:
            item.done.set_exception(
                error if isinstance(error, RowSinkError) else RowSinkError(str(error))
            )

    try:
        item.loop.call_soon_threadsafe(complete)
    except RuntimeError:
        log.warning("event loop closed before a batch completion could be delivered")


def _close_quietly(client: ClickHouseClient) -> None:
    try:
        client.close()
    except Exception as exc:  # noqa: BLE001 - closing a broken connection may fail any way
        log.debug("closing ClickHouse client failed: %s", exc)
