"""Identical read statements asked at about the same time run once: a page's reads run in
parallel threads and each checks the same days' rollups (sinks.rollup) and often the same sums,
so one page would otherwise scan a month of raw rows several times for one answer.

A statement's answer is shared with every identical statement asked while it runs and for
`fresh_s` after it finished; failures are not kept (the next ask runs again).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from typing import Any

from meshpipe.schemas.clock import Clock
from meshpipe.sinks.client import ClickHouseClient, Row

FRESH_S = 2.0  # well under the pages' 5 s refresh: a refresh never shows an older answer


class SharedReads:
    """Answers of recent statements, shared between threads."""

    def __init__(self, clock: Clock, fresh_s: float = FRESH_S) -> None:
        self._clock = clock
        self._fresh_s = fresh_s
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[float | None, Future[list[Row]]]] = {}  # sql → done at

    def execute(self, client: ClickHouseClient, sql: str) -> list[Row]:
        """sql's rows: a running or fresh identical statement's, else client's."""
        with self._lock:
            now = self._clock.monotonic()
            self._answers = {
                k: (done, f)
                for k, (done, f) in self._answers.items()
                if done is None or now - done < self._fresh_s
            }
            found = self._answers.get(sql)
            if found is not None:
                shared = found[1]
            else:
                mine: Future[list[Row]] = Future()
                self._answers[sql] = (None, mine)
        if found is not None:
            return shared.result()
        try:
            rows = client.execute(sql)
        except BaseException as exc:
            with self._lock:
                self._answers.pop(sql, None)
            mine.set_exception(exc)
            raise
        with self._lock:
            self._answers[sql] = (self._clock.monotonic(), mine)
        mine.set_result(rows)
        return rows

    def client(self, client: ClickHouseClient) -> ClickHouseClient:
        """client with its reads shared through this."""
        return _SharingClient(client, self)


class _SharingClient:
    """A ClickHouseClient whose execute goes through SharedReads; the rest is the client's."""

    def __init__(self, client: ClickHouseClient, shared: SharedReads) -> None:
        self._client = client
        self._shared = shared

    def execute(self, sql: str) -> list[Row]:
        return self._shared.execute(self._client, sql)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        return self._client.insert(table, columns, rows)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        return self._client.insert_columns(table, columns, data)

    def server_version(self) -> tuple[int, int]:
        return self._client.server_version()

    def close(self) -> None:
        self._client.close()
