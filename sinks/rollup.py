"""Daily rollups of `edge_windows` and `proxy_losses`, and which of them are still exact.

A rollup row sums one UTC day of the deduplicated (`FINAL`) raw rows per edge (or per proxy).
It stays exact only while that day's raw rows do not change, and raw rows change after the fact
(late events, replays, the open window rewritten every second). Each raw row's `version` is the
highest Kafka offset folded into it, and offsets only grow within a Kafka partition, so any
change to a day's rows raises that day's `max(version)` in some Kafka partition (or adds a
partition). Hence:

- A computation reads the day's per-partition version maxima, writes the day's rollup rows
  under its own `rolled` id (one INSERT ... SELECT ... FINAL), reads the maxima again and only
  when they did not move records them in `rollup_sources` under the same id. Rows of a
  computation whose maxima moved are never recorded, so never read.
- A reader takes, per day, the newest recorded computation and uses its rows (`rolled = id`,
  no FINAL: one computation's rows are complete) only when its maxima equal the day's current
  ones; else it reads the raw rows. A write between that check and the read makes the day's
  figures a moment older; nothing is counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from meshpipe.sinks.client import ClickHouseClient, check_name
from meshpipe.sinks.tables import EDGE_WINDOWS, PROXY_LOSSES, utc_datetime

DAY_S = 86_400
EDGE_DAYS = "edge_days"
LOSS_DAYS = "loss_days"
SOURCES = "rollup_sources"

_PEER = ("namespace", "kind", "name", "meshed")
_EDGE_KEYS = (
    "direction",
    *(c for side in ("source", "destination") for c in (side, *(f"{side}_{f}" for f in _PEER))),
)
_EDGE_SUMS = (
    "requests", "successes", "failures", "status_4xx", "status_5xx", "grpc_failures",
    "request_bytes", "response_bytes", "latency_sum_us", "duration_sum_us",
)  # fmt: skip


@dataclass(frozen=True)
class Rollup:
    """How one raw table rolls up into its daily table."""

    raw: str
    daily: str
    keys: tuple[str, ...]  # grouped on
    aggregates: tuple[tuple[str, str], ...]  # (daily column, SQL over the raw rows)

    def select(self, db: str, day: int, rolled: int) -> str:
        """The INSERT ... SELECT that writes day's rollup rows under rolled."""
        columns = ("day", "rolled", *self.keys, *(name for name, _ in self.aggregates))
        exprs = ", ".join(f"{sql} AS r_{name}" for name, sql in self.aggregates)
        return (
            f"INSERT INTO {db}.{self.daily} ({', '.join(columns)})"  # noqa: S608
            f" SELECT toDateTime({day}), {rolled}, {', '.join(self.keys)}, {exprs}"
            f" FROM {db}.{self.raw} FINAL WHERE {time_range('window_start', day, day + DAY_S)}"
            f" GROUP BY {', '.join(self.keys)}"
        )


def _sum_map(keys: str, values: str) -> tuple[tuple[str, str], tuple[str, str]]:
    both = f"sumMap({keys}, {values})"
    return (keys, f"tupleElement({both}, 1)"), (values, f"tupleElement({both}, 2)")


EDGE_ROLLUP = Rollup(
    EDGE_WINDOWS,
    EDGE_DAYS,
    _EDGE_KEYS,
    (
        *((name, f"sum({name})") for name in _EDGE_SUMS),
        *_sum_map("latency_buckets", "latency_counts"),
        *_sum_map("duration_buckets", "duration_counts"),
    ),
)
LOSS_ROLLUP = Rollup(
    PROXY_LOSSES,
    LOSS_DAYS,
    ("proxy_id",),
    (
        *((name, f"max({name})") for name in ("proxy_namespace", "proxy_kind", "proxy_name")),
        ("proxy_pod", "max(proxy_pod)"),
        ("proxy_directions", "groupBitOr(proxy_directions)"),
        ("events", "sum(events)"),
        ("duplicates", "sum(duplicates)"),
        ("seq_min", "min(seq_min)"),
        ("seq_max", "max(seq_max)"),
    ),
)
ROLLUPS = (EDGE_ROLLUP, LOSS_ROLLUP)

Maxima = dict[int, int]  # Kafka partition -> max(version)


