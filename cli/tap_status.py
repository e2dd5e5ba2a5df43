"""meshtap's status flags as a TapFilter's status selection: `--status` (`500`, `5xx`, `5+`,
`429+`), `--grpc-status` (a gRPC status name or number) and `--failed`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.grpcstatus import GRPC_STATUS_NAMES, grpc_status_code

_CODE_RE = re.compile(r"([1-5]\d\d)(\+?)")
_CLASS_RE = re.compile(r"([1-5])(xx|XX|\+)")


class StatusFilterError(ValueError):
    """A status flag value that cannot be understood; the message is one line."""


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


def parse_grpc_status(text: str) -> int:
    """The code one --grpc-status value names: a gRPC status name in any case, or 0-16."""
    code = grpc_status_code(text)
    if code is None:
        raise StatusFilterError(
            f'invalid --grpc-status "{text}": want a number 0-16 or a name: '
            + ", ".join(GRPC_STATUS_NAMES)
        )
    return code


def _split(values: Iterable[str]) -> list[str]:
    return [part for value in values for part in value.split(",")]


def status_selection(
    statuses: Iterable[str], grpc_statuses: Iterable[str], failed: bool
) -> meshpipe_pb2.TapFilter:
    """A TapFilter holding only the status selection of repeated and comma-separated values."""
    ranges = sorted({parse_status(part) for part in _split(statuses)})
    return meshpipe_pb2.TapFilter(
        http_statuses=[meshpipe_pb2.StatusRange(low=low, high=high) for low, high in ranges],
        grpc_statuses=sorted({parse_grpc_status(part) for part in _split(grpc_statuses)}),
        failed=failed,
    )
