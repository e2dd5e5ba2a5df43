"""Entry of the proxy scenario: a unique topic for meshproxy's events, then `bench.proxy`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bench.procs import BenchError
from bench.proxy import FULL, QUICK, run_proxy
from bench.report import ScenarioResult
from bench.topics import bench_topics
from bench.topology import Layout
from meshpipe.deploy.dev.compiled import compiled_venv
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.schemas.topics import REQUESTS

if TYPE_CHECKING:
    from bench.run import RunContext


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
        run_proxy(QUICK if ctx.quick else FULL, layout, result)
