"""Every Grafana panel's SQL, expanded as the plugin does, over tables the real pipeline filled."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from grafana_sql import (
    TABLES,
    PanelQuery,
    QueryContext,
    VariableValue,
    constants,
    expand,
    load,
    panel_queries,
    variables,
    with_database,
)
from streams_procs import (
    WorkerProc,
    clickhouse_url,
    stored_loss_events,
    stored_request_total,
    stored_requests,
    wait_for,
)

from bench.generate import GeneratorSpec, Msg, Truth, aligned_start_s, generate, produce
from meshpipe.deploy.dev.clickhouse import ClickHouseSettings
from meshpipe.deploy.kafka.topics import TopicSet, temporary_topics
from meshpipe.deploy.mesh.grafana import dashboards
from meshpipe.schemas.topics import REQUESTS
from meshpipe.sinks.client import ChdbClient, ClickHouseClient, NativeClient
from meshpipe.sinks.migrations import apply_migrations
from meshpipe.sinks.query import Selection, StatQuery, stat

pytestmark = pytest.mark.integration

WINDOW_S = 10
SPEC_WINDOWS = 6
INTERVAL_MS = 20_000  # Grafana's $__interval: two 10 s windows per point
# The variable values the test picks; each must be among the options the variable query lists.
CHOSEN: dict[str, str] = {
    "namespace": "emojivoto",
    "workload": "web",
    "direction": "in",
    "source": "emojivoto/deployment/web",
    "destination": "emojivoto/deployment/emoji",
}
_PCT = ("p50_ms", "p95_ms", "p99_ms")
_STATS = ("total", "success_rate", "rps", *_PCT)
# The columns each panel returns, in order; a new panel fails the test until it is listed here.
EXPECTED_COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {
    ("meshpipe-top-line", "Global success rate"): ("success_rate",),
    ("meshpipe-top-line", "Request rate"): ("rps",),
    ("meshpipe-top-line", "Namespaces and workloads seen"): ("namespaces", "workloads"),
    ("meshpipe-top-line", "Events lost"): ("events_lost",),
    ("meshpipe-top-line", "Success rate over time"): ("time", "success_rate"),
    ("meshpipe-top-line", "Request rate over time"): ("time", "rps"),
    ("meshpipe-top-line", "Workloads"): ("namespace", "kind", "workload", *_STATS),
    ("meshpipe-namespace", "Workloads in ${namespace}"): ("kind", "workload", *_STATS),
    ("meshpipe-namespace", "Success rate by workload"): ("time", "workload", "success_rate"),
    ("meshpipe-namespace", "Request rate by workload"): ("time", "workload", "rps"),
    ("meshpipe-namespace", "P95 latency by workload"): ("time", "workload", "p95_ms"),
    ("meshpipe-workload", "Success rate (inbound)"): ("success_rate",),
    ("meshpipe-workload", "Request rate (inbound)"): ("rps",),
    ("meshpipe-workload", "Request rate (outbound)"): ("rps",),
    ("meshpipe-workload", "Inbound: who calls ${workload}"): ("source", *_STATS),
    ("meshpipe-workload", "Outbound: what ${workload} calls"): ("destination", *_STATS),
    ("meshpipe-workload", "Inbound success rate"): ("time", "success_rate"),
    ("meshpipe-workload", "Inbound request rate"): ("time", "rps"),
    ("meshpipe-workload", "Inbound latency"): ("time", *_PCT),
    ("meshpipe-edge", "Totals"): ("total", "failed", "http_4xx", "http_5xx", "grpc_failed"),
    ("meshpipe-edge", "Success rate"): ("time", "success_rate"),
    ("meshpipe-edge", "Request rate"): ("time", "rps"),
    ("meshpipe-edge", "Latency"): ("time", *_PCT),
    ("meshpipe-edge", "Throughput"): ("time", "sent_bytes_per_s", "received_bytes_per_s"),
    ("meshpipe-path", "Paths of ${workload}"): (
        "path",
        "total",
        "failed",
        "error_rate",
        "rps",
        *_PCT,
    ),
    ("meshpipe-path", "Error rate by path"): ("time", "path", "error_rate"),
    ("meshpipe-path", "P95 latency by path"): ("time", "path", "p95_ms"),
    ("meshpipe-path", "Failures by path and reason"): (
        "path",
        "status",
        "grpc",
        "reset",
        "error",
        "reason",
        "failed",
    ),
}


def _all_dashboards() -> dict[str, dict[str, Any]]:
    found = [load(text) for text in dashboards().values()]
    return {str(d["uid"]): d for d in found}


DASHBOARDS = _all_dashboards()
PANELS = [q for d in DASHBOARDS.values() for q in panel_queries(d)]


@dataclass(frozen=True)
class Filled:
    """The same pipeline output on the real server and copied into chdb."""

    truth: Truth
    start_s: int
    server: NativeClient
    server_db: str
    chdb: ChdbClient
    chdb_db: str

    def engine(self, name: str) -> tuple[ClickHouseClient, str]:
        return (self.server, self.server_db) if name == "18.16" else (self.chdb, self.chdb_db)

    @property
    def from_ms(self) -> int:
        return (self.start_s - 60) * 1000

    @property
    def to_ms(self) -> int:
        return (self.start_s + (SPEC_WINDOWS + 6) * WINDOW_S) * 1000


def _run_pipeline(
    kafka: str, settings: ClickHouseSettings, db: str, workdir: Path
) -> tuple[Truth, int]:
    """Produce synthetic events, run a real worker until every event is stored, stop it."""
    start_s = aligned_start_s(WINDOW_S, SPEC_WINDOWS + 4, time.time())
    spec = GeneratorSpec(
        3000, start_s, SPEC_WINDOWS, WINDOW_S, skip_every=97, late_fraction=0.0, seed=11
    )
    events, truth = generate(spec)
    url = clickhouse_url(settings.url(), db)
    with temporary_topics(kafka, f"g{uuid.uuid4().hex[:10]}.") as topics:
        _ingest(
            kafka,
            topics,
            WorkerProc(kafka, url, topics.prefix, f"grafana-{db}", workdir),
            settings,
            db,
            events,
            truth,
        )
    return truth, start_s


def _ingest(
    kafka: str,
    topics: TopicSet,
    worker: WorkerProc,
    settings: ClickHouseSettings,
    db: str,
    events: list[Msg],
    truth: Truth,
) -> None:
    """Run the worker until every produced event is stored, then stop it."""
    try:
        worker.start()
        asyncio.run(produce(kafka, topics.name(REQUESTS), events))
        with NativeClient(settings.url()) as client:
            wait_for(
                lambda: (
                    stored_request_total(client, db),
                    stored_requests(client, db),
                    stored_loss_events(client, db),
                ),
                lambda got: got[:2] == (truth.events, truth.events) and got[2] >= truth.events,
                120,
                "every event in edge_windows, requests and proxy_losses",
            )
    finally:
        worker.stop()


def _copy_tables(source: ClickHouseClient, source_db: str, target: ChdbClient, db: str) -> None:
    """Every row as stored (not deduplicated), so FINAL has the same work to do on chdb."""
    for table in TABLES:
        columns = [str(r[0]) for r in source.execute(f"DESCRIBE TABLE {source_db}.{table}")]
        rows = source.execute(f"SELECT {', '.join(columns)} FROM {source_db}.{table}")
        target.insert(f"{db}.{table}", columns, rows)


@pytest.fixture(scope="module")
def filled(
    kafka_bootstrap: str,
    clickhouse_settings: ClickHouseSettings,
    chdb_session: ChdbClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Filled]:
    server_db = f"test_{uuid.uuid4().hex[:12]}"
    chdb_db = f"test_{uuid.uuid4().hex[:12]}"
    with NativeClient(clickhouse_settings.url()) as server:
        server.execute(f"CREATE DATABASE {server_db}")
        chdb_session.execute(f"CREATE DATABASE {chdb_db}")
        try:
            apply_migrations(server, server_db)
            apply_migrations(chdb_session, chdb_db)
            workdir = tmp_path_factory.mktemp("grafana-worker")
            truth, start_s = _run_pipeline(kafka_bootstrap, clickhouse_settings, server_db, workdir)
            _copy_tables(server, server_db, chdb_session, chdb_db)
            yield Filled(truth, start_s, server, server_db, chdb_session, chdb_db)
        finally:
            server.execute(f"DROP DATABASE IF EXISTS {server_db}")
            chdb_session.execute(f"DROP DATABASE IF EXISTS {chdb_db}")


# --- running a dashboard query as Grafana would ---------------------------------------------


def _context(filled: Filled, values: Mapping[str, VariableValue]) -> QueryContext:
    return QueryContext(filled.from_ms, filled.to_ms, INTERVAL_MS, values)


def _custom_values(query: str) -> list[str]:
    """Values of a custom variable: `text : value` pairs (or bare values), comma-separated."""
    return [part.split(" : ")[-1].strip() for part in query.split(",")]


def _resolve_variables(
    dashboard: Mapping[str, Any], filled: Filled, engine: str
) -> dict[str, VariableValue]:
    """Every variable's value: query variables run (in order) and must list the chosen value."""
    client, db = filled.engine(engine)
    values: dict[str, VariableValue] = dict(constants(dashboard))
    for variable in variables(dashboard):
        if variable.type == "query":
            sql = with_database(expand(variable.query, _context(filled, values)), db)
            options = [str(row[0]) for row in client.execute(sql)]
            assert CHOSEN[variable.name] in options, (variable.name, options)
            values[variable.name] = CHOSEN[variable.name]
        elif variable.type == "custom":
            assert CHOSEN[variable.name] in _custom_values(variable.query)
            values[variable.name] = CHOSEN[variable.name]
    return values


