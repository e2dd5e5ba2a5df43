"""Renders meshstat rows as Linkerd's table, the wide table, or JSON.

Cell formats: SUCCESS `100.00%`, RPS `2.0rps`, latencies `123ms` (below 1 ms with one decimal,
`0.4ms`, and `<0.1ms` below that), bytes `1.5B/s`, TCP_CONN a count (the connections open at the
end of the range, `sinks.connections`); `-` wherever there is no data. MESHED is `yes`/`no`:
meshpipe knows whether a workload's proxy reported, not how many of its pods run one.

JSON (`-o json`) is a list of objects with these stable fields: `namespace`, `kind`, `name`,
`meshed` (bool), `success` (fraction 0..1 or null), `rps`, `latency_ms_p50`, `latency_ms_p95`,
`latency_ms_p99` (null without data), `requests`, `successes`, `failures`, `status_4xx`,
`status_5xx`, `tcp_open_connections` (integer; null without connection reports),
`read_bytes_per_s`, `write_bytes_per_s`, `events_lost`, `start` and `end` (RFC 3339, UTC: the
range used).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from meshpipe.cli.table import Align, Column, render_table
from meshpipe.cli.terminal import Terminal
from meshpipe.schemas.durations import format_time
from meshpipe.sinks.query import StatRow

NO_DATA = "-"
NO_TRAFFIC = "No traffic found."

_BASE = ("MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99", "TCP_CONN")
_WIDE = ("READ_BYTES/SEC", "WRITE_BYTES/SEC", "REQUESTS", "4XX", "EVENTS_LOST")


@dataclass(frozen=True)
class StatView:
    """How to show rows: the output format and which name columns are needed."""

    output: str = "table"  # table, wide or json
    all_namespaces: bool = False  # adds the leading NAMESPACE column
    mixed_kinds: bool = False  # names become `kind/name`


def aggregate(batches: Iterable[Sequence[StatRow]]) -> list[StatRow]:
    """Rows of every query as one list, each resource once, in (namespace, kind, name) order."""
    unique = {(r.namespace, r.kind, r.name): r for batch in batches for r in batch}
    return [unique[key] for key in sorted(unique)]


def render(rows: Sequence[StatRow], view: StatView, terminal: Terminal) -> str:
    """The text for stdout (empty for an empty table: the caller says `No traffic found.`)."""
    if view.output == "json":
        return render_json(rows)
    if not rows:
        return ""
    return render_text(rows, view, terminal)


def render_text(rows: Sequence[StatRow], view: StatView, terminal: Terminal) -> str:
    headers = ("NAME", *_BASE, *(_WIDE if view.output == "wide" else ()))
    if view.all_namespaces:
        headers = ("NAMESPACE", *headers)
    columns = [
        Column(h, Align.LEFT if h in ("NAMESPACE", "NAME") else Align.RIGHT) for h in headers
    ]
    cells = [_cells(row, view) for row in rows]
    return render_table(columns, cells, style_header=terminal.bold)


def _cells(row: StatRow, view: StatView) -> list[str]:
    has_requests = row.requests > 0
    cells = [
        f"{row.kind}/{row.name}" if view.mixed_kinds else row.name,
        "yes" if row.meshed else "no",
        format_percent(row.success),
        f"{row.rps:.1f}rps" if has_requests else NO_DATA,
        format_latency(row.latency_ms_p50),
        format_latency(row.latency_ms_p95),
        format_latency(row.latency_ms_p99),
        NO_DATA if row.tcp_open_connections is None else str(row.tcp_open_connections),
    ]
    if view.output == "wide":
        cells += [
            f"{row.read_bytes_per_s:.1f}B/s" if has_requests else NO_DATA,
            f"{row.write_bytes_per_s:.1f}B/s" if has_requests else NO_DATA,
            str(row.requests),
            format_percent(row.status_4xx / row.requests if has_requests else None),
            str(row.events_lost),
        ]
    if view.all_namespaces:
        cells.insert(0, row.namespace)
    return cells


def format_percent(fraction: float | None) -> str:
    """`99.50%`, or `-` without data."""
    return NO_DATA if fraction is None else f"{fraction * 100:.2f}%"


def format_latency(ms: float | None) -> str:
    """Whole milliseconds from 1 ms up, one decimal below (never a misleading `0ms`)."""
    if ms is None:
        return NO_DATA
    if ms >= 1:
        return f"{round(ms)}ms"
    if ms < 0.05:
        return "<0.1ms"
    return f"{ms:.1f}ms"


def row_json(row: StatRow) -> dict[str, object]:
    """One row under the documented JSON field names."""
    return {
        "namespace": row.namespace,
        "kind": row.kind,
        "name": row.name,
        "meshed": row.meshed,
        "success": row.success,
        "rps": row.rps,
        "latency_ms_p50": row.latency_ms_p50,
        "latency_ms_p95": row.latency_ms_p95,
        "latency_ms_p99": row.latency_ms_p99,
        "requests": row.requests,
        "successes": row.successes,
        "failures": row.failures,
        "status_4xx": row.status_4xx,
        "status_5xx": row.status_5xx,
        "tcp_open_connections": row.tcp_open_connections,
        "read_bytes_per_s": row.read_bytes_per_s,
        "write_bytes_per_s": row.write_bytes_per_s,
        "events_lost": row.events_lost,
        "start": format_time(row.start_s),
        "end": format_time(row.end_s),
    }


def render_json(rows: Sequence[StatRow]) -> str:
    """The rows as an indented JSON list (`[]` when empty), ending in a newline."""
    return json.dumps([row_json(r) for r in rows], indent=2) + "\n"
