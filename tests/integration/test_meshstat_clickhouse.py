"""meshstat against the real ClickHouse server: rows with known truth in, numbers out, for the
server side, --from and --to, in JSON and as a table."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from sinks_truth import (
    API,
    BILLING,
    WEB,
    WINDOW_S,
    WINDOWS,
    Event,
    batch,
    generate,
    open_connections,
)
from unit.cli_run import Outcome, run_command
from unit.golden import GOLDEN, check_golden

from meshpipe.cli.completion import clickhouse_names
from meshpipe.cli.meshstat import StatEnv, meshstat
from meshpipe.cli.terminal import Terminal
from meshpipe.deploy.dev.clickhouse import ClickHouseSettings
from meshpipe.schemas.durations import format_time
from meshpipe.schemas.exits import ExitStatus
from meshpipe.schemas.identity import WorkloadId
from meshpipe.sinks.client import ClickHouseClient, NativeClient
from meshpipe.sinks.migrations import MIGRATIONS, apply_migrations
from meshpipe.sinks.tables import batch_tables

pytestmark = pytest.mark.integration

BASE_S = (int(time.time()) // 60) * 60 - 600  # recent: inside every TTL
TRUTH = generate(BASE_S)
START, END = float(BASE_S), float(BASE_S + WINDOWS * WINDOW_S)
RANGE = ["--since", format_time(START), "--until", format_time(END)]


def load(client: ClickHouseClient, db: str) -> None:
    """The schema and the truth's rows, as the stream workers would have written them."""
    apply_migrations(client, db)
    for table in batch_tables(batch(TRUTH)):
        client.insert(f"{db}.{table.table}", table.columns, table.rows)


@pytest.fixture
def url(clickhouse_db: tuple[NativeClient, str], clickhouse_settings: ClickHouseSettings) -> str:
    """The known rows in a fresh database, read as the read-only user meshstat defaults to."""
    load(*clickhouse_db)
    s = clickhouse_settings
    return f"clickhouse://meshpipe_ro@{s.host}:{s.tcp_port}/{clickhouse_db[1]}"


def _meshstat(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Outcome:
    argv = [*args, *RANGE, "--clickhouse", url]
    return run_command(capsys, "meshstat", meshstat, argv, StatEnv(terminal=Terminal()))


def _requests(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> dict[str, int]:
    outcome = _meshstat(capsys, url, *args, "-o", "json")
    assert outcome.status == ExitStatus.OK, outcome.err
    rows = json.loads(outcome.out)
    assert {(r["start"], r["end"]) for r in rows} == {(format_time(START), format_time(END))}
    return {f"{r['namespace']}/{r['name']}": r["requests"] for r in rows}


def _count(events: list[Event], side: str) -> dict[str, int]:
    names = Counter()
    for e in events:
        peer = getattr(e, side)
        assert isinstance(peer, WorkloadId)
        names[f"{peer.namespace}/{peer.name}"] += 1
    return dict(names)


def test_server_side_requests_equal_the_inbound_truth(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    inbound = [
        e
        for e in TRUTH.events
        if e.direction == "in"
        and isinstance(e.destination, WorkloadId)
        and e.destination.kind == "deployment"
        and e.destination.namespace == "shop"
    ]
    assert _requests(capsys, url, "deploy", "-n", "shop") == _count(inbound, "destination")


def test_from_requests_equal_the_outbound_truth_of_the_caller(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    outbound = [
        e
        for e in TRUTH.events
        if e.direction == "out" and e.source == WEB and isinstance(e.destination, WorkloadId)
    ]
    got = _requests(capsys, url, "deploy", "-A", "--from", "deploy/web", "--from-namespace", "shop")
    assert got == _count(outbound, "destination")
    assert set(got) == {f"{API.namespace}/{API.name}", f"{BILLING.namespace}/{BILLING.name}"}


def test_to_requests_equal_the_callers_truth(capsys: pytest.CaptureFixture[str], url: str) -> None:
    callers = [e for e in TRUTH.events if e.direction == "out" and e.destination == BILLING]
    got = _requests(capsys, url, "deploy", "-A", "--to", "deploy/billing", "--to-namespace", "pay")
    assert got == _count(callers, "source")


def test_json_carries_tcp_conn_as_the_number_of_open_connections(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    outcome = _meshstat(capsys, url, "deploy", "-n", "shop", "-o", "json")
    assert outcome.status == ExitStatus.OK, outcome.err
    got = {r["name"]: r["tcp_open_connections"] for r in json.loads(outcome.out)}
    assert all(isinstance(n, int) for n in got.values())
    assert got == open_connections(
        TRUTH,
        lambda g: g.direction == "in" and g.destination in (WEB, API),
        lambda g: g.destination.name,  # type: ignore[union-attr]
        END,
    )


def test_table_over_known_rows_matches_golden(capsys: pytest.CaptureFixture[str], url: str) -> None:
    outcome = _meshstat(capsys, url, "all", "-A", "-o", "wide")
    assert outcome.status == ExitStatus.OK, outcome.err
    check_golden(GOLDEN / "meshstat" / "clickhouse-all-wide.txt", outcome.out)


def test_a_range_without_traffic_says_so(capsys: pytest.CaptureFixture[str], url: str) -> None:
    argv = ["deploy", "-n", "nowhere", *RANGE, "--clickhouse", url]
    outcome = run_command(capsys, "meshstat", meshstat, argv, StatEnv(terminal=Terminal()))
    assert (outcome.status, outcome.out, outcome.err) == (0, "", "No traffic found.\n")


def test_a_database_without_the_schema_is_one_line_and_unavailable(
    capsys: pytest.CaptureFixture[str], clickhouse_settings: ClickHouseSettings
) -> None:
    s = clickhouse_settings
    url = f"clickhouse://meshpipe_ro@{s.host}:{s.tcp_port}/no_such_db_meshstat"
    outcome = run_command(
        capsys, "meshstat", meshstat, ["deploy", "--clickhouse", url], StatEnv(terminal=Terminal())
    )
    assert outcome.status == ExitStatus.UNAVAILABLE
    assert outcome.err.count("\n") == 1
    assert outcome.err.startswith("meshstat: ")


def test_a_schema_older_than_meshstat_says_to_migrate_in_one_line(
    capsys: pytest.CaptureFixture[str],
    clickhouse_db: tuple[NativeClient, str],
    clickhouse_settings: ClickHouseSettings,
) -> None:
    client, db = clickhouse_db
    apply_migrations(client, db, MIGRATIONS[:2])  # before the loss rows named their proxies
    s = clickhouse_settings
    url = f"clickhouse://meshpipe_ro@{s.host}:{s.tcp_port}/{db}"
    outcome = run_command(
        capsys, "meshstat", meshstat, ["deploy", "--clickhouse", url], StatEnv(terminal=Terminal())
    )
    assert outcome.status == ExitStatus.UNAVAILABLE
    assert outcome.err.count("\n") == 1
    assert "has an older meshpipe schema" in outcome.err
    assert "meshstreams migrate" in outcome.err


def test_completion_names_come_from_clickhouse(url: str) -> None:
    assert clickhouse_names(url, "shop")("deployment") == ["api", "web"]