def _run_panel(query: PanelQuery, filled: Filled, engine: str) -> tuple[list[str], list[Any]]:
    """The panel's column names and rows on the engine."""
    client, db = filled.engine(engine)
    values = _resolve_variables(DASHBOARDS[query.dashboard], filled, engine)
    sql = with_database(expand(query.raw_sql, _context(filled, values)), db)
    columns = [str(row[0]) for row in client.execute(f"DESCRIBE TABLE ({sql})")]
    return columns, client.execute(sql)


def _check_value(column: str, value: Any, filled: Filled) -> None:
    """Sanity of one value by what its column means."""
    if column in ("success_rate", "error_rate"):
        assert 0.0 <= float(value) <= 1.0, (column, value)
    elif column.endswith("_ms") or column == "rps" or column.endswith("_per_s"):
        assert math.isfinite(float(value)), (column, value)
        assert float(value) > 0, (column, value)
    elif column == "time":
        moment = value.timestamp()
        assert filled.from_ms / 1000 - INTERVAL_MS / 1000 <= moment <= filled.to_ms / 1000
    elif column in ("total", "failed", "namespaces", "workloads"):
        assert int(value) > 0, (column, value)


def _panel_id(query: PanelQuery) -> str:
    return f"{query.dashboard}/{query.panel}"


