"""Process supervision for the dev stack, the demo, tests and benchmarks: daemons known by pid
file, groups of processes started together and stopped together, readiness by port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from meshpipe.schemas.clock import Clock
from meshpipe.schemas.exits import CliError, ExitStatus


class DevStackError(CliError):
    """A dev-stack step failed; the message is one line a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitStatus.UNAVAILABLE)


@dataclass(frozen=True)
class Daemon:
    """A background server known by its pid file and log file."""

    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        """The pid of the running server, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if pid_alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Start argv detached from this process, output to the log file; return its pid."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - argv is built by the project, not a shell
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid

    def stop(self, timeout_s: float = 20.0) -> bool:
        """SIGTERM the server's process group, SIGKILL after timeout_s; True if one was running."""
        pid = self.pid()
        if pid is None:
            return False
        signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.1)
        if pid_alive(pid):
            signal_group(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal pid's process group and pid itself; either may be gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def pid_alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A child of ours that exited stays as a zombie until reaped; count it as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout_s: float,
    alive: Callable[[], bool],
    what: str,
    log_file: Path,
) -> None:
    """Poll ready() until it holds; raise a one-line DevStackError on death or time-out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise DevStackError(f"{what} exited during start-up; see its log: {log_file}")
        time.sleep(0.25)
    raise DevStackError(
        f"{what} did not become ready within {timeout_s:.0f}s; see its log: {log_file}"
    )


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # also the log file's name
    argv: tuple[str, ...]
    env: Mapping[str, str]
    ready: tuple[tuple[str, int], ...] = ()  # accepting connections here means started
    cwd: Path | None = None
    netns: str | None = None  # the network namespace it runs in (ready is probed from there)
    stop_last: bool = False  # stopped after the others (what sidecars need to flush events)


# Whether (netns, host, port) accepts TCP connections; netns None is this host.
Probe = Callable[[str | None, str, int], bool]


def connects(netns: str | None, host: str, port: int) -> bool:
    """The default probe: a connection from this host's network (netns must be None)."""
    if netns is not None:
        raise ValueError(f"probing inside network namespace {netns} needs a netns-aware probe")
    return port_open(host, port)


STOP_TIMEOUT_S = 25.0  # a sidecar drains for up to 20 s by default
LOG_TAIL_LINES = 15


class ProcessFailed(RuntimeError):
    """A demo process exited or never became ready; the message carries its log's tail."""


@dataclass(frozen=True)
class Running:
    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    log: Path


class Processes:
    """The processes one run started (the demo's), in start order."""

    def __init__(self, run_dir: Path, clock: Clock, probe: Probe = connects) -> None:
        self.run_dir = run_dir
        self.clock = clock
        self.probe = probe  # how wait_ready tells that a ready address accepts connections
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
            while not self.probe(netns, host, port):
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
            signal_group(r.process.pid, signal.SIGTERM)
        deadline = self.clock.monotonic() + timeout_s
        for r in reversed(group):
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.process.wait(timeout=max(0.0, deadline - self.clock.monotonic()))
        for r in group:
            # The leader may be gone while a child it forked lives on in its group.
            signal_group(r.process.pid, signal.SIGKILL)
            r.process.wait()
        return [r.spec.name for r in reversed(group)]


def tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {log})"
    return "\n".join(f"  | {line}" for line in text) + f"\n  (full log: {log})"
