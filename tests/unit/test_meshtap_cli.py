"""meshtap through run_cli without Kafka: --help and the one-line usage errors of its flags."""

from __future__ import annotations

import pytest
from cli_run import Outcome, run_command

from meshpipe.cli.meshtap import TapEnv, meshtap
from meshpipe.cli.terminal import Terminal
from meshpipe.schemas.exits import ExitStatus


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> Outcome:
    # Port 1: if validation let anything through, the run would fail as unavailable, not usage.
    return run_command(
        capsys, "meshtap", meshtap, [*args, "--kafka", "127.0.0.1:1"], TapEnv(Terminal())
    )


def test_help_lists_the_status_flags_and_how_they_combine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = _run(capsys, "--help")
    assert outcome.status == ExitStatus.OK
    text = " ".join(outcome.out.split())
    for flag in ("--status TEXT", "--grpc-status TEXT", "--failed"):
        assert flag in text
    assert "must match each of --status, --grpc-status and --failed that is given (AND)" in text
    assert "any one value of a repeated or comma-separated flag (OR)" in text
    assert "before --max-rps is spent" in text


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--grpc-status", "Internl"],
            'meshtap: invalid --grpc-status "Internl": want a number 0-16 or a name: OK, Canceled,',
        ),
        (["--grpc-status", "Internal,99"], 'meshtap: invalid --grpc-status "99"'),
        (["--status", "5xx", "--status", "6xx"], 'meshtap: invalid --status "6xx"'),
    ],
)
def test_a_bad_status_value_is_one_line_and_the_usage_status(
    capsys: pytest.CaptureFixture[str], args: list[str], line: str
) -> None:
    outcome = _run(capsys, "deploy/voting", *args)
    assert outcome.status == ExitStatus.USAGE
    assert outcome.err.startswith(line)
    assert outcome.err.count("\n") == 1
    assert "Traceback" not in outcome.err
    assert outcome.out == ""
