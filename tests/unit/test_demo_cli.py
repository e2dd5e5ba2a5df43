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


class _Stack:
    """The dev stack as run_demo drives it, without servers."""

    def __init__(self, _settings: object) -> None:
        pass

    def up(self, _say: object) -> list[str]:
        return ["kafka"]

    def down(self, only: list[str]) -> list[str]:
        return only


def test_an_interrupted_demo_stops_everything_and_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from meshpipe.demo import runner

    stopped: list[str] = []

    def interrupted(_run: object, _env: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "DevStack", _Stack)
    monkeypatch.setattr(runner, "check_ports_free", lambda _base: None)  # a real demo may run
    monkeypatch.setattr(runner.DemoRun, "start", interrupted)
    monkeypatch.setattr(runner.DemoRun, "stop", lambda _run: stopped.append("processes"))
    outcome = run_command(capsys, "meshctl", demo, ["--run-dir", str(tmp_path / "run")], None)
    assert outcome.status == ExitStatus.INTERRUPTED == 130
    assert stopped == ["processes"]
    assert "stopping    kafka (started by this run)" in outcome.out
    assert outcome.err.strip().splitlines() == ["meshctl: interrupted"]