def test_every_panel_has_its_expected_columns_listed() -> None:
    listed = {(q.dashboard, q.panel) for q in PANELS}
    assert listed == set(EXPECTED_COLUMNS)


@pytest.mark.parametrize("engine", ["chdb", "18.16"])
@pytest.mark.parametrize("query", PANELS, ids=_panel_id)
def test_panel_returns_expected_columns_and_sensible_rows(
    query: PanelQuery, engine: str, filled: Filled
) -> None:
    columns, rows = _run_panel(query, filled, engine)
    assert tuple(columns) == EXPECTED_COLUMNS[(query.dashboard, query.panel)]
    assert rows, f"{query.name} returned no rows on {engine}"
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            _check_value(column, value, filled)


# --- panels against the known truth ----------------------------------------------------------


def _single(dashboard: str, panel: str) -> PanelQuery:
    return next(q for q in PANELS if (q.dashboard, q.panel) == (dashboard, panel))


def _inbound(truth: Truth) -> tuple[int, int]:
    keys = [k for k in truth.edges if k[1] == "in"]
    total = truth.total(keys)
    return total.requests, total.successes


@pytest.mark.parametrize("engine", ["chdb", "18.16"])
def test_top_line_success_rate_and_rate_equal_the_truth(engine: str, filled: Filled) -> None:
    requests, successes = _inbound(filled.truth)
    _, rate_rows = _run_panel(_single("meshpipe-top-line", "Global success rate"), filled, engine)
    _, rps_rows = _run_panel(_single("meshpipe-top-line", "Request rate"), filled, engine)
    seconds = (filled.to_ms - filled.from_ms) // 1000
    assert float(rate_rows[0][0]) == pytest.approx(successes / requests, rel=1e-12)
    assert float(rps_rows[0][0]) == pytest.approx(requests / seconds, rel=1e-12)


