"""Synthetic stored history for the query scenario: edge windows, request and loss rows.

One day of rows is built in Python through `schemas.rows` and `sinks.tables` and inserted;
the other days are copies made by the server (INSERT ... SELECT with times shifted by whole
days), so tens of millions of rows cost seconds instead of an hour of Python.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from meshpipe.schemas.latency import bucket_index
from meshpipe.schemas.rows import DIRECTION_BITS, EdgeWindowRow, LossRow, RequestRow
from meshpipe.sinks.client import ClickHouseClient
from meshpipe.sinks.tables import (
    EDGE_WINDOW_COLUMNS,
    EDGE_WINDOWS,
    LOSS_COLUMNS,
    PROXY_LOSSES,
    REQUEST_COLUMNS,
    REQUESTS,
    edge_window_values,
    loss_values,
    request_values,
)

NAMESPACE = "benchq"
DAY_S = 86_400
EDGES = (
    ("vote-bot", "web"),
    ("web", "emoji"),
    ("web", "voting"),
    ("web", "api"),
    ("api", "db"),
    ("voting", "db"),
)


@dataclass(frozen=True)
class HistorySpec:
    """How much history to store, ending at end_s."""

    days: int
    requests: int  # request rows over all days
    end_s: int  # Unix seconds, the end of the newest day (a multiple of window_s)
    window_s: int = 10
    insert_block: int = 50_000  # rows per INSERT


def _histogram(
    rng: random.Random, median_us: int, n: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    counts: dict[int, int] = {}
    for _ in range(min(n, 20)):
        b = bucket_index(max(1, int(rng.lognormvariate(0, 0.7) * median_us)))
        counts[b] = counts.get(b, 0) + max(1, n // 20)
    keys = tuple(sorted(counts))
    return keys, tuple(counts[k] for k in keys)


def _edge_window_rows(spec: HistorySpec, rng: random.Random) -> Iterator[EdgeWindowRow]:
    """One day (the newest) of windows for every edge, both directions."""
    first = spec.end_s - DAY_S
    for w in range(DAY_S // spec.window_s):
        start = first + w * spec.window_s
        for e, (src, dst) in enumerate(EDGES):
            for direction in ("in", "out"):
                n = rng.randrange(5, 50)
                buckets, counts = _histogram(rng, 1_000 * (e + 1), n)
                failures = rng.randrange(0, 2)
                yield EdgeWindowRow(
                    start, spec.window_s, direction,
                    f"{NAMESPACE}/deployment/{src}", NAMESPACE, "deployment", src, True,
                    f"{NAMESPACE}/deployment/{dst}", NAMESPACE, "deployment", dst, True,
                    e, w, w, n, n - failures, failures, 0, failures, 0, n * 200, n * 2_000,
                    sum(counts) * 1_000, sum(counts) * 1_200, buckets, counts, buckets, counts,
                )  # fmt: skip


def _request_rows(spec: HistorySpec, rng: random.Random) -> Iterator[RequestRow]:
    """The newest day's share of the request rows, spread evenly over the day."""
    per_day = spec.requests // spec.days
    first_us = (spec.end_s - DAY_S) * 1_000_000
    for i in range(per_day):
        src, dst = EDGES[i % len(EDGES)]
        direction = "in" if i % 2 else "out"
        reporter = dst if direction == "in" else src
        latency = max(1, int(rng.lognormvariate(7, 0.7)))
        yield RequestRow(
            i % len(EDGES), i, f"{i:032x}", f"{reporter}-{direction}-0", i + 1, direction,
            NAMESPACE, "deployment", src, f"{src}-0", "10.0.0.1", 0, True, "",
            NAMESPACE, "deployment", dst, f"{dst}-0", "10.0.0.2", 8080, True, "",
            "http1", "GET", "http", f"{dst}:8080", "/api", 200, -1, -1, "", "",
            first_us + i * DAY_S * 1_000_000 // max(1, per_day), latency, latency + 100,
            100, 1_000, False, "", "success", "", (), (),
        )  # fmt: skip


SEQ_BASE = 10_000_000_000  # newest day's first proxy_seq; copies subtract DAY_SEQS per day
DAY_SEQS = 100_000_000


def _loss_rows(spec: HistorySpec, rng: random.Random) -> Iterator[LossRow]:
    """Per window, one row for each proxy behind the edges (a few events lost now and then)."""
    proxies = sorted({(dst, "in") for _, dst in EDGES} | {(src, "out") for src, _ in EDGES})
    first = spec.end_s - DAY_S
    seqs = dict.fromkeys(proxies, SEQ_BASE)
    for w in range(DAY_S // spec.window_s):
        for p, (name, direction) in enumerate(proxies):
            n = rng.randrange(5, 50)
            lost = 1 if rng.random() < 0.01 else 0
            low = seqs[(name, direction)]
            seqs[(name, direction)] = low + n + lost
            yield LossRow(
                f"{name}-{direction}-0", first + w * spec.window_s, spec.window_s, p, w, w,
                n, 0, low, low + n + lost - 1,
                NAMESPACE, "deployment", name, f"{name}-0", DIRECTION_BITS[direction],
            )  # fmt: skip


def _insert(
    client: ClickHouseClient,
    table: str,
    columns: tuple[str, ...],
    rows: Iterator[tuple[object, ...]],
    block: int,
) -> int:
    total, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= block:
            total += client.insert(table, columns, batch)
            batch = []
    if batch:
        total += client.insert(table, columns, batch)
    return total


def _shifted(columns: tuple[str, ...], days: int, time_column: str) -> str:
    """SELECT list copying a row `days` days earlier (offsets moved so keys stay distinct)."""
    shift = days * DAY_S
    exprs = []
    for c in columns:
        if c == time_column:
            exprs.append(f"toDateTime(toUInt32({c}) - {shift})")
        elif c == "start_us":
            exprs.append(f"start_us - {shift * 1_000_000}")
        elif c in ("offset", "first_offset", "version"):
            exprs.append(f"{c} + {days * 100_000_000}")
        elif c in ("seq_min", "seq_max"):
            exprs.append(f"{c} - {days * DAY_SEQS}")
        else:
            exprs.append(c)
    return ", ".join(exprs)


def store_history(client: ClickHouseClient, database: str, spec: HistorySpec) -> dict[str, int]:
    """Insert the history; return the row counts per table."""
    rng = random.Random(8)
    tables = (
        (EDGE_WINDOWS, EDGE_WINDOW_COLUMNS, "window_start",
         (edge_window_values(r) for r in _edge_window_rows(spec, rng))),
        (REQUESTS, REQUEST_COLUMNS, "start_time",
         (request_values(r) for r in _request_rows(spec, rng))),
        (PROXY_LOSSES, LOSS_COLUMNS, "window_start",
         (loss_values(r) for r in _loss_rows(spec, rng))),
    )  # fmt: skip
    counts = {}
    for table, columns, time_column, rows in tables:
        name = f"{database}.{table}"
        base = _insert(client, name, columns, rows, spec.insert_block)
        first_day_start = spec.end_s - DAY_S
        for day in range(1, spec.days):
            client.execute(
                f"INSERT INTO {name} ({', '.join(columns)})"
                f" SELECT {_shifted(columns, day, time_column)} FROM {name}"
                f" WHERE {time_column} >= toDateTime({first_day_start})"
            )
        counts[table] = base * spec.days
    return counts
