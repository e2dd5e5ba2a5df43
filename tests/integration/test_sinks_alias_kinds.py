"""Rows stored with a kubectl alias as their kind (`deploy`, from a proxy started with
`--workload ns/deploy/web` before kinds were made canonical) are found and merged by meshstat's
canonical kinds, on 18.16 and on chdb."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from sinks_rows import edge, loss

from meshpipe.schemas.rows import RowBatch
from meshpipe.sinks.client import ChdbClient, ClickHouseClient, NativeClient
from meshpipe.sinks.migrations import apply_migrations
from meshpipe.sinks.query import EdgeMode, Peer, Selection, StatQuery, resource_names, stat
from meshpipe.sinks.tables import batch_tables

pytestmark = pytest.mark.integration

WINDOW_S = 10
BASE_S = (int(time.time()) // 60) * 60 - 600
EDGE = edge(
    0,
    window_start_s=BASE_S,
    requests=3,
    successes=3,
    latency_sum_us=3000,
    duration_sum_us=4500,
    latency_counts=(3,),
    duration_counts=(3,),
)
OLD = replace(  # the same edge, stored by an older proxy as shop/deploy/...
    EDGE,
    first_offset=1,
    version=1,
    source="shop/deploy/web",
    source_kind="deploy",
    destination="shop/deploy/api",
    destination_kind="deploy",
    requests=2,
    successes=1,
    failures=1,
    status_5xx=1,
    latency_counts=(2,),
    duration_counts=(2,),
)
OUT = replace(EDGE, direction="out", first_offset=2, version=2)
OLD_OUT = replace(OLD, direction="out", first_offset=3, version=3)
LOSS = loss(
    1,
    window_start_s=BASE_S,
    proxy_id="api-1-old",
    events=2,
    seq_min=1,
    seq_max=4,
    proxy_kind="deployments",
)
RANGE = {"start_s": float(BASE_S), "end_s": float(BASE_S + WINDOW_S)}


@pytest.fixture(params=["18.16", "chdb"])
def db(
    request: pytest.FixtureRequest,
    clickhouse_db: tuple[NativeClient, str],
    chdb_db: tuple[ChdbClient, str],
) -> tuple[ClickHouseClient, str]:
    client, name = clickhouse_db if request.param == "18.16" else chdb_db
    apply_migrations(client, name)
    rows = RowBatch(edge_windows=(EDGE, OLD, OUT, OLD_OUT), losses=(LOSS,))
    for table in batch_tables(rows):
        client.insert(f"{name}.{table.table}", table.columns, table.rows)
    return client, name


def test_server_side_rows_of_both_spellings_merge_into_one_deployment(
    db: tuple[ClickHouseClient, str],
) -> None:
    [api] = stat(*db, StatQuery(Selection("deployment", (), "shop"), **RANGE))  # type: ignore[arg-type]
    assert (api.kind, api.name, api.requests, api.failures) == ("deployment", "api", 5, 1)
    assert api.events_lost == 2  # seq 1..4, 2 events seen: the loss row's kind was `deployments`


def test_from_and_to_find_the_alias_rows_too(db: tuple[ClickHouseClient, str]) -> None:
    web = Peer("deployment", "web", "shop")
    [row] = stat(
        *db,
        StatQuery(Selection("deployment", (), "shop"), EdgeMode.FROM, web, **RANGE),  # type: ignore[arg-type]
    )
    assert (row.kind, row.name, row.requests) == ("deployment", "api", 5)


def test_completion_names_the_alias_rows_under_the_canonical_kind(
    db: tuple[ClickHouseClient, str],
) -> None:
    client, name = db
    legacy = replace(OLD, first_offset=9, version=9, destination="shop/deploy/legacy")
    legacy = replace(legacy, destination_name="legacy")
    for table in batch_tables(RowBatch(edge_windows=(legacy,))):
        client.insert(f"{name}.{table.table}", table.columns, table.rows)
    assert resource_names(client, name, "deployment", "shop") == ["api", "legacy", "web"]