def time_range(column: str, low: int, high: int) -> str:
    """SQL: a DateTime column in [low, high) (Unix seconds)."""
    return f"{column} >= toDateTime({low}) AND {column} < toDateTime({high})"


def raw_maxima(
    client: ClickHouseClient, db: str, raw: str, days: Sequence[int]
) -> dict[int, Maxima]:
    """Per day (of days), the raw table's max(version) per Kafka partition (no FINAL needed:
    the maximum is the same before and after replacing)."""
    if not days:
        return {}
    rows = client.execute(
        f"SELECT intDiv(toUInt32(window_start), {DAY_S}) * {DAY_S} AS d,"  # noqa: S608
        f" partition, max(version) FROM {db}.{raw}"
        f" WHERE {time_range('window_start', min(days), max(days) + DAY_S)}"
        " GROUP BY d, partition"
    )
    out: dict[int, Maxima] = {}
    for day, partition, version in rows:
        if int(day) in days:
            out.setdefault(int(day), {})[int(partition)] = int(version)
    return out


def recorded(
    client: ClickHouseClient, db: str, raw: str, days: Sequence[int]
) -> dict[int, tuple[int, Maxima]]:
    """Per day, the newest recorded computation: (rolled id, the maxima it was made from)."""
    if not days:
        return {}
    rows = client.execute(
        f"SELECT toUInt32(day), rolled, partition, version FROM {db}.{SOURCES}"  # noqa: S608
        f" WHERE source = '{raw}' AND day IN ({', '.join(f'toDateTime({d})' for d in days)})"
    )
    by_day: dict[int, dict[int, Maxima]] = {}
    for day, rolled, partition, version in rows:
        by_day.setdefault(int(day), {}).setdefault(int(rolled), {})[int(partition)] = int(version)
    return {day: max(runs.items()) for day, runs in by_day.items()}


def current_rollups(
    client: ClickHouseClient, db: str, rollup: Rollup, days: Sequence[int]
) -> dict[int, int]:
    """The days whose newest rollup equals their raw rows now, with its rolled id."""
    check_name(db, "database")
    newest = recorded(client, db, rollup.raw, days)
    if not newest:
        return {}
    return _still_exact(newest, raw_maxima(client, db, rollup.raw, sorted(newest)))


def _still_exact(newest: dict[int, tuple[int, Maxima]], now: dict[int, Maxima]) -> dict[int, int]:
    """The days whose newest computation was made from the maxima the raw rows have now."""
    return {day: rolled for day, (rolled, made_of) in newest.items() if now.get(day) == made_of}


def roll_day(client: ClickHouseClient, db: str, rollup: Rollup, day: int, rolled: int) -> bool:
    """Compute day's rollup under rolled; True when it was recorded (the day held still)."""
    before = raw_maxima(client, db, rollup.raw, [day]).get(day)
    if not before:
        return False
    client.execute(rollup.select(db, day, rolled))
    if raw_maxima(client, db, rollup.raw, [day]).get(day) != before:
        return False
    client.insert(
        f"{db}.{SOURCES}",
        ["source", "day", "rolled", "partition", "version"],
        [(rollup.raw, utc_datetime(day), rolled, p, v) for p, v in sorted(before.items())],
    )
    return True


def roll_closed_days(
    client: ClickHouseClient,
    db: str,
    now_s: float,
    days_back: int,
    rolled_id: Callable[[], int] = time.time_ns,
) -> list[tuple[str, int]]:
    """Roll every day before today (UTC), back to days_back, whose rollup is missing or stale;
    return the (raw table, day) pairs recorded."""
    check_name(db, "database")
    today = int(now_s) // DAY_S * DAY_S
    days = [today - n * DAY_S for n in range(1, days_back + 1)]
    done: list[tuple[str, int]] = []
    for rollup in ROLLUPS:
        present = raw_maxima(client, db, rollup.raw, days)
        stale = set(present) - set(_still_exact(recorded(client, db, rollup.raw, days), present))
        done += [
            (rollup.raw, d) for d in sorted(stale) if roll_day(client, db, rollup, d, rolled_id())
        ]
    return done


def whole_days(pieces: Iterable[tuple[int, int]]) -> list[int]:
    """The pieces that are whole UTC days, by their start."""
    return [a for a, b in pieces if a % DAY_S == 0 and b == a + DAY_S]
