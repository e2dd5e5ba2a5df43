"""meshtap's `--status` post-filter: `500` (exactly), `5xx` (the class), `5+` or `503+` (and up)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_CODE_RE = re.compile(r"([1-5]\d\d)(\+?)")
_CLASS_RE = re.compile(r"([1-5])(xx|XX|\+)")


class StatusFilterError(ValueError):
    """A --status value that cannot be understood; the message is one line."""


@dataclass(frozen=True)
class StatusFilter:
    """HTTP statuses to show, as inclusive ranges; no ranges shows everything."""

    ranges: tuple[tuple[int, int], ...] = ()

    def matches(self, http_status: int) -> bool:
        """Whether an event with this status is shown (0, no response, only without a filter)."""
        if not self.ranges:
            return True
        return any(low <= http_status <= high for low, high in self.ranges)


def parse_status(text: str) -> tuple[int, int]:
    """The inclusive range one --status value names."""
    value = text.strip()
    if match := _CODE_RE.fullmatch(value):
        code = int(match[1])
        return (code, 599) if match[2] else (code, code)
    if match := _CLASS_RE.fullmatch(value):
        low = int(match[1]) * 100
        return (low, 599) if match[2] == "+" else (low, low + 99)
    raise StatusFilterError(
        f'invalid --status "{text}": want a code (500), a class (5xx) or a lower bound (5+, 429+)'
    )


def status_filter(values: Iterable[str]) -> StatusFilter:
    """One filter from repeated and comma-separated --status values (any of them matches)."""
    parts = [part for value in values for part in value.split(",")]
    return StatusFilter(tuple(parse_status(part) for part in parts))
