"""The one place that maps failures to exit codes and one-line messages for every meshpipe CLI."""

from __future__ import annotations

import enum
import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

import click

from meshpipe.deploy.localproc import DevStackError


class ExitStatus(enum.IntEnum):
    """Documented exit codes, shared by meshctl, meshstat and meshtap."""

    OK = 0
    ERROR = 1  # an unexpected failure (a bug): one line, then the exit
    USAGE = 2  # bad flags or arguments (click's own code for usage errors)
    CHECK_FAILED = 3  # a check ran and found a problem (meshctl check, demo --check)
    UNAVAILABLE = 4  # Kafka or ClickHouse could not be reached or started
    NOT_FOUND = 5  # the named resource, session or file does not exist
    INTERRUPTED = 130  # Ctrl-C


class CliError(Exception):
    """A failure with a message for the user and the exit status it maps to."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.ERROR) -> None:
        super().__init__(message)
        self.status = status


class UsageError(CliError):
    """Flags or arguments that cannot be used as given; exits with the usage status."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitStatus.USAGE)


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
    except DevStackError as exc:
        fail(prog, str(exc), ExitStatus.UNAVAILABLE)
    except KeyboardInterrupt:
        fail(prog, "interrupted", ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # `meshstat ... | head`: the reader went away; that is not an error.
        _silence_stdout()
        sys.exit(int(ExitStatus.OK))
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
