"""Helpers for the stream-worker integration tests: worker subprocesses, polling, stored totals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.generate import Truth, TruthKey
from meshpipe.sinks.client import ClickHouseClient, ClickHouseUrl

BIN = Path(sys.executable).parent
T = TypeVar("T")

Counters = tuple[int, ...]  # requests, successes, failures, 4xx, 5xx, grpc failures, bytes in/out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    timeout_s: float,
    what: str,
    interval_s: float = 0.2,
) -> T:
    """Poll probe until done(result) or the deadline; fail with the last result."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}: {value!r}")
        time.sleep(interval_s)


def clickhouse_url(url: ClickHouseUrl, database: str) -> str:
    """The --clickhouse option for a server URL and database."""
    return f"clickhouse://{url.user}@{url.host}:{url.port}/{database}"


@dataclass
class WorkerProc:
    """One `meshstreams worker` subprocess (its own process group, so SIGKILL is real)."""

    kafka: str
    clickhouse: str
    prefix: str
    group: str
    workdir: Path
    extra: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log_file(self) -> Path:
        return self.workdir / f"worker-{self.port}-{self.starts}.log"

    def start(self) -> WorkerProc:
        """Start the worker and wait until its health page says it is ready."""
        self.launch()
        wait_for(self.health, lambda h: bool(h and h.get("ready")), 60, f"{self} ready")
        return self

    def launch(self) -> None:
        """Start the worker process without waiting for it."""
        self.starts += 1
        argv = [
            str(BIN / "meshstreams"),
            "worker",
            f"--kafka={self.kafka}",
            f"--clickhouse={self.clickhouse}",
            f"--web-port={self.port}",
            f"--topic-prefix={self.prefix}",
            f"--group={self.group}",
            f"--data-dir={self.workdir / 'faust'}",
            *self.extra,
        ]
        with self.log_file.open("wb") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
            )

    def wait_exit(self, timeout_s: float) -> int | None:
        """The exit status once the process ended, None if it still runs after timeout_s."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def health(self) -> dict[str, Any] | None:
        """The worker's /health document, None when it does not answer."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}: {self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as rsp:
                return dict(json.loads(rsp.read()))
        except OSError:
            return None

    def partitions(self) -> list[int]:
        health = self.health() or {}
        return list(health.get("partitions", []))

    def kill(self) -> None:
        """SIGKILL the worker's process group (no shutdown code runs)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended within 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __str__(self) -> str:
        return f"worker :{self.port}"


# --- what the tables hold -----------------------------------------------------------------------


def stored_edges(client: ClickHouseClient, db: str) -> dict[TruthKey, Counters]:
    """Edge window counters, latest version per segment (FINAL), summed per window and edge."""
    rows = client.execute(
        # 18.16 reads `GROUP BY 1` as grouping by the constant, hence the aliases.
        "SELECT toUInt32(window_start) AS w, direction AS d, source_name AS s,"
        " destination_name AS t,"
        " sum(requests), sum(successes), sum(failures), sum(status_4xx), sum(status_5xx),"
        " sum(grpc_failures), sum(request_bytes), sum(response_bytes)"
        f" FROM {db}.edge_windows FINAL GROUP BY w, d, s, t"
    )
    return {
        (int(r[0]), str(r[1]), str(r[2]), str(r[3])): tuple(int(v) for v in r[4:]) for r in rows
    }


def truth_edges(truth: Truth) -> dict[TruthKey, Counters]:
    """The generator's truth in the shape of stored_edges."""
    return {
        key: (
            cell.requests,
            cell.successes,
            cell.failures,
            cell.status_4xx,
            cell.status_5xx,
            cell.grpc_failures,
            cell.request_bytes,
            cell.response_bytes,
        )
        for key, cell in truth.edges.items()
    }


def stored_requests(client: ClickHouseClient, db: str) -> int:
    """Raw request rows after replacing (FINAL)."""
    return int(client.execute(f"SELECT count() FROM {db}.requests FINAL")[0][0])


def stored_request_total(client: ClickHouseClient, db: str) -> int:
    """Sum of requests over the edge windows (FINAL): cheap progress probe."""
    rows = client.execute(f"SELECT sum(requests) FROM {db}.edge_windows FINAL")
    return int(rows[0][0] or 0)


def stored_loss_events(client: ClickHouseClient, db: str) -> int:
    """Events counted by the proxy_losses rows (FINAL). A batch is stored table by table (edge
    windows, requests, then losses), so wait for this too before reading losses."""
    rows = client.execute(f"SELECT sum(events) FROM {db}.proxy_losses FINAL")
    return int(rows[0][0] or 0)


def stored_losses(client: ClickHouseClient, db: str) -> dict[str, int]:
    """Lost events per proxy from the proxy_losses rows (FINAL)."""
    rows = client.execute(
        "SELECT proxy_id, max(seq_max) - min(seq_min) + 1 - sum(events)"
        f" FROM {db}.proxy_losses FINAL GROUP BY proxy_id"
    )
    return {str(r[0]): int(r[1]) for r in rows}
