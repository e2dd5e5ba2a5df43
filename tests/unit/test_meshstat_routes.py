"""`meshstat routes`: naming and capping of grouped rows, options, output, and the verb."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from cli_run import Outcome, run_command
from golden import GOLDEN, check_golden
from test_meshstat_cli import NOW, FakeClock, FakeStore

from meshpipe.cli.meshstat import meshstat
from meshpipe.cli.meshstat_routes import render_routes
from meshpipe.cli.stat_env import StatEnv
from meshpipe.cli.terminal import Terminal
from meshpipe.schemas.exits import ExitStatus
from meshpipe.schemas.latency import bucket_index
from meshpipe.schemas.routes import OVERFLOW_ROUTE, RouteCap
from meshpipe.sinks.client import ClickHouseUrl
from meshpipe.sinks.query import EdgeMode, Peer, Selection
from meshpipe.sinks.routes import RouteQuery, RouteRow, route_rows, service_name

QUERY = RouteQuery(Selection("deployment", ("web",), "emojivoto"), start_s=NOW - 60, end_s=NOW)


def _hist(*latencies_us: int) -> tuple[list[int], list[int]]:
    counts: dict[int, int] = {}
    for value in latencies_us:
        counts[bucket_index(value)] = counts.get(bucket_index(value), 0) + 1
    return list(counts), list(counts.values())


def test_groups_of_one_template_are_summed_into_one_route() -> None:
    rows = [
        (0, "GET", "/users/1/orders", "10.0.0.6:8080", "web", 2, 2, _hist(1000, 2000)),
        (0, "GET", "/users/22/orders", "10.0.0.7:8080", "web", 1, 0, _hist(3000)),
    ]
    (row,) = route_rows(rows, QUERY)
    assert (row.route, row.service, row.requests, row.successes, row.failures) == (
        "GET /users/{id}/orders",
        "web",
        3,
        2,
        1,
    )


def test_services_come_from_the_authority_or_else_the_workload() -> None:
    assert service_name("web-svc.emojivoto.svc.cluster.local:80", "web") == "web-svc"
    assert service_name("10.0.0.7:8080", "web") == "web"
    assert service_name("[fd00::7]:8080", "web") == "web"
    assert service_name("", "") == "-"


def test_grpc_methods_are_routes_and_the_overflow_comes_last() -> None:
    rows = [
        (1, "POST", f"/emojivoto.v1.EmojiService/M{i}", "", "emoji", 10 - i, 10 - i, _hist(500))
        for i in range(5)
    ]
    query = RouteQuery(QUERY.selection, start_s=QUERY.start_s, end_s=QUERY.end_s, cap=RouteCap(3))
    result = route_rows(rows, query)
    assert [r.route for r in result] == [
        "/emojivoto.v1.EmojiService/M0",
        "/emojivoto.v1.EmojiService/M1",
        OVERFLOW_ROUTE,
    ]
    assert result[-1].requests == 8 + 7 + 6
    assert result[-1].service == "emoji"


def test_percentiles_come_from_the_merged_histograms() -> None:
    rows = [
        (0, "GET", "/a?x=1", "", "web", 99, 99, _hist(*[1000] * 99)),
        (0, "GET", "/a?x=2", "", "web", 1, 1, _hist(900_000)),
    ]
    (row,) = route_rows(rows, QUERY)
    assert (row.latency_ms_p50 or 0) < 1.2
    assert (row.latency_ms_p99 or 0) < 1.2
    assert row.latency_ms_p99 is not None
    assert row.rps == pytest.approx(100 / 60)


def route_row(route: str, service: str, requests: int, failures: int) -> RouteRow:
    return RouteRow(
        route=route,
        service=service,
        requests=requests,
        successes=requests - failures,
        failures=failures,
        success=(requests - failures) / requests if requests else None,
        rps=requests / 60,
        latency_ms_p50=12.4 if requests else None,
        latency_ms_p95=48.0 if requests else None,
        latency_ms_p99=95.0 if requests else None,
        start_s=NOW - 60,
        end_s=NOW,
    )


ROWS = [
    route_row("GET /api/list", "web-svc", 120, 0),
    route_row("POST /api/vote", "web-svc", 60, 30),
    route_row("/emojivoto.v1.VotingService/VoteDoughnut", "voting-svc", 30, 30),
    route_row(OVERFLOW_ROUTE, "web-svc", 3, 0),
]


@pytest.mark.parametrize(("output", "name"), [("table", "routes.txt"), ("wide", "routes-wide.txt")])
def test_routes_render_as_linkerds_table(output: str, name: str) -> None:
    check_golden(GOLDEN / "meshstat" / name, render_routes(ROWS, output, Terminal()))


def test_routes_render_as_json_with_stable_fields() -> None:
    text = render_routes(ROWS, "json", Terminal())
    check_golden(GOLDEN / "meshstat" / "routes.json", text)
    assert json.loads(text)[0]["route"] == "GET /api/list"


@dataclass
class FakeRoutes:
    rows: list[RouteRow]
    asked: list[RouteQuery] = field(default_factory=list)

    def __call__(self, url: ClickHouseUrl, query: RouteQuery) -> list[RouteRow]:
        self.asked.append(query)
        return self.rows


def _run(capsys: pytest.CaptureFixture[str], args: Sequence[str], fake: FakeRoutes) -> Outcome:
    env = StatEnv(clock=FakeClock(), fetch=FakeStore([]), fetch_routes=fake)
    return run_command(capsys, "meshstat", meshstat, list(args), env)


def test_the_routes_verb_asks_for_the_server_side_of_one_resource(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeRoutes(ROWS)
    outcome = _run(capsys, ["routes", "deploy/web", "-n", "emojivoto", "-t", "5m"], fake)
    assert outcome.status == ExitStatus.OK
    assert outcome.out.splitlines()[0].split()[:2] == ["ROUTE", "SERVICE"]
    (query,) = fake.asked
    assert query.selection == Selection("deployment", ("web",), "emojivoto")
    assert (query.mode, query.start_s, query.end_s) == (EdgeMode.SERVER, NOW - 300, NOW)


def test_routes_to_a_target_read_the_resources_calls(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeRoutes(ROWS)
    args = ["routes", "deploy", "web", "--to", "deploy/voting", "--to-namespace", "vote"]
    _run(capsys, args, fake)
    assert fake.asked[0].mode is EdgeMode.TO
    assert fake.asked[0].target == Peer("deployment", "voting", "vote")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["routes", "deploy"], "routes want one resource as TYPE/NAME"),
        (["routes", "all"], "routes want one resource as TYPE/NAME"),
        (["routes", "deploy/web", "--to", "deploy"], "--to wants one resource"),
        (["routes", "deploy/web", "--to-namespace", "x"], "--to-namespace requires --to"),
        (["routes", "widgets/web"], 'unknown resource type "widgets"'),
    ],
)
def test_bad_routes_arguments_exit_with_usage_and_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    outcome = _run(capsys, args, FakeRoutes(ROWS))
    assert outcome.status == ExitStatus.USAGE
    assert message in outcome.err
    assert outcome.err.count("\n") == 1


def test_no_routes_say_no_traffic_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(capsys, ["routes", "deploy/web"], FakeRoutes([]))
    assert (outcome.status, outcome.out, outcome.err) == (0, "", "No traffic found.\n")


def test_a_typo_of_a_verb_says_which_verb_was_meant(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(capsys, ["rotues", "deploy/web"], FakeRoutes(ROWS))
    assert outcome.status == ExitStatus.USAGE
    assert outcome.err == (
        'meshstat: unknown resource type or command "rotues"; did you mean `meshstat routes`?\n'
    )


def test_resource_types_still_mean_stat_next_to_the_verbs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = FakeStore([])
    env = StatEnv(clock=FakeClock(), fetch=store, fetch_routes=FakeRoutes([]))
    for args in (["deploy"], ["rs"], ["-n", "routes", "deploy"], ["all"]):
        outcome = run_command(capsys, "meshstat", meshstat, args, env)
        assert outcome.status == ExitStatus.OK, (args, outcome.err)
    assert len(store.asked) == 4
