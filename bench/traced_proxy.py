"""`python -m bench.traced_proxy OUT MESHPROXY-ARGS...`: meshproxy with tracemalloc on; at exit
(after SIGTERM's drain) OUT gets its RSS and its largest live Python allocations by source line."""

from __future__ import annotations

import atexit
import sys
import tracemalloc
from pathlib import Path

TOP = 40


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def report() -> str:
    """RSS, traced totals and the top allocation sites, one per line."""
    current, peak = tracemalloc.get_traced_memory()
    lines = [
        f"VmRSS {_rss_kib() / 1024:.1f} MiB; traced now {current / 2**20:.1f} MiB,"
        f" peak {peak / 2**20:.1f} MiB",
        *map(str, tracemalloc.take_snapshot().statistics("lineno")[:TOP]),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    out = Path(sys.argv[1])
    tracemalloc.start()
    atexit.register(lambda: out.write_text(report()))
    sys.argv = ["meshproxy", *sys.argv[2:]]
    from meshpipe.cli.meshproxy import (
        main as meshproxy,  # after tracemalloc.start(): imports are traced
    )

    meshproxy()


if __name__ == "__main__":
    main()
