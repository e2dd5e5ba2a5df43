"""Unit tests for sinks.rollup: a computation is recorded only if the day held still."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from meshpipe.sinks.rollup import DAY_S, EDGE_ROLLUP, SOURCES, roll_day, whole_days

DAY = 19_000 * DAY_S


class MovingDay:
    """Answers the maxima query with each of `maxima` in turn; remembers statements and inserts."""

    def __init__(self, maxima: list[list[tuple[int, int, int]]]) -> None:
        self.maxima = maxima
        self.statements: list[str] = []
        self.inserts: list[tuple[str, list[Sequence[Any]]]] = []

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        self.statements.append(sql)
        if "max(version)" in sql:
            return list(self.maxima.pop(0))
        return []

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        self.inserts.append((table, list(rows)))
        return len(self.inserts[-1][1])

    def server_version(self) -> tuple[int, int]:
        return (18, 16)

    def close(self) -> None:
        pass


def test_a_day_that_held_still_is_recorded_with_its_maxima() -> None:
    client = MovingDay([[(DAY, 0, 10), (DAY, 1, 7)], [(DAY, 0, 10), (DAY, 1, 7)]])
    assert roll_day(client, "db", EDGE_ROLLUP, DAY, rolled=42)
    assert any(s.startswith("INSERT INTO db.edge_days") for s in client.statements)
    [(table, rows)] = client.inserts
    assert table == f"db.{SOURCES}"
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
        ("edge_windows", 42, 0, 10),
        ("edge_windows", 42, 1, 7),
    ]


def test_a_day_that_moved_during_the_computation_is_not_recorded() -> None:
    client = MovingDay([[(DAY, 0, 10)], [(DAY, 0, 11)]])
    assert not roll_day(client, "db", EDGE_ROLLUP, DAY, rolled=42)
    assert client.inserts == []


def test_a_day_without_rows_is_not_computed() -> None:
    client = MovingDay([[]])
    assert not roll_day(client, "db", EDGE_ROLLUP, DAY, rolled=42)
    assert not any(s.startswith("INSERT") for s in client.statements)


def test_only_whole_utc_days_can_come_from_a_rollup() -> None:
    pieces = [
        (DAY + 60, DAY + DAY_S),
        (DAY + DAY_S, DAY + 2 * DAY_S),
        (DAY + 2 * DAY_S, DAY + 2 * DAY_S + 5),
    ]
    assert whole_days(pieces) == [DAY + DAY_S]
