"""Starts one `meshstreams worker` on a benchmark's topics and database, pinned to one CPU."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

from bench.procs import BenchError, Service, free_port

MESHSTREAMS = str(Path(sys.executable).parent / "meshstreams")
WORKER_CPUS = "1"


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as rsp:
            return bool(json.loads(rsp.read()).get("ready"))
    except (OSError, ValueError):
        return False


def start_worker(
    kafka: str, clickhouse_url: str, prefix: str, workdir: Path, program: str = MESHSTREAMS
) -> tuple[Service, int]:
    """A started worker (2 s windows, own group) on the topics under prefix, and its web port;
    program is the meshstreams command (another venv's: the compiled build)."""
    port = free_port()
    group = f"bench-{prefix}" if program == MESHSTREAMS else f"bench-{prefix}compiled"
    argv = [
        program,
        "worker",
        f"--kafka={kafka}",
        f"--clickhouse={clickhouse_url}",
        f"--topic-prefix={prefix}",
        f"--group={group}",
        f"--web-port={port}",
        f"--data-dir={workdir / 'faust'}",
        "--window=2s",
    ]
    name = "worker" if program == MESHSTREAMS else "worker-compiled"
    worker = Service(name, argv, workdir / f"{name}.log", cpus=WORKER_CPUS)
    return worker.start(), port


def wait_ready(worker: Service, port: int, timeout_s: float = 60.0) -> None:
    """Wait until the worker's health page says it owns partitions and its sink is up."""
    deadline = time.monotonic() + timeout_s
    while not _ready(port):
        worker.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(f"worker not ready after {timeout_s:.0f} s")
        time.sleep(0.2)
