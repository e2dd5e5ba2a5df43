"""`meshstreams worker --flush-interval`: how often the worker writes to ClickHouse (freshness)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from meshpipe.cli import meshstreams
from meshpipe.schemas.exits import CliError, ExitStatus
from meshpipe.streams.settings import FLUSH_INTERVAL_S, WorkerSettings


class _Built(Exception):
    """Stops the command where it would start Faust, with the settings it built."""

    def __init__(self, settings: WorkerSettings) -> None:
        super().__init__("built")
        self.settings = settings


def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *flags: str) -> WorkerSettings:
    def build_app(settings: WorkerSettings, *_: Any) -> None:
        raise _Built(settings)

    monkeypatch.setattr(meshstreams, "build_app", build_app)
    monkeypatch.setattr(gc, "freeze", lambda: None)  # the test process keeps its collector
    monkeypatch.setattr(gc, "set_threshold", lambda *_: None)
    monkeypatch.setattr(asyncio, "set_event_loop_policy", lambda _: None)
    argv = ["worker", "--kafka=k:9092", "--clickhouse=memory://", f"--data-dir={tmp_path}"]
    result = CliRunner().invoke(meshstreams.meshstreams, [*argv, *flags])
    assert isinstance(result.exception, _Built), result.output
    return result.exception.settings


def test_the_flush_interval_is_half_a_second_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _settings(monkeypatch, tmp_path).flush_interval_s == FLUSH_INTERVAL_S == 0.5


def test_the_flush_interval_takes_a_duration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _settings(monkeypatch, tmp_path, "--flush-interval=250ms").flush_interval_s == 0.25
    monkeypatch.setenv("MESHPIPE_FLUSH_INTERVAL", "2s")
    assert _settings(monkeypatch, tmp_path).flush_interval_s == 2.0


def test_a_flush_interval_of_zero_is_a_usage_error(tmp_path: Path) -> None:
    argv = ["worker", "--kafka=k:9092", "--clickhouse=memory://", f"--data-dir={tmp_path}"]
    result = CliRunner().invoke(meshstreams.meshstreams, [*argv, "--flush-interval=0"])
    assert isinstance(result.exception, CliError)
    assert result.exception.status == ExitStatus.USAGE
    assert "invalid duration" in str(result.exception)
