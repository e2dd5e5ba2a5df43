"""Runs a meshpipe click command through the real run_cli boundary and captures what it said."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import click
import pytest

from meshpipe.cli.exit import run_cli


@dataclass(frozen=True)
class Outcome:
    status: int
    out: str
    err: str


def run_command(
    capsys: pytest.CaptureFixture[str],
    prog: str,
    command: click.Command,
    args: list[str],
    obj: object,
) -> Outcome:
    """Invoke command with args and obj as the click context object; exit status and output."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        run_cli(prog, functools.partial(command.main, args=args, prog_name=prog, obj=obj))
    captured = capsys.readouterr()
    code = exited.value.code
    return Outcome(code if isinstance(code, int) else 1, captured.out, captured.err)
