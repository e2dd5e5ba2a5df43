"""SharedReads: identical statements at about the same time run once; failures are not kept."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from meshpipe.dashboard.sharedreads import SharedReads
from meshpipe.sinks.client import ClickHouseError, Row


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class CountingClient:
    """Answers each statement with how many times it was run; may hold or fail."""

    def __init__(self, release: threading.Event | None = None) -> None:
        self.runs: dict[str, int] = {}
        self.fail = False
        self.started = threading.Event()
        self._release = release

    def execute(self, sql: str) -> list[Row]:
        self.runs[sql] = self.runs.get(sql, 0) + 1
        self.started.set()
        if self._release is not None:
            self._release.wait(10)
        if self.fail:
            raise ClickHouseError("boom")
        return [(sql, self.runs[sql])]

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        return 0

    def server_version(self) -> tuple[int, int]:
        return (18, 16)

    def close(self) -> None:
        pass


def test_a_statement_asked_while_the_same_one_runs_gets_its_answer() -> None:
    release = threading.Event()
    client = CountingClient(release)
    shared = SharedReads(FakeClock())
    answers: list[list[Row]] = []
    first = threading.Thread(target=lambda: answers.append(shared.execute(client, "SELECT 1")))
    first.start()
    assert client.started.wait(10)
    second = threading.Thread(target=lambda: answers.append(shared.execute(client, "SELECT 1")))
    second.start()
    release.set()
    first.join(10)
    second.join(10)
    assert answers == [[("SELECT 1", 1)], [("SELECT 1", 1)]]
    assert client.runs == {"SELECT 1": 1}


def test_an_answer_is_shared_while_fresh_then_asked_again() -> None:
    clock, client = FakeClock(), CountingClient()
    shared = SharedReads(clock, fresh_s=2.0)
    reader = shared.client(client)
    assert reader.execute("SELECT 1") == [("SELECT 1", 1)]
    clock.sleep(1.5)
    assert reader.execute("SELECT 1") == [("SELECT 1", 1)]
    assert reader.execute("SELECT 2") == [("SELECT 2", 1)]
    clock.sleep(1.0)
    assert reader.execute("SELECT 1") == [("SELECT 1", 2)]


def test_a_failure_is_not_kept() -> None:
    client = CountingClient()
    shared = SharedReads(FakeClock())
    client.fail = True
    with pytest.raises(ClickHouseError):
        shared.execute(client, "SELECT 1")
    client.fail = False
    assert shared.execute(client, "SELECT 1") == [("SELECT 1", 2)]
