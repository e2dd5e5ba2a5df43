"""Processes a benchmark starts: run pinned (taskset), find their pids, read their CPU and RSS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from meshpipe.deploy.dev.procs import signal_group

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A benchmark could not set itself up (a peer did not start, a tool is missing)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 15.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"nothing listens on {host}:{port} after {timeout_s} s") from None
            time.sleep(0.05)


def session_pids(session: int) -> list[int]:
    """Pids of every process in a session (a Service is its own session leader)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # fields after ')' start at state; session is 4th
            pids.append(int(entry.name))
    return pids


def stat_cpu_ticks(stat_text: str) -> int:
    """utime + stime (clock ticks) of a /proc/PID/stat text."""
    fields = stat_text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of the full line


def status_rss_kib(status_text: str) -> int:
    """VmRSS in KiB of a /proc/PID/status text (0 when absent: a zombie)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


@dataclass
class Service:
    """One long-running program (own session, optionally pinned), logging to a file."""

    name: str
    argv: list[str]
    log: Path
    cpus: str | None = None  # taskset CPU list, e.g. "1"
    env: dict[str, str] | None = None
    stop_timeout_s: float = 5.0  # SIGTERM grace before SIGKILL
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Service:
        argv = ["taskset", "-c", self.cpus, *self.argv] if self.cpus else self.argv
        env = {**os.environ, **self.env} if self.env else None
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
        return self

    def pids(self) -> list[int]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        return session_pids(self.proc.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by every process of the service."""
        texts = (_read(f"/proc/{pid}/stat") for pid in self.pids())
        return sum(stat_cpu_ticks(text) for text in texts if text) / CLOCK_TICKS

    def rss_mib(self) -> float:
        """Resident memory of every process of the service, MiB."""
        return sum(status_rss_kib(_read(f"/proc/{pid}/status")) for pid in self.pids()) / 1024

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise BenchError(f"{self.name} is not running: {tail}")

    def stop(self) -> None:
        """SIGTERM the session, SIGKILL it if it has not ended within stop_timeout_s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        signal_group(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


class Services:
    """Services started together and always stopped together (a context manager)."""

    def __init__(self) -> None:
        self._started: list[Service] = []

    def start(self, service: Service, port: int | None = None) -> Service:
        self._started.append(service.start())
        if port is not None:
            try:
                wait_port(port)
            except BenchError:
                service.check_alive()
                raise
        return service

    def stop_all(self) -> None:
        for service in reversed(self._started):
            service.stop()
        self._started.clear()

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
