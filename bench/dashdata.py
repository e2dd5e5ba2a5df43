"""Synthetic stored history for the dashboard scenario: a mesh of many workloads and edges
(200 workloads in 10 namespaces, 1,000 edges by default), as edge windows, loss rows and a day
of request rows.

The newest day is built in Python (`schemas.rows`, `sinks.tables`) and inserted; older days are
server-side copies shifted by whole days (`bench.querydata`), as the query scenario does. Each
edge has a window every `stride` windows (a busy mesh has one every window: the stride keeps 30
days within this machine's disk and time; a window's counts do not change the read cost).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from bench.querydata import DAY_S, DAY_SEQS, SEQ_BASE, _histogram, _insert, _shifted
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

KIND = "deployment"
PARTITIONS = 24


@dataclass(frozen=True)
class MeshSpec:
    """The mesh and how much history to store, ending at end_s."""

    days: int
    end_s: int  # Unix seconds, a multiple of window_s
    workloads: int = 200
    namespaces: int = 10
    edges: int = 1_000
    stride: int = 30  # an edge has a window every `stride` windows
    requests: int = 200_000  # request rows, all on the newest day
    window_s: int = 10
    insert_block: int = 50_000
    seed: int = 3

    def namespace(self, workload: int) -> str:
        return f"ns{workload % self.namespaces:02d}"

    def name(self, workload: int) -> str:
        return f"svc{workload:03d}"


def topology(spec: MeshSpec) -> list[tuple[int, int]]:
    """spec.edges distinct (source, destination) workload pairs, most inside one namespace."""
    rng = random.Random(spec.seed)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < spec.edges:
        src = rng.randrange(spec.workloads)
        if rng.random() < 0.8:  # same namespace: workloads src ± k * namespaces
            step = spec.namespaces * rng.randrange(1, spec.workloads // spec.namespaces)
            dst = (src + step) % spec.workloads
        else:
            dst = rng.randrange(spec.workloads)
        if dst != src:
            pairs.add((src, dst))
    return sorted(pairs)


def _peer(spec: MeshSpec, w: int) -> tuple[str, str, str, str, bool]:
    ns, name = spec.namespace(w), spec.name(w)
    return f"{ns}/{KIND}/{name}", ns, KIND, name, True


def _edge_windows(spec: MeshSpec, edges: list[tuple[int, int]]) -> Iterator[EdgeWindowRow]:
    rng = random.Random(spec.seed + 1)
    first = spec.end_s - DAY_S
    windows = DAY_S // spec.window_s
    for e, (src, dst) in enumerate(edges):
        for w in range(e % spec.stride, windows, spec.stride):
            for direction in ("in", "out"):
                n = rng.randrange(5, 50)
                buckets, counts = _histogram(rng, 500 + 50 * (e % 40), n)
                failures = 1 if rng.random() < 0.1 else 0
                yield EdgeWindowRow(
                    first + w * spec.window_s, spec.window_s, direction,
                    *_peer(spec, src), *_peer(spec, dst),
                    e % PARTITIONS, w, w, n, n - failures, failures, 0, failures, 0,
                    n * 200, n * 2_000, sum(counts) * 1_000, sum(counts) * 1_200,
                    buckets, counts, buckets, counts,
                )  # fmt: skip


def _losses(spec: MeshSpec, edges: list[tuple[int, int]]) -> Iterator[LossRow]:
    """A row per proxy (each workload's inbound and outbound side) every `stride` windows."""
    rng = random.Random(spec.seed + 2)
    proxies = sorted({(d, "in") for _, d in edges} | {(s, "out") for s, _ in edges})
    first = spec.end_s - DAY_S
    seqs = dict.fromkeys(proxies, SEQ_BASE)
    for w in range(0, DAY_S // spec.window_s, spec.stride):
        for p, (workload, direction) in enumerate(proxies):
            n = rng.randrange(5, 50)
            lost = 1 if rng.random() < 0.01 else 0
            low = seqs[(workload, direction)]
            seqs[(workload, direction)] = low + n + lost
            name = spec.name(workload)
            yield LossRow(
                f"{name}-{direction}-0", first + w * spec.window_s, spec.window_s,
                p % PARTITIONS, w, w, n, 0, low, low + n + lost - 1,
                spec.namespace(workload), KIND, name, f"{name}-0", DIRECTION_BITS[direction],
            )  # fmt: skip


def _requests(spec: MeshSpec, edges: list[tuple[int, int]]) -> Iterator[RequestRow]:
    rng = random.Random(spec.seed + 3)
    first_us = (spec.end_s - DAY_S) * 1_000_000
    for i in range(spec.requests):
        src, dst = edges[i % len(edges)]
        direction = "in" if i % 2 else "out"
        reporter = spec.name(dst if direction == "in" else src)
        latency = max(1, int(rng.lognormvariate(7, 0.7)))
        s_ns, d_ns = spec.namespace(src), spec.namespace(dst)
        yield RequestRow(
            i % PARTITIONS, i, f"{i:032x}", f"{reporter}-{direction}-0", i + 1, direction,
            s_ns, KIND, spec.name(src), f"{spec.name(src)}-0", "10.0.0.1", 0, True, "",
            d_ns, KIND, spec.name(dst), f"{spec.name(dst)}-0", "10.0.0.2", 8080, True, "",
            "http1", "GET", "http", f"{spec.name(dst)}:8080", f"/api/items/{i % 97}", 200,
            -1, -1, "", "", first_us + i * DAY_S * 1_000_000 // max(1, spec.requests),
            latency, latency + 100, 100, 1_000, False, "", "success", "", (), (),
        )  # fmt: skip


def store_mesh(client: ClickHouseClient, database: str, spec: MeshSpec) -> dict[str, int]:
    """Insert the history; the row counts per table."""
    edges = topology(spec)
    tables = (
        (EDGE_WINDOWS, EDGE_WINDOW_COLUMNS, "window_start",
         (edge_window_values(r) for r in _edge_windows(spec, edges)), spec.days),
        (PROXY_LOSSES, LOSS_COLUMNS, "window_start",
         (loss_values(r) for r in _losses(spec, edges)), spec.days),
        (REQUESTS, REQUEST_COLUMNS, "start_time",
         (request_values(r) for r in _requests(spec, edges)), 1),
    )  # fmt: skip
    counts = {}
    first_day_start = spec.end_s - DAY_S
    for table, columns, time_column, rows, days in tables:
        name = f"{database}.{table}"
        base = _insert(client, name, columns, rows, spec.insert_block)
        for day in range(1, days):
            client.execute(
                f"INSERT INTO {name} ({', '.join(columns)})"
                f" SELECT {_shifted(columns, day, time_column)} FROM {name}"
                f" WHERE {time_column} >= toDateTime({first_day_start})"
            )
        counts[table] = base * days
    return counts


__all__ = ["DAY_SEQS", "MeshSpec", "store_mesh", "topology"]
