"""Entry of the proxy scenario: a unique topic for meshproxy's events, then `bench.proxy`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.proxy import FULL, QUICK, run_proxy
from bench.report import ScenarioResult
from bench.topics import bench_topics
from bench.topology import Layout
from meshpipe.schemas.topics import REQUESTS

if TYPE_CHECKING:
    from bench.run import RunContext


def proxy(ctx: RunContext, result: ScenarioResult) -> None:
    """Measure the proxy scenario (quick or full) into result."""
    with bench_topics(ctx.kafka, "proxy") as topics:
        layout = Layout(ctx.workdir, ctx.kafka, topics.name(REQUESTS), proxy_loop=ctx.proxy_loop)
        result.conditions["meshproxy_loop"] = ctx.proxy_loop
        run_proxy(QUICK if ctx.quick else FULL, layout, result)
