"""Column lists of the stream tables and the conversion of `schemas.rows` rows into their values."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from meshpipe.schemas.rows import (
    ConnectionRow,
    EdgeWindowRow,
    LossRow,
    RequestColumns,
    RequestRow,
    RowBatch,
)

EDGE_WINDOWS = "edge_windows"
REQUESTS = "requests"
PROXY_LOSSES = "proxy_losses"
TCP_CONNECTIONS = "tcp_connections"

Values = tuple[Any, ...]


def utc_datetime(unix_s: float) -> dt.datetime:
    """A timezone-aware UTC datetime for Unix seconds (what both clients accept for DateTime)."""
    return dt.datetime.fromtimestamp(unix_s, tz=dt.UTC)


_PEER_FIELDS = ("namespace", "kind", "name", "meshed")
EDGE_WINDOW_COLUMNS: tuple[str, ...] = (
    "window_start",
    "window_s",
    "direction",
    "source",
    *(f"source_{f}" for f in _PEER_FIELDS),
    "destination",
    *(f"destination_{f}" for f in _PEER_FIELDS),
    "partition",
    "first_offset",
    "version",
    "requests",
    "successes",
    "failures",
    "status_4xx",
    "status_5xx",
    "grpc_failures",
    "request_bytes",
    "response_bytes",
    "latency_sum_us",
    "duration_sum_us",
    "latency_buckets",
    "latency_counts",
    "duration_buckets",
    "duration_counts",
)


@dataclass(frozen=True, slots=True)
class _Fields:
    """Reads a row's fields in column order with one call and makes them plain.

    bool -> 0/1 (UInt8 columns: 18.16 has no Bool), tuple -> list (Array columns); which
    positions need that is decided once from the row type's annotations, not per value.
    """

    get: Callable[[Any], tuple[Any, ...]]
    bools: tuple[int, ...]
    arrays: tuple[int, ...]

    def values(self, row: object) -> list[Any]:
        """The plain field values of row."""
        values = list(self.get(row))
        for index in self.bools:
            values[index] = int(values[index])
        for index in self.arrays:
            values[index] = list(values[index])
        return values


def _fields(row_type: type, names: Sequence[str]) -> _Fields:
    types = {f.name: str(getattr(f.type, "__name__", f.type)) for f in fields(row_type)}
    return _Fields(
        operator.attrgetter(*names),
        tuple(i for i, name in enumerate(names) if types[name] == "bool"),
        tuple(i for i, name in enumerate(names) if types[name].startswith("tuple")),
    )


# Row fields in table column order, after the leading `window_start`.
_EDGE_FIELDS = _fields(EdgeWindowRow, EDGE_WINDOW_COLUMNS[1:])


def edge_window_values(row: EdgeWindowRow) -> Values:
    """The edge_windows column values of a row, in EDGE_WINDOW_COLUMNS order."""
    return (utc_datetime(row.window_start_s), *_EDGE_FIELDS.values(row))


# A RequestRow is already a tuple of plain values (both clients take bool for UInt8 and a tuple
# for an Array): its fields are the columns, after `start_time`.
REQUEST_COLUMNS: tuple[str, ...] = ("start_time", *RequestRow._fields)


def request_values(row: RequestRow) -> Values:
    """The requests column values of a row, in REQUEST_COLUMNS order."""
    # Floor, not round: start_time is the second holding start_us, also for times before 1970.
    return (utc_datetime(row.start_us // 1_000_000), *row)


LOSS_COLUMNS: tuple[str, ...] = (
    "window_start",
    "window_s",
    "proxy_id",
    "partition",
    "first_offset",
    "version",
    "events",
    "duplicates",
    "seq_min",
    "seq_max",
    "proxy_namespace",
    "proxy_kind",
    "proxy_name",
    "proxy_pod",
    "proxy_directions",
)
_LOSS_FIELDS = _fields(LossRow, LOSS_COLUMNS[1:])


def loss_values(row: LossRow) -> Values:
    """The proxy_losses column values of a row, in LOSS_COLUMNS order."""
    return (utc_datetime(row.window_start_s), *_LOSS_FIELDS.values(row))


_CONNECTION_PEER = ("namespace", "kind", "name", "pod", "meshed")
CONNECTION_COLUMNS: tuple[str, ...] = (
    "window_start",
    "report_us",
    "proxy_id",
    "direction",
    "source",
    *(f"source_{f}" for f in _CONNECTION_PEER),
    "destination",
    *(f"destination_{f}" for f in _CONNECTION_PEER),
    "partition",
    "first_offset",
    "version",
    "open_connections",
    "opened",
    "closed",
)
_CONNECTION_FIELDS = _fields(ConnectionRow, CONNECTION_COLUMNS[1:])


def connection_values(row: ConnectionRow) -> Values:
    """The tcp_connections column values of a row, in CONNECTION_COLUMNS order."""
    return (utc_datetime(row.window_start_s), *_CONNECTION_FIELDS.values(row))


@dataclass(frozen=True)
class TableRows:
    """The values to insert into one table."""

    table: str  # table name without database
    columns: Sequence[str]
    rows: list[Values]


def _request_rows(rows: Sequence[RequestRow]) -> list[Values]:
    """request_values of each row; a batch's rows share few start seconds, so each second's
    datetime is made once."""
    seconds: dict[int, dt.datetime] = {}
    out: list[Values] = []
    for row in rows:
        second = row.start_us // 1_000_000
        start_time = seconds.get(second)
        if start_time is None:
            start_time = seconds[second] = utc_datetime(second)
        out.append((start_time, *row))
    return out


@dataclass(frozen=True)
class TableColumns:
    """The values to insert into one table, one sequence per column (what the writer sends)."""

    table: str  # table name without database
    columns: Sequence[str]
    data: list[Sequence[Any]]  # aligned with columns, all of length `rows`
    rows: int

    def slices(self, max_rows: int) -> list[list[Sequence[Any]]]:
        """The columns cut into consecutive blocks of at most max_rows rows."""
        if self.rows <= max_rows:
            return [self.data]
        return [
            [column[start : start + max_rows] for column in self.data]
            for start in range(0, self.rows, max_rows)
        ]


def _transposed(table: TableRows) -> TableColumns:
    return TableColumns(
        table.table,
        table.columns,
        [list(c) for c in zip(*table.rows, strict=True)],
        len(table.rows),
    )


def request_columns(rows: RequestColumns) -> TableColumns:
    """Raw rows as the requests table's columns: the RequestColumns lists as they are, after a
    `start_time` column of Unix seconds (ints: no datetime per row), the second holding
    start_us (floor, also before 1970)."""
    start_us = rows.columns[_START_US]
    return TableColumns(
        REQUESTS, REQUEST_COLUMNS, [[us // 1_000_000 for us in start_us], *rows.columns], len(rows)
    )


_START_US = RequestRow._fields.index("start_us")


def batch_columns(batch: RowBatch) -> list[TableColumns]:
    """A batch as per-table columnar inserts (tables without rows left out); the small
    aggregate tables first, the raw requests last."""
    tables = [_transposed(t) for t in batch_tables(replace(batch, requests=()))]
    return [*tables, request_columns(batch.request_columns)] if batch.requests else tables


def batch_tables(batch: RowBatch) -> list[TableRows]:
    """A batch as per-table inserts (tables without rows left out)."""
    tables = [
        TableRows(
            EDGE_WINDOWS, EDGE_WINDOW_COLUMNS, [edge_window_values(r) for r in batch.edge_windows]
        ),
        TableRows(
            REQUESTS,
            REQUEST_COLUMNS,
            _request_rows(batch.requests),
        ),
        TableRows(PROXY_LOSSES, LOSS_COLUMNS, [loss_values(r) for r in batch.losses]),
        TableRows(
            TCP_CONNECTIONS,
            CONNECTION_COLUMNS,
            [connection_values(r) for r in batch.connections],
        ),
    ]
    return [t for t in tables if t.rows]
