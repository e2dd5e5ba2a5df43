"""Starts the demo's processes in their own process groups, watches them, and stops every one."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from meshpipe.demo.netns import connects_in
from meshpipe.demo.plan import ProcessSpec

STOP_TIMEOUT_S = 25.0  # a sidecar drains for up to 20 s by default
LOG_TAIL_LINES = 15

Say = Callable[[str], None]


class ProcessFailed(RuntimeError):
    """A demo process exited or never became ready; the message carries its log's tail."""


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class Running:
    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    log: Path


class Processes:
    """The processes one demo run started, in start order."""

    def __init__(self, run_dir: Path, clock: Clock) -> None:
        self.run_dir = run_dir
        self.clock = clock
        self.running: list[Running] = []

    def start(self, spec: ProcessSpec) -> Running:
        log = self.run_dir / f"{spec.name}.log"
        if spec.cwd is not None:
            spec.cwd.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
                spec.argv,
                env=dict(spec.env),
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one, Ctrl-C spared
            )
        running = Running(spec, process, log)
        self.running.append(running)
        return running

    def check_alive(self) -> None:
        for r in self.running:
            code = r.process.poll()
            if code is not None:
                raise ProcessFailed(f"{r.spec.name} exited with code {code}\n{tail(r.log)}")

    def wait_ready(self, running: Running, timeout_s: float) -> None:
        """Until every ready port of running accepts connections; ProcessFailed otherwise."""
        deadline = self.clock.monotonic() + timeout_s
        netns = running.spec.netns
        where = f" (in network namespace {netns})" if netns else ""
        for host, port in running.spec.ready:
            while not connects_in(netns, host, port):
                self.check_alive()
                if self.clock.monotonic() > deadline:
                    raise ProcessFailed(
                        f"{running.spec.name} did not listen on {host}:{port}{where} within "
                        f"{timeout_s:g}s\n{tail(running.log)}"
                    )
                self.clock.sleep(0.1)

    def stop_all(self, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
        """Stop every process: first the rest, then those whose spec says stop_last.

        Sidecars flush their last events on SIGTERM, so Kafka relays and the worker go after.
        Returns the names stopped, in the order they were signalled.
        """
        first = [r for r in self.running if not r.spec.stop_last]
        last = [r for r in self.running if r.spec.stop_last]
        self.running = []
        return self._stop(first, timeout_s) + self._stop(last, timeout_s)

    def _stop(self, group: list[Running], timeout_s: float) -> list[str]:
        """SIGTERM every group at once (last started first), wait, SIGKILL what is left.

        All at once: each sidecar drains on its own, so waiting one by one only adds up drains.
        """
        for r in reversed(group):
            _signal_group(r.process.pid, signal.SIGTERM)
        deadline = self.clock.monotonic() + timeout_s
        for r in reversed(group):
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.process.wait(timeout=max(0.0, deadline - self.clock.monotonic()))
        for r in group:
            # The leader may be gone while a child it forked lives on in its group.
            _signal_group(r.process.pid, signal.SIGKILL)
            r.process.wait()
        return [r.spec.name for r in reversed(group)]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {log})"
    return "\n".join(f"  | {line}" for line in text) + f"\n  (full log: {log})"
