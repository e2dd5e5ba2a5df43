"""`meshstat edges`: options, Linkerd's table with the numbers added, and the verb."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from cli_run import Outcome, run_command
from golden import GOLDEN, check_golden
from test_meshstat_cli import NOW, FakeClock, FakeStore

from meshpipe.cli.meshstat import meshstat
from meshpipe.cli.meshstat_edges import render_edges
from meshpipe.cli.stat_env import StatEnv
from meshpipe.cli.terminal import Terminal
from meshpipe.schemas.exits import ExitStatus
from meshpipe.sinks.client import ClickHouseUrl
from meshpipe.sinks.edges import EdgeQuery, EdgeRow


def edge_row(src: str, dst: str, requests: int, successes: int, **ends: str) -> EdgeRow:
    return EdgeRow(
        src_namespace=ends.get("src_namespace", "emojivoto"),
        src_kind=ends.get("src_kind", "deployment"),
        src=src,
        dst_namespace=ends.get("dst_namespace", "emojivoto"),
        dst_kind=ends.get("dst_kind", "deployment"),
        dst=dst,
        requests=requests,
        successes=successes,
        success=successes / requests,
        rps=requests / 60,
        latency_ms_p99=48.0,
        start_s=NOW - 60,
        end_s=NOW,
    )


ROWS = [
    edge_row("vote-bot", "web", 120, 62),
    edge_row("voting", "emoji", 60, 31),
    edge_row("web", "voting", 60, 31),
    edge_row(
        "web",
        "authority=api.example.com,ip=93.184.216.34,port=443",
        6,
        6,
        dst_namespace="",
        dst_kind="",
    ),
]


@pytest.mark.parametrize(
    ("output", "mixed", "name"),
    [
        ("table", False, "edges.txt"),
        ("wide", False, "edges-wide.txt"),
        ("table", True, "edges-mixed-kinds.txt"),
    ],
)
def test_edges_render_as_linkerds_table(output: str, mixed: bool, name: str) -> None:
    text = render_edges(ROWS, output, Terminal(), mixed_kinds=mixed)
    check_golden(GOLDEN / "meshstat" / name, text)


def test_edges_render_as_json_and_say_they_are_not_secured() -> None:
    text = render_edges(ROWS, "json", Terminal())
    check_golden(GOLDEN / "meshstat" / "edges.json", text)
    assert {row["secured"] for row in json.loads(text)} == {False}


@dataclass
class FakeEdges:
    rows: list[EdgeRow]
    asked: list[EdgeQuery] = field(default_factory=list)

    def __call__(self, url: ClickHouseUrl, query: EdgeQuery) -> list[EdgeRow]:
        self.asked.append(query)
        return self.rows


def _run(capsys: pytest.CaptureFixture[str], args: Sequence[str], fake: FakeEdges) -> Outcome:
    env = StatEnv(clock=FakeClock(), fetch=FakeStore([]), fetch_edges=fake)
    return run_command(capsys, "meshstat", meshstat, list(args), env)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["edges"], EdgeQuery("default", "all", NOW - 60, NOW)),
        (
            ["edges", "deploy", "-n", "emojivoto"],
            EdgeQuery("emojivoto", "deployment", NOW - 60, NOW),
        ),
        (["edges", "-A", "-t", "1h"], EdgeQuery(None, "all", NOW - 3600, NOW)),
    ],
)
def test_the_edges_verb_asks_for_a_namespace_and_kind(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: EdgeQuery
) -> None:
    fake = FakeEdges(ROWS)
    outcome = _run(capsys, args, fake)
    assert outcome.status == ExitStatus.OK
    assert fake.asked == [expected]
    assert outcome.out.splitlines()[0].split()[:5] == ["SRC", "DST", "SRC_NS", "DST_NS", "SECURED"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["edges", "po"], "edges are kept per workload, not per pod"),
        (["edges", "svc"], "edges are kept per workload, not per service"),
        (["edges", "widgets"], 'unknown resource type "widgets"'),
        (["edges", "--since", "1h", "-t", "1m"], "mutually exclusive"),
    ],
)
def test_bad_edges_arguments_exit_with_usage_and_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    outcome = _run(capsys, args, FakeEdges(ROWS))
    assert outcome.status == ExitStatus.USAGE
    assert message in outcome.err
    assert outcome.err.count("\n") == 1


def test_no_edges_say_no_traffic_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(capsys, ["edges"], FakeEdges([]))
    assert (outcome.status, outcome.out, outcome.err) == (0, "", "No traffic found.\n")
