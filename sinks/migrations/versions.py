"""The ordered list of schema migrations; each renders its DDL for one server dialect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from meshpipe.sinks.migrations.dialect import Dialect

MIGRATIONS_TABLE = "schema_migrations"


@dataclass(frozen=True)
class Migration:
    """One schema step: render(dialect, database) returns idempotent statements, in order."""

    version: int
    name: str
    render: Callable[[Dialect, str], list[str]]


def _0001_init(dialect: Dialect, db: str) -> list[str]:
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}",
        f"""CREATE TABLE IF NOT EXISTS {db}.{MIGRATIONS_TABLE} (
    version UInt32,
    name String,
    applied_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree ORDER BY version""",
    ]


# Default retention (days) written as TTL where the server has it; `sinks.retention` changes it
# later (ALTER ... MODIFY TTL) or, on servers without TTL, drops whole day partitions.
DEFAULT_WINDOW_DAYS = 30
DEFAULT_REQUEST_DAYS = 7
DEFAULT_LOSS_DAYS = 30


def _peer_columns(d: Dialect, side: str) -> str:
    lc = d.low_cardinality("String")
    return f"""    {side} String,
    {side}_namespace {lc},
    {side}_kind {lc},
    {side}_name {lc},
    {side}_meshed UInt8,"""


def _0002_edge_windows(d: Dialect, db: str) -> list[str]:
    counter = f"UInt64{d.codec('T64, ZSTD(1)')}"
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.edge_windows (
    window_start DateTime('UTC'),
    window_s UInt32,
    direction {d.low_cardinality("String")},
{_peer_columns(d, "source")}
{_peer_columns(d, "destination")}
    partition UInt32,
    first_offset UInt64,
    version UInt64,
    requests {counter},
    successes {counter},
    failures {counter},
    status_4xx {counter},
    status_5xx {counter},
    grpc_failures {counter},
    request_bytes {counter},
    response_bytes {counter},
    latency_sum_us {counter},
    duration_sum_us {counter},
    latency_buckets Array(UInt16),
    latency_counts Array(UInt64),
    duration_buckets Array(UInt16),
    duration_counts Array(UInt64)
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, direction, destination, source, partition, first_offset)
{d.ttl(f"window_start + INTERVAL {DEFAULT_WINDOW_DAYS} DAY")}""",
    ]


def _request_peer_columns(d: Dialect, side: str) -> str:
    lc = d.low_cardinality("String")
    return f"""    {side}_namespace {lc},
    {side}_kind {lc},
    {side}_name {lc},
    {side}_pod String,
    {side}_ip String,
    {side}_port UInt16,
    {side}_meshed UInt8,
    {side}_authority String,"""


