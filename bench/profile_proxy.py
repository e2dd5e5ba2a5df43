"""`python -m bench.profile_proxy`: cProfile (or `--memory`: tracemalloc) of one meshproxy inbound
hop under closed-loop load.

meshproxy runs under cProfile in its own process, on uvloop as installed (or `--loop asyncio`),
pinned to CPU 1, behind wrk, h2load or fortio (gRPC); on SIGTERM the profile is written and its
top entries printed. cProfile sees meshproxy's Python code; the loop's own C work (uvloop) shows
only as the time between Python calls, so compare with the CPU per request of the bench, not the
profile's sum. `--memory` runs it as `bench.traced_proxy` instead: the largest live Python
allocations at SIGTERM by source line, next to the process's RSS (the rest of RSS is the
interpreter, shared libraries and allocator slack, which tracemalloc does not see).
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
from bench.peers import MeshproxyArgs, OriginPorts, meshproxy_argv
from bench.procs import Service, Services, free_port
from bench.topics import bench_topics
from bench.topology import Layout, start_origin
from meshpipe.schemas.topics import REQUESTS

_PROFILED = (
    "import cProfile, sys; {hide_uvloop}sys.argv[0] = 'meshproxy';"
    " from meshpipe.cli.meshproxy import main; cProfile.run('main()', {out!r})"
)


def _profiled_program(out: Path, loop: str, memory: bool = False) -> list[str]:
    if memory:  # uvloop as installed
        return [sys.executable, "-m", "bench.traced_proxy", str(out)]
    hide = "sys.modules['uvloop'] = None; " if loop == "asyncio" else ""
    return [sys.executable, "-c", _PROFILED.format(hide_uvloop=hide, out=str(out))]


def _origin_port(origin: OriginPorts, protocol: str) -> int:
    if protocol == "grpc":
        if origin.grpc is None:
            raise SystemExit("gRPC needs fortio: run `make tools`")
        return origin.grpc
    return origin.http1 if protocol == "http1" else origin.h2c


def profile(
    kafka: str,
    protocol: str,
    seconds: float,
    out: Path,
    loop: str = "uvloop",
    memory: bool = False,
) -> None:
    """Profile one inbound hop serving `seconds` of closed-loop load into out."""
    with bench_topics(kafka, "prof") as topics, tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp), kafka, topics.name(REQUESTS))
        with Services() as services:
            origin = start_origin(layout, services)
            port = free_port()
            app = _origin_port(origin, protocol)
            args = MeshproxyArgs("bench/deployment/server", free_port(), kafka, layout.topic)
            argv = meshproxy_argv(replace(args, inbound=(port, app), loop="asyncio"))
            argv[:3] = _profiled_program(out, loop, memory)
            proxy = Service("profiled", argv, layout.workdir / "profiled.log", cpus="1")
            proxy.stop_timeout_s = 30.0  # writing the profile takes a moment
            services.start(proxy, port)
            report = layout.workdir / "fortio.json"  # gRPC load only
            spec = LoadSpec(seconds, 16, cpus="0")
            result = closed_loop(Target(port, protocol), spec, report)
            print(f"{result.succeeded} requests, {result.rps:.0f} rps, {result.failed} failed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_proxy", description=__doc__)
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--protocol", choices=("http1", "h2c", "grpc"), default="http1")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--out", type=Path, default=Path("meshproxy.prof"))
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--memory", action="store_true", help="tracemalloc's largest live allocations instead"
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    profile(args.kafka, args.protocol, args.seconds, out, args.loop, args.memory)
    if args.memory:
        print(out.read_text())
        return 0
    stats = pstats.Stats(str(out))
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
