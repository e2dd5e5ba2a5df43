"""`meshctl demo --netns` without root: one clear line and the documented exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import run_command

from meshpipe.demo.command import demo
from meshpipe.schemas.exits import ExitStatus


def test_netns_without_root_says_so_in_one_line_and_starts_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    run_dir = tmp_path / "run"
    outcome = run_command(capsys, "meshctl", demo, ["--netns", "--run-dir", str(run_dir)], None)
    assert outcome.status == ExitStatus.UNAVAILABLE
    assert outcome.err.strip().splitlines() == [
        "meshctl: --netns needs root (network namespaces and iptables); use sudo"
    ]
    assert outcome.out == ""
    assert not run_dir.exists()
