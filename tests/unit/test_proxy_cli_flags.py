"""meshproxy's flag errors: one line on stderr and the usage exit code, before anything listens."""

from __future__ import annotations

import pytest
from cli_run import run_command

from meshpipe.cli.meshproxy import build_settings, meshproxy
from meshpipe.schemas.exits import ExitStatus
from meshpipe.schemas.rows import CONNECTION_REPORT_S


def test_bare_inbound_without_transparent_exits_with_a_one_line_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPIPE_TRANSPARENT", "")
    args = [
        "--workload",
        "ns/deployment/web",
        "--kafka",
        "127.0.0.1:1",
        "--inbound",
        "0.0.0.0:4143",
    ]
    outcome = run_command(capsys, "meshproxy", meshproxy, args, None)
    assert outcome.status == ExitStatus.USAGE
    assert outcome.err.strip().count("\n") == 0
    assert outcome.err.startswith("meshproxy: ")
    assert "a bare LISTEN needs --transparent" in outcome.err


def test_a_port_already_taken_is_the_unavailable_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("MESHPIPE_TRANSPARENT", "")
        args = ["--workload", "ns/deployment/web", "--kafka", "127.0.0.1:1"]
        args += ["--admin", f"127.0.0.1:{port}", "--outbound", "127.0.0.1:0"]
        outcome = run_command(capsys, "meshproxy", meshproxy, args, None)
    assert outcome.status == ExitStatus.UNAVAILABLE
    assert "meshproxy: cannot listen" in outcome.err


def test_a_kubectl_alias_in_workload_becomes_the_canonical_kind() -> None:
    from meshpipe.cli.meshproxy import build_settings

    settings = build_settings(
        "default/deploy/web", "web-1", None, "127.0.0.1:0", False, "127.0.0.1:0", "k:9092", "t"
    )
    assert str(settings.workload) == "default/deployment/web/web-1"


def test_an_unknown_workload_kind_is_a_one_line_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPIPE_TRANSPARENT", "")
    args = ["--workload", "default/rollout/web", "--kafka", "127.0.0.1:1"]
    outcome = run_command(
        capsys, "meshproxy", meshproxy, [*args, "--outbound", "127.0.0.1:0"], None
    )
    assert outcome.status == ExitStatus.USAGE
    assert outcome.err.strip().count("\n") == 0
    assert "invalid workload kind 'rollout'" in outcome.err


@pytest.mark.parametrize(
    ("interval", "reason"),
    [("1m", "must be 0 (off) to 10 s, got 60 s"), ("often", 'invalid duration "often"')],
)
def test_a_connection_report_interval_the_readers_cannot_follow_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], interval: str, reason: str
) -> None:
    args = [
        "--workload",
        "ns/deployment/web",
        "--kafka",
        "127.0.0.1:1",
        "--outbound",
        "127.0.0.1:0",
    ]
    args += ["--connection-report-interval", interval]
    outcome = run_command(capsys, "meshproxy", meshproxy, args, None)
    assert outcome.status == ExitStatus.USAGE
    assert reason in outcome.err


def test_connection_reports_default_to_the_contracts_interval_and_0_turns_them_off() -> None:
    def settings(*interval: str) -> float:
        built = build_settings(
            "ns/deployment/web", "", None, "127.0.0.1:0", False, "127.0.0.1:0", "k:1", "t", 5,
            *interval,
        )  # fmt: skip
        return built.connection_report_s

    assert (settings(), settings("0"), settings("2s")) == (CONNECTION_REPORT_S, 0.0, 2.0)


def test_the_sidecar_freezes_its_startup_heap() -> None:
    settings = build_settings(
        "default/deployment/web", "web-1", None, "127.0.0.1:0", False, "127.0.0.1:0", "k:9092", "t"
    )
    assert settings.freeze_startup_heap
