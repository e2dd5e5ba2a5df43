"""Process supervision (the demo's) stops whole process groups, children included."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from meshpipe.deploy.dev.procs import Processes, ProcessFailed, ProcessSpec
from meshpipe.schemas.clock import SystemClock


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that may never come counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_stop_all_leaves_no_child_behind(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # The shell ignores SIGTERM, so only the group SIGKILL ends it and its child.
    script = f"trap '' TERM; sleep 60 & echo $! > {pidfile}; wait"
    procs = Processes(tmp_path, SystemClock())
    procs.start(ProcessSpec("stubborn", ("sh", "-c", script), dict(os.environ)))
    deadline = time.monotonic() + 5
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.02)
    child = int(pidfile.read_text())
    assert procs.stop_all(timeout_s=0.2) == ["stubborn"]
    time.sleep(0.05)
    assert not _alive(child)


def test_a_process_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    procs = Processes(tmp_path, SystemClock())
    running = procs.start(
        ProcessSpec("crasher", ("sh", "-c", "echo boom; exit 3"), dict(os.environ))
    )
    running.process.wait()
    with pytest.raises(ProcessFailed, match=r"crasher exited with code 3\n  \| boom"):
        procs.check_alive()
