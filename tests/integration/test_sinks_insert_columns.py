"""The writer's columnar insert (sinks.tables.batch_columns + insert_columns) stores on the 18.16
server and on chdb exactly the rows the row insert stores, DateTime columns given as ints."""

from __future__ import annotations

import time

import pytest
from sinks_truth import batch, generate

from meshpipe.schemas.rows import RowBatch
from meshpipe.sinks.client import ChdbClient, ClickHouseClient, NativeClient
from meshpipe.sinks.migrations import apply_migrations
from meshpipe.sinks.tables import batch_columns, batch_tables

pytestmark = pytest.mark.integration

_READ = (
    "SELECT toUnixTimestamp(start_time), partition, offset, batch_index, proxy_id, proxy_seq,"
    " source_namespace, source_meshed, destination_name, http_status, grpc_status, start_us,"
    " latency_us, classification, header_names, header_values"
    " FROM {db}.requests FINAL ORDER BY partition, offset, batch_index"
)
_WINDOWS = (
    "SELECT toUnixTimestamp(window_start), source, destination, partition, first_offset, version,"
    " requests, latency_buckets, latency_counts FROM {db}.edge_windows FINAL"
    " ORDER BY source, destination, window_start, partition, first_offset, version"
)


def _store_rows(client: ClickHouseClient, db: str, rows: RowBatch) -> None:
    for table in batch_tables(rows):
        client.insert(f"{db}.{table.table}", table.columns, table.rows)


def _store_columns(client: ClickHouseClient, db: str, rows: RowBatch) -> None:
    for table in batch_columns(rows):
        for block in table.slices(100):  # several blocks per table, as the writer cuts them
            client.insert_columns(f"{db}.{table.table}", table.columns, block)


def _same_rows_both_ways(client: ClickHouseClient, db: str) -> None:
    apply_migrations(client, db)
    # Recent times: on the modern engine, rows past the retention TTL vanish at any merge.
    rows = batch(generate(int(time.time()) // 60 * 60 - 600, calls=300))
    assert len(rows.requests) > 100  # more than one block
    _store_columns(client, db, rows)
    by_columns = (client.execute(_READ.format(db=db)), client.execute(_WINDOWS.format(db=db)))
    for table in ("requests", "edge_windows", "proxy_losses", "tcp_connections"):
        client.execute(f"TRUNCATE TABLE {db}.{table}")
    _store_rows(client, db, rows)
    by_rows = (client.execute(_READ.format(db=db)), client.execute(_WINDOWS.format(db=db)))
    # Replacing tables, read FINAL (merges may run at any time): one row per key.
    assert len(by_columns[0]) == len(
        {(r.partition, r.offset, r.batch_index) for r in rows.requests}
    )
    assert by_columns == by_rows
    assert {r[0] for r in by_columns[0]} == {r.start_us // 1_000_000 for r in rows.requests}


def test_columns_store_what_rows_store_on_the_server(
    clickhouse_db: tuple[NativeClient, str],
) -> None:
    _same_rows_both_ways(*clickhouse_db)


def test_columns_store_what_rows_store_on_chdb(chdb_db: tuple[ChdbClient, str]) -> None:
    _same_rows_both_ways(*chdb_db)
