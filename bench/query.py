"""The query scenario: `sinks.query.stat` and `meshstat` latency over a stored history."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.database import bench_database, server_url
from bench.machine import load_average
from bench.querydata import DAY_S, NAMESPACE, HistorySpec, store_history
from bench.report import Figure, ScenarioResult, compared, median, percentile
from meshpipe.sinks.client import ClickHouseClient
from meshpipe.sinks.query import EdgeMode, Peer, Selection, StatQuery, stat
from meshpipe.sinks.rollup import roll_closed_days

if TYPE_CHECKING:
    from bench.run import RunContext

SCENARIO = "query"
AIM_MS = 200.0  # meshstat over 30 days (issue #8)
MESHSTAT = str(Path(sys.executable).parent / "meshstat")


@dataclass(frozen=True)
class QuerySettings:
    days: int
    requests: int
    runs: int  # repetitions of every query


QUICK = QuerySettings(days=3, requests=100_000, runs=5)
FULL = QuerySettings(days=30, requests=10_000_000, runs=15)


def _queries(end_s: float, days: int) -> dict[str, StatQuery]:
    deploys = Selection("deployment", (), NAMESPACE)
    web = Peer("deployment", "web", NAMESPACE)
    span = days * DAY_S
    return {
        "stat deploy, last 1h": StatQuery(deploys, start_s=end_s - 3600, end_s=end_s),
        "stat deploy, last 24h": StatQuery(deploys, start_s=end_s - DAY_S, end_s=end_s),
        f"stat deploy, last {days}d": StatQuery(deploys, start_s=end_s - span, end_s=end_s),
        f"stat deploy --from web, last {days}d": StatQuery(
            deploys, EdgeMode.FROM, web, end_s - span, end_s
        ),
        "stat po, last 1h": StatQuery(
            Selection("pod", (), NAMESPACE), start_s=end_s - 3600, end_s=end_s
        ),
    }


def _time_ms(client: ClickHouseClient, db: str, query: StatQuery, runs: int) -> list[float]:
    stat(client, db, query)  # warm-up: caches, first-query costs
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        rows = stat(client, db, query)
        out.append((time.perf_counter() - began) * 1000)
        if not rows:
            raise RuntimeError("stat() found no rows in the stored history")
    return out


def _meshstat_ms(url: str, days: int, runs: int) -> list[float]:
    argv = [MESHSTAT, "deploy", "-n", NAMESPACE, "--since", f"{days * 24}h", "--clickhouse", url]
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        out.append((time.perf_counter() - began) * 1000)
        if done.returncode != 0:
            raise RuntimeError(f"meshstat failed ({done.returncode}): {done.stderr[-300:]}")
    return out


def query(ctx: RunContext, result: ScenarioResult) -> None:
    """Store the history, time the long queries on raw rows, roll the closed days up (what the
    workers do every 10 minutes), then time every query (median and p99 over the runs)."""
    settings = QUICK if ctx.quick else FULL
    end_s = int(time.time()) // 10 * 10
    with bench_database(ctx.clickhouse, "query") as (client, db):
        began = time.monotonic()
        counts = store_history(client, db, HistorySpec(settings.days, settings.requests, end_s))
        result.conditions.update(
            {
                "stored_rows": counts,
                "days": settings.days,
                "store_s": round(time.monotonic() - began, 1),
                "runs": settings.runs,
                "load_average_before": load_average(),
            }
        )
        queries = _queries(end_s + 1, settings.days)
        # The same queries before the workers' daily rollups exist (raw rows, one FINAL a day).
        raw = {
            name: median(_time_ms(client, db, q, settings.runs))
            for name, q in queries.items()
            if q.end_s - q.start_s > DAY_S
        }
        began = time.monotonic()
        rolled = roll_closed_days(client, db, end_s, settings.days + 1)
        result.conditions["rollup_s"] = round(time.monotonic() - began, 1)
        result.conditions["rolled_days"] = len(rolled)
        in_process: dict[str, float] = {}
        for name, q in queries.items():
            times = _time_ms(client, db, q, settings.runs)
            in_process[name] = median(times)
            for metric, value in (("median", median(times)), ("p99", percentile(times, 0.99))):
                figure = Figure(
                    SCENARIO, f"stat_ms_{metric}", f"stat(): {name}", value, "ms", aim=AIM_MS
                )
                if metric == "median" and name in raw:
                    result.add(compared(figure, "same, raw rows only (no rollups)", raw[name]))
                else:
                    result.add(compared(figure, "aim (issue #8)", AIM_MS))
        try:
            cli_times = _meshstat_ms(
                server_url(ctx.clickhouse, db), settings.days, max(3, settings.runs // 3)
            )
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            result.skip("meshstat CLI", str(exc)[:300])
        else:
            peer = f"stat() in-process: stat deploy, last {settings.days}d"
            figure = Figure(
                SCENARIO,
                "meshstat_cli_ms_median",
                f"meshstat deploy --since {settings.days * 24}h",
                median(cli_times),
                "ms",
                aim=AIM_MS,
                note="whole process: start, query, render",
            )
            result.add(compared(figure, peer, in_process[f"stat deploy, last {settings.days}d"]))
    result.conditions["load_average_after"] = load_average()