def _0002_requests(d: Dialect, db: str) -> list[str]:
    lc = d.low_cardinality("String")
    # Every column is a pure function of the Kafka record, so a replayed (partition, offset)
    # row equals the first in every column, sorting key included: it collapses although the
    # key leads with time and workload for the common queries.
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.requests (
    start_time DateTime('UTC'),
    start_us Int64,
    partition UInt32,
    offset UInt64,
    id String,
    proxy_id String,
    proxy_seq UInt64,
    direction {lc},
{_request_peer_columns(d, "source")}
{_request_peer_columns(d, "destination")}
    protocol {lc},
    method {lc},
    scheme {lc},
    authority String,
    path String,
    http_status UInt16,
    grpc_status Int32,
    reset_code Int64,
    error_kind {lc},
    error_message String,
    latency_us UInt64,
    duration_us UInt64,
    request_bytes UInt64,
    response_bytes UInt64,
    tls UInt8,
    trace_id String,
    classification {lc},
    classification_reason String,
    header_names Array(String),
    header_values Array(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(start_time)
ORDER BY (toStartOfHour(start_time), destination_namespace, destination_name, start_time,
          partition, offset)
{d.ttl(f"start_time + INTERVAL {DEFAULT_REQUEST_DAYS} DAY")}""",
    ]


def _0002_proxy_losses(d: Dialect, db: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.proxy_losses (
    window_start DateTime('UTC'),
    window_s UInt32,
    proxy_id String,
    partition UInt32,
    first_offset UInt64,
    version UInt64,
    events UInt64,
    duplicates UInt64,
    seq_min UInt64,
    seq_max UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, proxy_id, partition, first_offset)
{d.ttl(f"window_start + INTERVAL {DEFAULT_LOSS_DAYS} DAY")}""",
    ]


def _0002_stream_tables(d: Dialect, db: str) -> list[str]:
    return [*_0002_edge_windows(d, db), *_0002_requests(d, db), *_0002_proxy_losses(d, db)]


def _0003_loss_owners(d: Dialect, db: str) -> list[str]:
    """Which workload and pod each proxy belongs to, and which directions it reported."""
    lc = d.low_cardinality("String")
    columns = (
        ("proxy_namespace", lc, "''"),
        ("proxy_kind", lc, "''"),
        ("proxy_name", lc, "''"),
        ("proxy_pod", "String", "''"),
        ("proxy_directions", "UInt8", "0"),
    )
    adds = ", ".join(d.add_column(name, kind, default) for name, kind, default in columns)
    return [f"ALTER TABLE {db}.proxy_losses {adds}"]


def _0004_rollups(d: Dialect, db: str) -> list[str]:
    """Daily rollups of closed days and the raw state each was computed from (sinks.rollup).

    Plain MergeTree: every computation writes a complete set of rows under its own `rolled`
    id, and readers pick one computation per day, so nothing needs replacing.
    """
    counter = f"UInt64{d.codec('T64, ZSTD(1)')}"
    lc = d.low_cardinality("String")
    sums = ",\n".join(
        f"    {name} {counter}"
        for name in (
            "requests", "successes", "failures", "status_4xx", "status_5xx", "grpc_failures",
            "request_bytes", "response_bytes", "latency_sum_us", "duration_sum_us",
        )
    )  # fmt: skip
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.edge_days (
    day DateTime('UTC'),
    rolled UInt64,
    direction {lc},
{_peer_columns(d, "source")}
{_peer_columns(d, "destination")}
{sums},
    latency_buckets Array(UInt16),
    latency_counts Array(UInt64),
    duration_buckets Array(UInt16),
    duration_counts Array(UInt64)
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(day)
ORDER BY (day, rolled, direction, destination, source)
{d.ttl(f"day + INTERVAL {DEFAULT_WINDOW_DAYS} DAY")}""",
        f"""CREATE TABLE IF NOT EXISTS {db}.loss_days (
    day DateTime('UTC'),
    rolled UInt64,
    proxy_id String,
    proxy_namespace {lc},
    proxy_kind {lc},
    proxy_name {lc},
    proxy_pod String,
    proxy_directions UInt8,
    events UInt64,
    duplicates UInt64,
    seq_min UInt64,
    seq_max UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(day)
ORDER BY (day, rolled, proxy_id)
{d.ttl(f"day + INTERVAL {DEFAULT_LOSS_DAYS} DAY")}""",
        f"""CREATE TABLE IF NOT EXISTS {db}.rollup_sources (
    source {lc},
    day DateTime('UTC'),
    rolled UInt64,
    partition UInt32,
    version UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(day)
ORDER BY (source, day, rolled, partition)
{d.ttl(f"day + INTERVAL {max(DEFAULT_WINDOW_DAYS, DEFAULT_LOSS_DAYS)} DAY")}""",
    ]


def _0005_tcp_connections(d: Dialect, db: str) -> list[str]:
    """Connection reports of the proxies: per proxy, edge and 10 s report window, the latest
    open count (TCP_CONN) and the connections opened and closed (streams.connections)."""
    lc = d.low_cardinality("String")
    peers = "\n".join(
        f"""    {side} String,
    {side}_namespace {lc},
    {side}_kind {lc},
    {side}_name {lc},
    {side}_pod String,
    {side}_meshed UInt8,"""
        for side in ("source", "destination")
    )
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.tcp_connections (
    window_start DateTime('UTC'),
    report_us Int64,
    proxy_id String,
    direction {lc},
{peers}
    partition UInt32,
    first_offset UInt64,
    version UInt64,
    open_connections UInt32,
    opened UInt32,
    closed UInt32
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, direction, destination, source, proxy_id, partition, first_offset)
{d.ttl(f"window_start + INTERVAL {DEFAULT_WINDOW_DAYS} DAY")}""",
    ]


def _0006_request_batch_index(d: Dialect, db: str) -> list[str]:
    """Raw request rows keyed by their position in a batch record too (schemas.eventbatch): the
    events of one record share (partition, offset). Rows stored before read 0, which is what a
    one-event record's only event is. No DEFAULT: a column with a default expression may not
    join the sorting key (18.16 and newer)."""
    exists = "IF NOT EXISTS " if d.modern else ""
    return [
        f"""ALTER TABLE {db}.requests ADD COLUMN {exists}batch_index UInt32,
MODIFY ORDER BY (toStartOfHour(start_time), destination_namespace, destination_name, start_time,
                 partition, offset, batch_index)""",
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "init", _0001_init),
    Migration(2, "stream_tables", _0002_stream_tables),
    Migration(3, "loss_owners", _0003_loss_owners),
    Migration(4, "rollups", _0004_rollups),
    Migration(5, "tcp_connections", _0005_tcp_connections),
    Migration(6, "request_batch_index", _0006_request_batch_index),
)
