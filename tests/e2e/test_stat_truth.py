"""End to end: generated events → Kafka → a real worker → ClickHouse → `meshstat -o json`
subprocesses report exactly the generator's truth for the server side, --from and --to."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_stack import Pipeline
from integration.streams_procs import (
    stored_loss_events,
    stored_request_total,
    stored_requests,
    wait_for,
)

from bench.generate import (
    GeneratorSpec,
    Truth,
    TruthKey,
    aligned_start_s,
    generate,
    produce,
)
from meshpipe.schemas.durations import format_time
from meshpipe.schemas.topics import REQUESTS

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
NS = "emojivoto"
WINDOW_S, WINDOWS = 10, 4
# Ends two windows before the current one, so every window is closed and safely in the past.
SPEC = GeneratorSpec(
    events=3_000,
    start_s=aligned_start_s(WINDOW_S, WINDOWS + 2, time.time()),
    windows=WINDOWS,
    window_s=WINDOW_S,
    skip_every=53,  # some lost events, so events_lost has something to count
    seed=11,
)
START_S = SPEC.start_s
END_S = START_S + WINDOWS * WINDOW_S

Counts = dict[str, tuple[int, int, int, int]]  # name -> requests, successes, 4xx, 5xx


@pytest.fixture(scope="module")
def truth(pipeline: Pipeline) -> Truth:
    """The generated events, produced once and stored by the module's worker."""
    events, known = generate(SPEC)
    asyncio.run(produce(pipeline.kafka, pipeline.topics.name(REQUESTS), events))
    client, db = pipeline.client, pipeline.database
    wait_for(
        lambda: (
            stored_request_total(client, db),
            stored_requests(client, db),
            stored_loss_events(client, db),
        ),
        lambda stored: min(stored) >= known.events,
        120,
        f"{known.events} events in the edge windows, requests and loss rows",
        interval_s=0.5,
    )
    return known


def _meshstat(pipeline: Pipeline, *args: str, since: int = START_S, until: int = END_S) -> Any:
    """The parsed `-o json` output of a meshstat subprocess over [since, until)."""
    argv = [
        str(BIN / "meshstat"),
        *args,
        "-n",
        NS,
        "-o",
        "json",
        "--since",
        format_time(since),
        "--until",
        format_time(until),
        "--clickhouse",
        pipeline.reader_url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _counts(rows: list[dict[str, Any]], since: int = START_S, until: int = END_S) -> Counts:
    assert {(r["start"], r["end"]) for r in rows} == {(format_time(since), format_time(until))}
    assert all(r["namespace"] == NS and r["kind"] == "deployment" for r in rows)
    return {
        r["name"]: (r["requests"], r["successes"], r["status_4xx"], r["status_5xx"]) for r in rows
    }


def _truth_counts(
    truth: Truth, keep: Callable[[TruthKey], bool], group: Callable[[TruthKey], str]
) -> Counts:
    keys: dict[str, list[TruthKey]] = {}
    for key in truth.edges:
        if keep(key):
            keys.setdefault(group(key), []).append(key)
    counts = {}
    for name, chosen in keys.items():
        total = truth.total(chosen)
        counts[name] = (total.requests, total.successes, total.status_4xx, total.status_5xx)
    return counts


def _lost(truth: Truth, prefix: str) -> int:
    return sum(lost for proxy, lost in truth.lost.items() if proxy.startswith(prefix))


def _check_success_and_rps(rows: list[dict[str, Any]], seconds: int) -> None:
    for row in rows:
        assert row["success"] == pytest.approx(row["successes"] / row["requests"])
        assert row["failures"] == row["requests"] - row["successes"]
        assert row["rps"] == pytest.approx(row["requests"] / seconds)


def test_server_side_equals_the_inbound_truth(pipeline: Pipeline, truth: Truth) -> None:
    rows = _meshstat(pipeline, "deploy")
    expected = _truth_counts(truth, lambda k: k[1] == "in", lambda k: k[3])
    assert _counts(rows) == expected
    assert set(expected) == {"web", "emoji", "voting"}
    _check_success_and_rps(rows, END_S - START_S)
    lost = {r["name"]: r["events_lost"] for r in rows}
    assert lost == {name: _lost(truth, f"{name}-in-") for name in expected}
    assert any(lost.values())


def test_server_side_over_part_of_the_range_counts_only_its_windows(
    pipeline: Pipeline, truth: Truth
) -> None:
    since, until = START_S + WINDOW_S, START_S + 3 * WINDOW_S
    rows = _meshstat(pipeline, "deploy", since=since, until=until)
    expected = _truth_counts(
        truth, lambda k: k[1] == "in" and since <= k[0] < until, lambda k: k[3]
    )
    assert _counts(rows, since, until) == expected
    _check_success_and_rps(rows, until - since)


def test_from_equals_the_outbound_truth_of_the_source_by_destination(
    pipeline: Pipeline, truth: Truth
) -> None:
    rows = _meshstat(pipeline, "deploy", "--from", "deploy/web")
    expected = _truth_counts(truth, lambda k: k[1] == "out" and k[2] == "web", lambda k: k[3])
    assert _counts(rows) == expected
    assert set(expected) == {"emoji", "voting"}
    _check_success_and_rps(rows, END_S - START_S)
    assert {r["events_lost"] for r in rows} == {_lost(truth, "web-out-")}


@pytest.mark.parametrize(("target", "caller"), [("emoji", "web"), ("web", "vote-bot")])
def test_to_equals_the_callers_outbound_truth_by_caller(
    pipeline: Pipeline, truth: Truth, target: str, caller: str
) -> None:
    rows = _meshstat(pipeline, "deploy", "--to", f"deploy/{target}")
    expected = _truth_counts(truth, lambda k: k[1] == "out" and k[3] == target, lambda k: k[2])
    assert _counts(rows) == expected
    assert set(expected) == {caller}
    _check_success_and_rps(rows, END_S - START_S)
    assert {r["events_lost"] for r in rows} == {_lost(truth, f"{caller}-out-")}
