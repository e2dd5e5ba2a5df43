"""Entry of the proxy scenario: a unique topic for meshproxy's events, then `bench.proxy`."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bench.procs import BenchError
from bench.proxy import FULL, QUICK, ProxySettings, run_proxy
from bench.report import ScenarioResult
from bench.topics import bench_topics
from bench.topology import Layout
from meshpipe.deploy.dev.compiled import compiled_venv
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.schemas.topics import REQUESTS

if TYPE_CHECKING:
    from bench.run import RunContext


def _narrowed(settings: ProxySettings) -> ProxySettings:
    """settings limited by MESHPIPE_BENCH_PROXY_SUBJECTS / _PROTOCOLS / _RATES (comma lists),
    when set: a side-by-side run of a few subjects (say direct, haproxy, meshproxy-inbound and
    one under study) at one rate in minutes instead of the whole table."""
    subjects = os.environ.get("MESHPIPE_BENCH_PROXY_SUBJECTS")
    protocols = os.environ.get("MESHPIPE_BENCH_PROXY_PROTOCOLS")
    rates = os.environ.get("MESHPIPE_BENCH_PROXY_RATES")
    if subjects:
        settings = replace(settings, subjects=tuple(subjects.split(",")))
    if protocols:
        settings = replace(settings, protocols=tuple(protocols.split(",")))
    if rates:
        settings = replace(settings, rates=tuple(int(r) for r in rates.split(",")))
    return settings


def _compiled_meshproxy() -> Path:
    """The compiled build's meshproxy (made once per source state, see deploy/dev/compiled.py)."""
    try:
        return compiled_venv("proxy", log=lambda line: print(line, flush=True)) / "meshproxy"
    except DevStackError as exc:
        raise BenchError(f"the compiled build: {exc}") from exc


def proxy(ctx: RunContext, result: ScenarioResult) -> None:
    """Measure the proxy scenario (quick or full) into result."""
    with bench_topics(ctx.kafka, "proxy") as topics:
        layout = Layout(ctx.workdir, ctx.kafka, topics.name(REQUESTS), proxy_loop=ctx.proxy_loop)
        result.conditions["meshproxy_loop"] = ctx.proxy_loop
        if ctx.compiled:
            layout = replace(layout, compiled_meshproxy=str(_compiled_meshproxy()))
            result.conditions["meshproxy_compiled"] = layout.compiled_meshproxy
        settings = _narrowed(QUICK if ctx.quick else FULL)
        if settings.subjects is not None:
            result.conditions["subjects"] = ",".join(settings.subjects)
        result.conditions["rates"] = list(settings.rates)
        run_proxy(settings, layout, result)
