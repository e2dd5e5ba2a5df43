"""The dashboard scenario: API latency of every page over a large mesh (200 workloads, 1,000
edges) for the last 24 h and the whole stored range (30 days), next to the query-layer call each
page is built on; and the map's render time in headless chromium."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.dashdata import MeshSpec, store_mesh
from bench.database import bench_database, server_url
from bench.machine import load_average
from bench.querydata import DAY_S
from bench.report import Figure, ScenarioResult, compared, median, percentile
from meshpipe.dashboard.api import Api
from meshpipe.dashboard.backend import ClickHouseBackend
from meshpipe.schemas.clock import SystemClock
from meshpipe.sinks.client import parse_url
from meshpipe.sinks.edges import EdgeQuery
from meshpipe.sinks.query import Selection, StatQuery
from meshpipe.sinks.rollup import roll_closed_days

if TYPE_CHECKING:
    from bench.run import RunContext

SCENARIO = "dashboard"
AIM_MS = 1000.0  # a page's API answer within a second keeps the 5 s live refresh comfortable
MESHCTL = str(Path(sys.executable).parent / "meshctl")
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
NS, WORKLOAD = "ns00", "svc000"
_RENDER_MS = "const cy = document.getElementById('cy'); return cy && cy.dataset.renderMs"


@dataclass(frozen=True)
class DashboardSettings:
    days: int
    stride: int
    requests: int
    runs: int


QUICK = DashboardSettings(days=2, stride=360, requests=20_000, runs=3)
FULL = DashboardSettings(days=30, stride=30, requests=500_000, runs=9)

Call = Callable[[], Awaitable[object]]


async def _times(call: Call, runs: int) -> list[float]:
    await call()  # warm-up
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        await call()
        out.append((time.perf_counter() - began) * 1000)
    return out


def _pairs(
    url: str, span: dict[str, str], start: float, end: float
) -> dict[str, tuple[Call, str, Call]]:
    """Per page: (the API handler, what its peer is, the query-layer call it is built on).

    Every call gets a new backend: a backend shares the answers of identical statements for a
    moment (dashboard.sharedreads), so repeated calls would time the sharing, not the reads."""

    def backend() -> ClickHouseBackend:
        return ClickHouseBackend(parse_url(url))

    def api() -> Api:
        return Api(backend(), SystemClock(), "http://grafana", [])

    ns_all = Selection("namespace", (), None)
    ns_workloads = Selection("all", (), NS)
    workload = Selection("deployment", (WORKLOAD,), NS)
    return {
        "overview": (
            lambda: api().overview(span),
            "stat() of the namespaces alone",
            lambda: backend().stat([StatQuery(ns_all, start_s=start, end_s=end)]),
        ),
        f"namespace {NS} (20 sparkline points)": (
            lambda: api().namespace(span, NS),
            "stat() of its workloads alone",
            lambda: backend().stat([StatQuery(ns_workloads, start_s=start, end_s=end)]),
        ),
        f"workload {NS}/{WORKLOAD} (40 chart points, edges, routes)": (
            lambda: api().workload(span, NS, "deployment", WORKLOAD),
            "stat() of the workload alone",
            lambda: backend().stat([StatQuery(workload, start_s=start, end_s=end)]),
        ),
        "map, all namespaces (1,000 edges)": (
            lambda: api().service_map(span),
            "edges() alone",
            lambda: backend().edges(EdgeQuery(None, start_s=start, end_s=end)),
        ),
        f"map, namespace {NS}": (
            lambda: api().service_map({**span, "namespace": NS}),
            "edges() alone",
            lambda: backend().edges(EdgeQuery(NS, start_s=start, end_s=end)),
        ),
    }


async def _api_figures(
    url: str, end_s: int, settings: DashboardSettings, result: ScenarioResult
) -> None:
    for label, seconds in (("24h", DAY_S), (f"{settings.days}d", settings.days * DAY_S)):
        start, end = float(end_s - seconds), float(end_s)
        span = {"start": str(start), "end": str(end)}
        for page, (handler, peer, base) in _pairs(url, span, start, end).items():
            times = await _times(handler, settings.runs)
            peer_ms = median(await _times(base, settings.runs))
            for metric, value in (("median", median(times)), ("p99", percentile(times, 0.99))):
                figure = Figure(
                    SCENARIO, f"api_ms_{metric}", f"{page}, last {label}", value, "ms", aim=AIM_MS
                )
                result.add(compared(figure, f"{peer} (median)", peer_ms))


def _browser_figures(url: str, end_s: int, result: ScenarioResult, runs: int) -> None:
    """Open the map of the last 24 h for all namespaces and for one; chromium's render time."""
    if not (CHROMIUM.exists() and DRIVER.exists() and shutil.which(MESHCTL)):
        result.skip("map render", "needs /usr/bin/chromium and /usr/bin/chromedriver")
        return
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError as exc:
        result.skip("map render", f"selenium: {exc}")
        return
    server = subprocess.Popen(
        [MESHCTL, "dashboard", "--port", "0", "--clickhouse", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(arg)
    driver: Any = None
    try:
        assert server.stdout is not None
        base = server.stdout.readline().rsplit(" ", 1)[-1].strip().rstrip("/")
        driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
        start = end_s - DAY_S
        renders: dict[str, list[float]] = {}
        for label, extra in (
            ("all namespaces (1,000 edges)", ""),
            (f"namespace {NS}", f"&namespace={NS}"),
        ):
            for _ in range(runs):
                driver.get(f"{base}/map?start={start}&end={end_s}&at={end_s}&window=24h{extra}")
                WebDriverWait(driver, 120).until(lambda d: d.execute_script(_RENDER_MS))
                value = driver.execute_script(_RENDER_MS)
                renders.setdefault(label, []).append(float(value))
        one_ns = median(renders[f"namespace {NS}"])
        for label, values in renders.items():
            figure = Figure(
                SCENARIO,
                "map_render_ms_median",
                f"map render (cytoscape build + layout), {label}",
                median(values),
                "ms",
                note="headless chromium",
            )
            result.add(compared(figure, f"map render, namespace {NS}", one_ns))
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(10)


def dashboard(ctx: RunContext, result: ScenarioResult) -> None:
    """Store the mesh's history, roll closed days up (as the workers do), time every page's API
    answer against the query-layer call it is built on, then the map's render in chromium."""
    settings = QUICK if ctx.quick else FULL
    end_s = int(time.time()) // 10 * 10
    with bench_database(ctx.clickhouse, "dash") as (client, db):
        began = time.monotonic()
        spec = MeshSpec(settings.days, end_s, stride=settings.stride, requests=settings.requests)
        counts = store_mesh(client, db, spec)
        rolled = roll_closed_days(client, db, end_s, settings.days + 1)
        result.conditions.update(
            {
                "stored_rows": counts,
                "days": settings.days,
                "workloads": spec.workloads,
                "edges": spec.edges,
                "edge_window_stride": spec.stride,
                "rolled_days": len(rolled),
                "store_and_roll_s": round(time.monotonic() - began, 1),
                "runs": settings.runs,
                "load_average_before": load_average(),
            }
        )
        url = server_url(ctx.clickhouse, db)
        asyncio.run(_api_figures(url, end_s + 1, settings, result))
        _browser_figures(url, end_s + 1, result, max(2, settings.runs // 3))
    result.conditions["load_average_after"] = load_average()
