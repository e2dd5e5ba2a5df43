"""meshctl's plugin commands: `dashboard` comes through the entry-point group and, without its
extra, says which extra to install in one line (and `meshctl --help` still works)."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from cli_run import run_command

from meshpipe.cli import meshctl as meshctl_module
from meshpipe.cli.meshctl import meshctl


class _Broken(EntryPoint):
    def load(self) -> object:
        raise ModuleNotFoundError("No module named 'aiohttp'", name="aiohttp")


def _without_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = _Broken("dashboard", "meshpipe.dashboard.command:dashboard", "meshpipe.meshctl")
    monkeypatch.setattr(meshctl_module, "_plugins", lambda: {"dashboard": broken})


def test_dashboard_is_a_meshctl_command() -> None:
    assert "dashboard" in meshctl_module._plugins()
    assert "top" in meshctl.list_commands(None)  # type: ignore[arg-type]


def test_dashboard_without_its_extra_names_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_aiohttp(monkeypatch)
    done = run_command(capsys, "meshctl", meshctl, ["dashboard"], None)
    assert done.status == 2
    assert done.err.strip() == (
        "meshctl: `meshctl dashboard` is not installed: pip install 'meshpipe[dashboard]'"
    )


def test_help_lists_dashboard_without_its_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_aiohttp(monkeypatch)
    done = run_command(capsys, "meshctl", meshctl, ["--help"], None)
    assert done.status == 0
    assert "dashboard" in done.out
