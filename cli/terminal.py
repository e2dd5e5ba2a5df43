"""Where CLI output goes and whether it may be coloured: detected once, injectable in tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

_BOLD = "\x1b[1m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"
CLEAR_SCREEN = "\x1b[H\x1b[2J"


@dataclass(frozen=True)
class Terminal:
    """Whether stdout is a terminal and whether colour is wanted (never when it is not a TTY)."""

    is_tty: bool = False
    color: bool = False

    @classmethod
    def detect(cls, stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> Terminal:
        """A TTY gets colour unless NO_COLOR is set or TERM is dumb."""
        stream = stream if stream is not None else sys.stdout
        env = env if env is not None else os.environ
        try:
            is_tty = stream.isatty()
        except ValueError:  # a closed stream
            is_tty = False
        color = is_tty and "NO_COLOR" not in env and env.get("TERM") != "dumb"
        return cls(is_tty=is_tty, color=color)

    def bold(self, text: str) -> str:
        return f"{_BOLD}{text}{_RESET}" if self.color else text

    def red(self, text: str) -> str:
        return f"{_RED}{text}{_RESET}" if self.color else text

    def green(self, text: str) -> str:
        return f"{_GREEN}{text}{_RESET}" if self.color else text

    def dim(self, text: str) -> str:
        return f"{_DIM}{text}{_RESET}" if self.color else text
