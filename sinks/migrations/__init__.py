"""Versioned ClickHouse schema, rendered per server version and applied idempotently.

Facts verified by running the queries (clickhouse-driver against Debian's 18.16.1 server, and
chdb 4.4 = engine 26.9.2.1):

Works on 18.16 (and 26.9):
  ReplacingMergeTree(ver) + `SELECT ... FINAL`; argMax/argMin/anyLast; Nullable(T) columns (also
  in a MergeTree with ORDER BY tuple()); Array(T), arrayJoin, arrayMap with lambdas, groupArray;
  sumMap / sumMapState / sumMapMerge (sparse histograms as parallel key/value arrays);
  quantilesExact, quantileExactWeighted, quantilesExactWeighted, quantileTDigest; uniqExact;
  countIf/sumIf; AggregatingMergeTree with AggregateFunction(...); SummingMergeTree;
  PARTITION BY toYYYYMMDD(ts) + `ALTER TABLE ... DROP PARTITION`; ALTER ... DELETE; ALTER ADD
  COLUMN; OPTIMIZE ... FINAL; DateTime('UTC') columns; Decimal; UUID; Enum8; FixedString;
  Tuple; Nested; LIMIT n BY; `WITH 1 AS x` scalar aliases; `SETTINGS` at the end of a query;
  toStartOfMinute / toStartOfFiveMinute / toStartOfFifteenMinutes / toStartOfHour;
  parseDateTimeBestEffort; visitParamExtractString; IPv4StringToNum; JOIN ... USING / ON.
Missing on 18.16 (present on 26.9):
  toStartOfInterval, toStartOfTenMinutes (use `toDateTime(intDiv(toUInt32(ts), 10) * 10)`);
  DateTime64, now64, toUnixTimestamp64Milli (store milliseconds as UInt64/Int64 instead);
  Map(K, V) (use parallel Array columns); LowCardinality columns (only behind an experimental
  setting); column CODECs; TTL (table and column); Bool; Int128; IPv4 type/toIPv4;
  JSONExtract*; SimpleAggregateFunction; CTEs `WITH x AS (SELECT ...)`; ILIKE; ORDER BY ...
  WITH FILL; `GROUP BY 1` positional (it groups by the constant 1); ADD COLUMN IF NOT EXISTS.
Other differences:
  clickhouse-driver's inline `INSERT ... VALUES (1)` hangs on 18.16: always insert through
  `client.insert()` (native blocks). Read-only users (readonly=1) get code 164 for any write,
  DDL or SET. Where TTL exists, rows already past it vanish on insert or at the next merge
  (at random in tests), whereas 18.16 keeps them until a partition is dropped: test data must
  lie within the TTL. chdb allows one embedded path per process and reads ./config.xml from its cwd.

Adding a migration (e.g. for the edge windows table) — append to `versions.MIGRATIONS`:

    def _0002_edge_windows(d: Dialect, db: str) -> list[str]:
        return [f'''CREATE TABLE IF NOT EXISTS {db}.edge_windows (
            window_start DateTime('UTC'),
            src {d.low_cardinality("String")},
            requests UInt64{d.codec("T64, ZSTD(1)")},
            version UInt64
        ) ENGINE = ReplacingMergeTree(version)
        PARTITION BY toYYYYMMDD(window_start)
        ORDER BY (src, window_start)
        {d.ttl("window_start + INTERVAL 30 DAY")}''']

    MIGRATIONS = (..., Migration(2, "edge_windows", _0002_edge_windows))

Never edit an applied migration; add a new one. Statements must be idempotent (IF NOT EXISTS).
"""

from __future__ import annotations

from meshpipe.sinks.migrations.dialect import Dialect
from meshpipe.sinks.migrations.runner import (
    applied_versions,
    apply_migrations,
    pending_migrations,
    render_migration,
)
from meshpipe.sinks.migrations.versions import MIGRATIONS, MIGRATIONS_TABLE, Migration

__all__ = [
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "Dialect",
    "Migration",
    "applied_versions",
    "apply_migrations",
    "pending_migrations",
    "render_migration",
]
