"""The documented exit codes of every meshpipe command, and the errors that carry one.

cli.exit maps these to one line on stderr and the exit status; code below the CLIs (the dev
stack, for one) raises them with the status that fits.
"""

from __future__ import annotations

import enum


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
