"""The one boundary that maps failures to exit codes (schemas.exits) and one-line messages for
every meshpipe CLI."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

import click

from meshpipe.schemas.exits import CliError, ExitStatus

# The extra that installs what each command imports (pyproject.toml's optional dependencies).
EXTRAS = {
    "meshproxy": "proxy",
    "meshstreams": "streams",
    "meshstat": "cli",
    "meshtap": "cli",
    "meshctl": "cli,kube",
}


def missing_extra(prog: str, exc: ModuleNotFoundError) -> str | None:
    """The one line for a library that prog's extra would have installed; None for our own."""
    if (exc.name or "meshpipe").partition(".")[0] == "meshpipe":
        return None
    extra = EXTRAS.get(prog, "all")
    return f"the Python module {exc.name!r} is missing; pip install 'meshpipe[{extra}]'"


def quiet_library_logs(*names: str) -> None:
    """Keep these libraries' log records (e.g. a traceback per failed connect) off stderr: the
    boundary reports the failure in one line. MESHPIPE_DEBUG=1 keeps them."""
    if os.environ.get("MESHPIPE_DEBUG"):
        return
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def fail(prog: str, message: str, status: ExitStatus) -> NoReturn:
    click.echo(f"{prog}: {message}", err=True)
    sys.exit(int(status))


def run_cli(prog: str, command: Callable[..., object]) -> NoReturn:
    """Run a click command with meshpipe's error boundary: no tracebacks, documented codes."""
    try:
        result = command(standalone_mode=False)
    except click.exceptions.Abort:
        fail(prog, "interrupted", ExitStatus.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitStatus.USAGE) if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except CliError as exc:
        fail(prog, str(exc), exc.status)
    except KeyboardInterrupt:
        fail(prog, "interrupted", ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # `meshstat ... | head`: the reader went away; that is not an error.
        _silence_stdout()
        sys.exit(int(ExitStatus.OK))
    except ModuleNotFoundError as exc:
        line = missing_extra(prog, exc)
        if line is None or os.environ.get("MESHPIPE_DEBUG"):
            raise
        fail(prog, line, ExitStatus.ERROR)
    except Exception as exc:  # the boundary: a bug still gets one line, no traceback
        if os.environ.get("MESHPIPE_DEBUG"):
            raise
        fail(
            prog,
            f"unexpected error: {type(exc).__name__}: {exc} (MESHPIPE_DEBUG=1 shows more)",
            ExitStatus.ERROR,
        )
    sys.exit(int(result) if isinstance(result, int) else int(ExitStatus.OK))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
