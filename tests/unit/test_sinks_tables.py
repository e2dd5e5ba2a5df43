"""Row -> column values conversion of sinks.tables (column order, plain types for the clients)."""

from __future__ import annotations

import dataclasses

from sinks_rows import connections, edge, loss, request

from meshpipe.schemas.rows import RowBatch
from meshpipe.sinks.tables import (
    CONNECTION_COLUMNS,
    EDGE_WINDOW_COLUMNS,
    LOSS_COLUMNS,
    REQUEST_COLUMNS,
    TCP_CONNECTIONS,
    batch_columns,
    batch_tables,
    connection_values,
    edge_window_values,
    loss_values,
    request_values,
    utc_datetime,
)


def _expected(row: object, columns: tuple[str, ...], skip: int) -> list[object]:
    """Each column's row field, bool as 0/1 and tuple as list, after `skip` leading columns."""
    plain: list[object] = []
    for name in columns[skip:]:
        value = getattr(row, name)
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, tuple):
            value = list(value)
        plain.append(value)
    return plain


def test_request_values_are_the_start_second_then_the_row_as_it_is() -> None:
    row = request(7)._replace(
        source_meshed=True,
        destination_meshed=False,
        tls=True,
        header_names=("a", "b"),
        header_values=("1", "2"),
        start_us=1_700_000_000_123_456,
    )
    values = request_values(row)
    assert len(values) == len(REQUEST_COLUMNS)
    assert values[0] == utc_datetime(1_700_000_000)
    assert list(values[1:]) == [getattr(row, name) for name in REQUEST_COLUMNS[1:]]
    assert values[REQUEST_COLUMNS.index("header_names")] == ("a", "b")


def test_edge_window_values_follow_columns_with_bools_as_ints_and_arrays_as_lists() -> None:
    row = dataclasses.replace(
        edge(3), source_meshed=True, latency_buckets=(1, 4), latency_counts=(2, 5)
    )
    values = edge_window_values(row)
    assert values[0] == utc_datetime(row.window_start_s)
    assert list(values[1:]) == _expected(row, EDGE_WINDOW_COLUMNS, 1)
    assert type(values[EDGE_WINDOW_COLUMNS.index("source_meshed")]) is int
    assert values[EDGE_WINDOW_COLUMNS.index("latency_counts")] == [2, 5]


def test_loss_values_follow_columns() -> None:
    row = loss(5)
    values = loss_values(row)
    assert values[0] == utc_datetime(row.window_start_s)
    assert list(values[1:]) == _expected(row, LOSS_COLUMNS, 1)


def test_connection_values_follow_columns_with_bools_as_ints() -> None:
    row = connections(4, source_meshed=False)
    values = connection_values(row)
    assert values[0] == utc_datetime(row.window_start_s)
    assert list(values[1:]) == _expected(row, CONNECTION_COLUMNS, 1)
    assert values[CONNECTION_COLUMNS.index("source_meshed")] == 0


def test_a_batch_with_connection_rows_inserts_them_into_tcp_connections() -> None:
    [table] = batch_tables(RowBatch(connections=(connections(1), connections(2))))
    assert (table.table, table.columns, len(table.rows)) == (TCP_CONNECTIONS, CONNECTION_COLUMNS, 2)


def test_a_batch_converts_each_request_as_request_values_does() -> None:
    rows = tuple(
        request(k)._replace(start_us=1_700_000_000_000_000 + k * 400_000) for k in range(6)
    )
    [table] = batch_tables(RowBatch(requests=rows))
    assert table.rows == [request_values(row) for row in rows]


def test_batch_columns_are_batch_tables_turned_into_columns_with_start_time_as_seconds() -> None:
    rows = tuple(
        request(k)._replace(start_us=-1_500_000 + k * 700_000_000_000_000) for k in range(4)
    )
    whole = RowBatch(edge_windows=(edge(1), edge(2)), requests=rows, losses=(loss(1),))
    by_rows = {t.table: t for t in batch_tables(whole)}
    by_columns = batch_columns(whole)
    assert [t.table for t in by_columns] == ["edge_windows", "proxy_losses", "requests"]
    for table in by_columns:
        expected = by_rows[table.table]
        assert (table.columns, table.rows) == (expected.columns, len(expected.rows))
        turned = [list(row) for row in zip(*table.data, strict=True)]
        if table.table == "requests":  # Unix seconds (floor) where the rows hold a datetime
            assert [row[0] for row in turned] == [r.start_us // 1_000_000 for r in rows]
            assert turned[0][0] == -2
            assert [row[1:] for row in turned] == [list(r[1:]) for r in expected.rows]
        else:
            assert turned == [list(r) for r in expected.rows]


def test_table_columns_are_cut_into_blocks_of_at_most_max_rows() -> None:
    [table] = batch_columns(RowBatch(requests=tuple(request(k) for k in range(5))))
    blocks = table.slices(2)
    assert [len(block[0]) for block in blocks] == [2, 2, 1]
    assert all(len(block) == len(REQUEST_COLUMNS) for block in blocks)
    assert [v for block in blocks for v in block[2]] == table.data[2]
    assert table.slices(5) == [table.data]
