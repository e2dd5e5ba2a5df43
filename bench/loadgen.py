"""Runs the load generators (wrk, h2load; fortio for gRPC) and parses their output."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import fortio
from bench.procs import BenchError
from bench.report import percentile

_WRK_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_H2_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed,"
    r" (\d+) errored"
)
_H2_FINISHED = re.compile(r"finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s")
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class LoadResult:
    """What a load run achieved: successful requests, failures, and its duration."""

    succeeded: int
    failed: int
    seconds: float
    latencies_us: tuple[float, ...] = ()  # per request, when the tool logs them
    quantiles_us: tuple[tuple[float, float], ...] = ()  # (percentile, µs) the tool computed

    @property
    def rps(self) -> float:
        return self.succeeded / self.seconds if self.seconds > 0 else 0.0

    @property
    def has_latencies(self) -> bool:
        return bool(self.latencies_us or self.quantiles_us)

    def latency_us(self, q: float) -> float:
        """The q-quantile (0 < q <= 1) of request times: from the log, else from the tool."""
        if self.latencies_us:
            return percentile(self.latencies_us, q)
        for pct, value in self.quantiles_us:
            if abs(pct - q * 100) < 1e-9:
                return value
        raise BenchError(f"the load generator did not report the {q:g} quantile")


@dataclass(frozen=True)
class Target:
    """Where a load generator sends requests; host overrides the Host/:authority header."""

    port: int
    protocol: str  # http1, h2c or grpc
    host: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def parse_wrk(text: str) -> LoadResult:
    """A LoadResult from wrk's report (non-2xx responses and socket errors count as failed)."""
    match = _WRK_REQUESTS.search(text)
    if match is None:
        raise BenchError(f"unrecognised wrk output: {text[-500:]!r}")
    total, seconds = int(match.group(1)), float(match.group(2)) * _UNIT_S[match.group(3)]
    non2xx = _WRK_NON2XX.search(text)
    failed = int(non2xx.group(1)) if non2xx else 0
    errors = _WRK_SOCKET.search(text)
    socket_errors = sum(int(g) for g in errors.groups()) if errors else 0
    return LoadResult(max(0, total - failed), failed + socket_errors, seconds)


def parse_h2load(text: str, log_text: str = "") -> LoadResult:
    """A LoadResult from h2load's report and (optionally) its --log-file of request times."""
    counts, finished = _H2_REQUESTS.search(text), _H2_FINISHED.search(text)
    if counts is None or finished is None:
        raise BenchError(f"unrecognised h2load output: {text[-500:]!r}")
    succeeded, failed, errored = int(counts.group(4)), int(counts.group(5)), int(counts.group(6))
    seconds = float(finished.group(1)) * _UNIT_S[finished.group(2)]
    latencies = []
    for line in log_text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1].startswith("2"):
            latencies.append(float(parts[2]))
    return LoadResult(succeeded, failed + errored, seconds, tuple(latencies))


def _run(argv: list[str], timeout_s: float) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{argv[0]} did not finish within {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-500:]}")
    return done.stdout


def _pinned(cpus: str | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *argv] if cpus else argv


@dataclass(frozen=True)
class LoadSpec:
    """How hard and how long to load a target."""

    seconds: float
    connections: int = 16
    rate_rps: int | None = None  # total constant rate (h2load --rps); None: as fast as possible
    warmup_s: float = 0.5
    cpus: str | None = None  # where the load generator runs


def _fortio(target: Target, spec: LoadSpec, report: Path) -> LoadResult:
    """gRPC pings with fortio (host sets :authority), closed-loop or at spec.rate_rps."""
    program = fortio.fortio_path()
    if program is None:
        raise BenchError("fortio is not installed (make tools)")
    seconds = max(1, round(spec.seconds))
    argv = fortio.load_argv(program, target.port, spec.connections, seconds, spec.rate_rps, report)
    if target.host:
        argv[-1:-1] = ["-H", f"Host: {target.host}"]
    report.unlink(missing_ok=True)
    _run(_pinned(spec.cpus, argv), seconds + 30)
    succeeded, failed, took, quantiles = fortio.parse_report(report.read_text())
    return LoadResult(succeeded, failed, took, quantiles_us=tuple(quantiles.items()))


def closed_loop(target: Target, spec: LoadSpec, report: Path | None = None) -> LoadResult:
    """As many requests as the target serves: wrk (HTTP/1.1), h2load (h2c), fortio (gRPC)."""
    seconds = max(1, round(spec.seconds))
    if target.protocol == "grpc":
        if report is None:
            raise ValueError("a gRPC run needs a report path")
        return _fortio(target, spec, report)
    if target.protocol == "http1":
        argv = ["wrk", "-t1", f"-c{spec.connections}", f"-d{seconds}s"]
        if target.host:
            argv += ["-H", f"Host: {target.host}"]
        return parse_wrk(_run(_pinned(spec.cpus, [*argv, target.url]), seconds + 30))
    argv = ["h2load", "-t1", f"-c{spec.connections}", "-m10", f"-D{seconds}"]
    argv += [f"--warm-up-time={int(spec.warmup_s * 1000)}ms"]
    if target.host:
        argv += ["-H", f":authority: {target.host}"]
    return parse_h2load(_run(_pinned(spec.cpus, [*argv, target.url]), seconds + 30))


def constant_rate(target: Target, spec: LoadSpec, log: Path) -> LoadResult:
    """spec.rate_rps requests/s over spec.connections connections, with each request's time."""
    if spec.rate_rps is None:
        raise ValueError("constant_rate needs a rate")
    if target.protocol == "grpc":
        return _fortio(target, spec, log)
    per_client = max(1, round(spec.rate_rps / spec.connections))
    seconds = max(1, round(spec.seconds))
    argv = ["h2load", "-t1", f"-c{spec.connections}", "-m1", f"--rps={per_client}"]
    argv += [f"-D{seconds}", f"--warm-up-time={int(spec.warmup_s * 1000)}ms", f"--log-file={log}"]
    if target.protocol == "http1":
        argv += ["-p", "http/1.1"]
    if target.host:
        argv += ["-H", f":authority: {target.host}"]
    log.unlink(missing_ok=True)
    out = _run(_pinned(spec.cpus, [*argv, target.url]), seconds + 30)
    return parse_h2load(out, log.read_text() if log.exists() else "")