@pytest.mark.parametrize("engine", ["chdb", "18.16"])
def test_top_line_counts_namespaces_workloads_and_lost_events(engine: str, filled: Filled) -> None:
    _, seen = _run_panel(
        _single("meshpipe-top-line", "Namespaces and workloads seen"), filled, engine
    )
    _, lost = _run_panel(_single("meshpipe-top-line", "Events lost"), filled, engine)
    assert tuple(int(v) for v in seen[0]) == (1, 4)  # emojivoto: web, emoji, voting, vote-bot
    assert int(lost[0][0]) == sum(filled.truth.lost.values()) > 0


@pytest.mark.parametrize("engine", ["chdb", "18.16"])
def test_workload_percentiles_equal_meshstat(engine: str, filled: Filled) -> None:
    _, rows = _run_panel(_single("meshpipe-top-line", "Workloads"), filled, engine)
    window = StatQuery(
        Selection("all", (), None),
        start_s=filled.from_ms / 1000,
        end_s=filled.to_ms / 1000 + 1,  # the macro's upper bound is inclusive
    )
    expected = {r.name: r for r in stat(filled.server, filled.server_db, window)}
    assert sorted(str(r[2]) for r in rows) == sorted(expected)
    for row in rows:
        want = expected[str(row[2])]
        got = [float(v) for v in row[6:9]]
        assert got == pytest.approx(
            [want.latency_ms_p50, want.latency_ms_p95, want.latency_ms_p99], rel=1e-9
        )
        assert int(row[3]) == want.requests


@pytest.mark.parametrize("engine", ["chdb", "18.16"])
def test_edge_totals_equal_the_truth(engine: str, filled: Filled) -> None:
    _, rows = _run_panel(_single("meshpipe-edge", "Totals"), filled, engine)
    keys = [k for k in filled.truth.edges if k[1:] == ("in", "web", "emoji")]
    want = filled.truth.total(keys)
    expected = (want.requests, want.failures, want.status_4xx, want.status_5xx, want.grpc_failures)
    assert tuple(int(v) for v in rows[0]) == expected


@pytest.mark.parametrize("engine", ["chdb", "18.16"])
def test_path_table_counts_every_inbound_request_of_the_workload(
    engine: str, filled: Filled
) -> None:
    _, rows = _run_panel(_single("meshpipe-path", "Paths of ${workload}"), filled, engine)
    keys = [k for k in filled.truth.edges if k[1] == "in" and k[3] == "web"]
    want = filled.truth.total(keys)
    assert sum(int(r[1]) for r in rows) == want.requests
    assert sum(int(r[2]) for r in rows) == want.failures
    assert all(str(r[0]).startswith("/api/web/") for r in rows)


def test_rate_series_points_lie_on_the_interval_and_add_up_to_the_requests(filled: Filled) -> None:
    _, rows = _run_panel(_single("meshpipe-top-line", "Request rate over time"), filled, "chdb")
    step = timedelta(milliseconds=INTERVAL_MS).total_seconds()
    assert all(row[0].timestamp() % step == 0 for row in rows)
    assert round(sum(float(row[1]) * step for row in rows)) == _inbound(filled.truth)[0]
