"""The one table helper of meshpipe's CLIs: UPPER_SNAKE headers, names left, numbers right."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum


class Align(Enum):
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True)
class Column:
    """A column: its header and how its cells line up."""

    header: str
    align: Align = Align.RIGHT


_GAP = "   "


def render_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    style_header: Callable[[str], str] = str,
) -> str:
    """Rows under their headers, three spaces apart, every line ending in a newline.

    style_header styles the header line (bold on a terminal); it must not change its width.
    """
    widths = [len(c.header) for c in columns]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row has {len(row)} cells for {len(columns)} columns")
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    header = _line(columns, [c.header for c in columns], widths)
    body = [_line(columns, row, widths) for row in rows]
    return "".join([style_header(header) + "\n", *(line + "\n" for line in body)])


def _line(columns: Sequence[Column], cells: Sequence[str], widths: Sequence[int]) -> str:
    parts = [
        cell.ljust(width) if column.align is Align.LEFT else cell.rjust(width)
        for column, cell, width in zip(columns, cells, widths, strict=True)
    ]
    return _GAP.join(parts).rstrip()
