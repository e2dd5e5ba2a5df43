"""The console scripts' entry points: each imports its command only when run, so a command whose
extra is not installed says so in one line instead of a traceback."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import NoReturn, cast

from meshpipe.cli.exit import fail, missing_extra
from meshpipe.schemas.exits import ExitStatus


def launch(prog: str) -> NoReturn:
    """Import meshpipe.cli.<prog> and run its main()."""
    try:
        module = importlib.import_module(f"meshpipe.cli.{prog}")
    except ModuleNotFoundError as exc:
        line = missing_extra(prog, exc)
        if line is None:
            raise
        fail(prog, line, ExitStatus.ERROR)
    cast(Callable[[], NoReturn], module.main)()


def meshproxy() -> NoReturn:
    launch("meshproxy")


def meshstreams() -> NoReturn:
    launch("meshstreams")


def meshstat() -> NoReturn:
    launch("meshstat")


def meshtap() -> NoReturn:
    launch("meshtap")


def meshctl() -> NoReturn:
    launch("meshctl")
