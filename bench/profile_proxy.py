"""`python -m bench.profile_proxy`: cProfile of one meshproxy inbound hop under closed-loop load.

meshproxy runs under cProfile in its own process, on uvloop as installed (or `--loop asyncio`),
pinned to CPU 1, behind wrk or h2load; on SIGTERM the profile is written and its top entries
printed. cProfile sees meshproxy's Python code; the loop's own C work (uvloop) shows only as the
time between Python calls, so compare with the CPU per request of the bench, not the profile's sum.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.loadgen import LoadSpec, Target, closed_loop
from bench.peers import MeshproxyArgs, meshproxy_argv
from bench.procs import Service, Services, free_port
from bench.topics import bench_topics
from bench.topology import Layout, start_origin
from deploy.kafka.topics import REQUESTS

_PROFILED = (
    "import cProfile, sys; {hide_uvloop}sys.argv[0] = 'meshproxy';"
    " from proxy.main import main; cProfile.run('main()', {out!r})"
)


def _profiled_program(out: Path, loop: str) -> list[str]:
    hide = "sys.modules['uvloop'] = None; " if loop == "asyncio" else ""
    return [sys.executable, "-c", _PROFILED.format(hide_uvloop=hide, out=str(out))]


def profile(
    kafka: str, protocol: str, seconds: float, out: Path, loop: str = "uvloop"
) -> pstats.Stats:
    """Profile one inbound hop serving `seconds` of closed-loop load; return the stats."""
    with bench_topics(kafka, "prof") as topics, tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp), kafka, topics.name(REQUESTS))
        with Services() as services:
            origin = start_origin(layout, services)
            port = free_port()
            app = origin.http1 if protocol == "http1" else origin.h2c
            args = MeshproxyArgs("bench/deployment/server", free_port(), kafka, layout.topic)
            argv = meshproxy_argv(replace(args, inbound=(port, app), loop="asyncio"))
            argv[:3] = _profiled_program(out, loop)
            proxy = Service("profiled", argv, layout.workdir / "profiled.log", cpus="1")
            proxy.stop_timeout_s = 30.0  # writing the profile takes a moment
            services.start(proxy, port)
            result = closed_loop(Target(port, protocol), LoadSpec(seconds, 16, cpus="0"))
            print(f"{result.succeeded} requests, {result.rps:.0f} rps, {result.failed} failed")
    return pstats.Stats(str(out))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_proxy", description=__doc__)
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--protocol", choices=("http1", "h2c"), default="http1")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--out", type=Path, default=Path("meshproxy.prof"))
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    stats = profile(args.kafka, args.protocol, args.seconds, args.out.resolve(), args.loop)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
