"""fortio as the gRPC origin (its ping service) and gRPC load generator, and its JSON report."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.procs import BenchError

# The histogram's finest bucket, seconds: 10 µs, so sub-millisecond percentiles are not rounded
# to fortio's default 1 ms buckets.
RESOLUTION_S = 0.00001
PERCENTILES = (50.0, 99.0, 99.9)
SERVING = "SERVING"  # the ping service's health answer: one per successful call


def fortio_path() -> str | None:
    """fortio next to this interpreter (`make tools` puts it in .venv/bin), else from PATH."""
    beside = Path(sys.executable).parent / "fortio"
    if beside.is_file():
        return str(beside)
    return shutil.which("fortio")


def server_argv(fortio: str, grpc_port: int, http_port: int) -> list[str]:
    """`fortio server` with only its gRPC ping service (and the HTTP port it always opens)."""
    return [
        fortio, "server", "-quiet",
        f"-grpc-port=127.0.0.1:{grpc_port}", f"-http-port=127.0.0.1:{http_port}",
        "-redirect-port=disabled", "-tcp-port=disabled", "-udp-port=disabled",
    ]  # fmt: skip


def load_argv(
    fortio: str, port: int, connections: int, seconds: int, rate_rps: int | None, out: Path
) -> list[str]:
    """`fortio load -grpc -ping`: rate_rps in total over connections, or as fast as possible."""
    return [
        fortio, "load", "-quiet", "-grpc", "-ping",
        f"-qps={rate_rps if rate_rps is not None else -1}", f"-c={connections}",
        f"-t={seconds}s", f"-r={RESOLUTION_S}", "-p=" + ",".join(f"{p:g}" for p in PERCENTILES),
        f"-json={out}", f"127.0.0.1:{port}",
    ]  # fmt: skip


def parse_report(text: str) -> tuple[int, int, float, dict[float, float]]:
    """(succeeded, failed, seconds, {percentile: µs}) from fortio's -json report of a gRPC run."""
    try:
        doc: dict[str, Any] = json.loads(text)
        codes: dict[str, int] = doc.get("RetCodes") or {}
        seconds = float(doc["ActualDuration"]) / 1e9
        histogram = doc["DurationHistogram"]
        percentiles = histogram.get("Percentiles") or []
        errors = int((doc.get("ErrorsDurationHistogram") or {}).get("Count", 0))
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"unrecognised fortio report: {text[:300]!r}") from exc
    succeeded = int(codes.get(SERVING, 0))
    failed = sum(int(n) for code, n in codes.items() if code != SERVING)
    quantiles = {float(p["Percentile"]): float(p["Value"]) * 1e6 for p in percentiles}
    return succeeded, max(failed, errors), seconds, quantiles
