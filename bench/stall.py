"""Stalls some processes' TCP traffic to one address: a cgroup v2 group and an iptables DROP on it.

A broker in a long GC pause, on a full disk or behind a partition that drops packets is reachable
but answers nothing. To make the shared dev Kafka look so to one program only, the program runs
in a cgroup v2 group of its own (started inside it, so every socket it opens belongs to the group:
the kernel tags a socket with its creator's group when the socket is made), and `stall()` inserts
`OUTPUT -p tcp -d HOST --dport PORT -m cgroup --path GROUP -j DROP`: that program's packets to
the broker vanish (established connections hang, new ones never get past SYN), while every other
client of the broker goes on. `resume()` deletes the rule; leaving the block deletes the rule and
the group, whatever happened inside it. Needs root, a cgroup2 mount and iptables' cgroup match.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

Wrap = Callable[[list[str]], list[str]]  # a command line -> the one to run (e.g. in a cgroup)
_CGROUP2_FALLBACK = Path("/sys/fs/cgroup/unified")  # hybrid hierarchy (systemd's layout)


class StallError(RuntimeError):
    """The stall could not be set up or undone (the message says which command failed)."""


def cgroup2_root() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (the root of `--path`), or None."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return _CGROUP2_FALLBACK if (_CGROUP2_FALLBACK / "cgroup.procs").exists() else None


def unavailable() -> str | None:
    """Why a stall cannot be made on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (iptables rule and a cgroup of its own)"
    if shutil.which("iptables") is None:
        return "needs iptables"
    if cgroup2_root() is None:
        return "needs a cgroup v2 mount (iptables -m cgroup --path matches v2 groups)"
    return None


class PortStall:
    """A cgroup for the programs to stall and the DROP rule for their traffic to host:port."""

    def __init__(self, host: str, port: int, label: str = "stall") -> None:
        root = cgroup2_root()
        if root is None:
            raise StallError("no cgroup v2 mount")
        self.name = f"meshpipe-{label}-{os.getpid()}-{secrets.token_hex(3)}"
        self.group = root / self.name
        self._root = root
        self._rule = [
            "OUTPUT",
            *("-p", "tcp", "-d", host, "--dport", str(port)),
            *("-m", "cgroup", "--path", self.name),
            *("-m", "comment", "--comment", self.name),
            *("-j", "DROP"),
        ]
        self.stalled = False

    def wrap(self, argv: list[str]) -> list[str]:
        """argv run inside the group from its first instruction (a shell joins it, then execs)."""
        procs = str(self.group / "cgroup.procs")
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *argv]

    def stall(self) -> None:
        """From now on the group's packets to host:port are dropped."""
        if not self.stalled:
            _iptables("-I", *self._rule)
            self.stalled = True

    def resume(self) -> None:
        """The group's packets to host:port flow again (retransmissions included)."""
        if self.stalled:
            _iptables("-D", *self._rule)
            self.stalled = False

    def __enter__(self) -> PortStall:
        try:
            self.group.mkdir()
        except OSError as exc:
            raise StallError(f"cannot create cgroup {self.group}: {exc}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.resume()
        finally:
            self._remove_group()

    def _remove_group(self) -> None:
        """rmdir the group; processes still in it (a caller that did not stop them) go to the
        root group first, since a group with members cannot be removed."""
        for _ in range(50):
            if not self.group.exists():
                return
            with contextlib.suppress(OSError):
                self.group.rmdir()
                return
            for pid in _members(self.group):
                with contextlib.suppress(OSError):  # it ended meanwhile
                    (self._root / "cgroup.procs").write_text(pid)
            time.sleep(0.1)
        raise StallError(f"cannot remove cgroup {self.group}: {_members(self.group)} still in it")


def _members(group: Path) -> list[str]:
    try:
        return (group / "cgroup.procs").read_text().split()
    except OSError:
        return []


def _iptables(*args: str) -> None:
    done = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StallError(f"iptables {' '.join(args)}: {done.stderr.strip()}")
