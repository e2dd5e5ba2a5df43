"""End to end: `meshctl demo --check` runs the story through proxies, Kafka, worker, ClickHouse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshpipe.deploy.dev.stack import DevStack

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
TOOLS = (
    ("meshproxy", "--help"),
    ("meshstreams", "worker", "--help"),
    ("meshstat", "--help"),
    ("meshtap", "--help"),
)


def _missing_tools() -> list[str]:
    missing = []
    for tool, *args in TOOLS:
        try:
            done = subprocess.run(
                [str(BIN / tool), *args], capture_output=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            missing.append(tool)
            continue
        if done.returncode != 0:
            missing.append(tool)
    return missing


def test_demo_check_passes_every_story_step(tmp_path: Path, dev_stack: DevStack) -> None:
    # The session's stack is up, so the demo reuses it and leaves it running for later tests.
    missing = _missing_tools()
    if missing:
        pytest.skip(f"`{' / '.join(missing)} --help` fails: the demo needs them to exist")
    env = {**os.environ, "MESHPIPE_DEBUG": "1"}
    done = subprocess.run(
        [str(BIN / "meshctl"), "demo", "--check", "--run-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
        env=env,
    )
    steps = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert len(steps) == 5
    assert all(line.startswith("PASS") for line in steps)
