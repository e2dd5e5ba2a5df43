"""`meshctl top` over an in-memory tap source: the busiest routes as Linkerd's `viz top` table,
paths templated, namespace taps counting each request once; golden files for the output."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from cli_run import Outcome, run_command
from golden import GOLDEN, check_golden
from meshtap_events import EMOJI, WEB, grpc_event, http_event

from meshpipe.cli.meshctl import meshctl
from meshpipe.cli.tapclient import KafkaSettings
from meshpipe.cli.terminal import Terminal
from meshpipe.cli.top import TopEnv
from meshpipe.cli.top_table import TopTable
from meshpipe.deploy.kafka.topics import load_spec
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.routes import RouteCap

VOTING = meshpipe_pb2.Workload(
    namespace="emojivoto", kind="deployment", name="voting", pod="voting-6d9-k2", meshed=True
)


@dataclass
class FakeTap:
    """Hands out its batches, one per poll, then says it is exhausted."""

    batches: list[list[meshpipe_pb2.RequestEvent]]
    sessions: list[meshpipe_pb2.TapSession] = field(default_factory=list)

    def __call__(self, _settings: KafkaSettings, session: meshpipe_pb2.TapSession) -> FakeTap:
        self.sessions.append(session)
        return self

    async def __aenter__(self) -> FakeTap:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def poll(self, _timeout_s: float) -> list[meshpipe_pb2.RequestEvent] | None:
        return self.batches.pop(0) if self.batches else None


def _legacy(n: int, status: int, latency_us: int) -> meshpipe_pb2.RequestEvent:
    """voting → emoji `GET /api/find-by-shortcode?code=…`, as emoji's inbound proxy saw it."""
    event = http_event(
        seq=n,
        status=status,
        path=f"/api/find-by-shortcode?code=:emoji{n}:",
        authority="emoji-svc.emojivoto:8080",
        latency_us=latency_us,
    )
    event.source.CopyFrom(VOTING)
    event.destination.CopyFrom(EMOJI)
    return event


def _story() -> list[meshpipe_pb2.RequestEvent]:
    events = [_legacy(n, 500 if n % 2 else 200, 1000 + 100 * n) for n in range(6)]
    events += [
        http_event(seq=10 + n, path=f"/api/list?page={n}", latency_us=2000 + n) for n in range(3)
    ]
    events += [grpc_event(), grpc_event()]
    return events


def _top(capsys: pytest.CaptureFixture[str], tap: FakeTap, *args: str) -> Outcome:
    env = TopEnv(terminal=Terminal(), topics=load_spec(), open_tap=tap, session_id=lambda: "s1")
    return run_command(capsys, "meshctl", meshctl, ["top", *args], env)


def test_top_prints_the_busiest_routes_once_after_count(capsys: pytest.CaptureFixture[str]) -> None:
    events = _story()
    tap = FakeTap([events[:4], events[4:]])
    done = _top(capsys, tap, "ns/emojivoto", "--count", str(len(events)))
    assert done.status == 0, done.err
    check_golden(GOLDEN / "meshctl_top" / "namespace.txt", done.out)


def test_top_stops_at_count(capsys: pytest.CaptureFixture[str]) -> None:
    tap = FakeTap([_story()])
    done = _top(capsys, tap, "deploy/emoji", "-n", "emojivoto", "--count", "3")
    assert done.status == 0, done.err
    check_golden(GOLDEN / "meshctl_top" / "count-3.txt", done.out)


def test_top_asks_for_meshtaps_session(capsys: pytest.CaptureFixture[str]) -> None:
    tap = FakeTap([])
    _top(
        capsys,
        tap,
        "deploy/web",
        "-n",
        "emojivoto",
        "--max-rps",
        "7",
        "--path",
        "/api",
        "--count",
        "1",
    )
    [session] = tap.sessions
    assert session.max_rps == 7
    assert session.filter.path_prefix == "/api"
    assert (session.filter.resource.kind, session.filter.resource.name) == ("deployment", "web")


def test_no_requests_says_no_traffic(capsys: pytest.CaptureFixture[str]) -> None:
    done = _top(capsys, FakeTap([]), "deploy/web", "--count", "5")
    assert done.status == 0
    assert done.out == ""
    assert "No traffic found." in done.err


def test_not_a_terminal_needs_count_or_duration(capsys: pytest.CaptureFixture[str]) -> None:
    done = _top(capsys, FakeTap([]), "deploy/web")
    assert done.status == 2
    assert "--count or --duration" in done.err


def test_a_namespace_tap_counts_a_call_inside_it_once() -> None:
    inbound = _legacy(1, 200, 900)
    outbound = _legacy(1, 200, 1100)
    outbound.direction = meshpipe_pb2.OUTBOUND
    table = TopTable(namespace_tap="emojivoto")
    assert table.add(inbound)
    assert not table.add(outbound)
    [stats] = table.rows.values()
    assert stats.count == 1


def test_a_single_resource_tap_counts_its_outbound_calls() -> None:
    event = grpc_event()  # web's outbound call to emoji
    table = TopTable(namespace_tap=None)
    assert table.add(event)


def test_unique_paths_stay_under_the_cap_with_exact_totals() -> None:
    table = TopTable(cap=RouteCap(limit=3))
    for n in range(50):
        table.add(http_event(seq=n, path=f"/r{n % 7}x/{n}"))
    lines = table.render().splitlines()
    assert len(lines) == 1 + 3
    assert lines[-1].startswith("[overflow]")
    shown = [int(line.split()[4]) for line in lines[1:-1]]
    assert int(lines[-1].split()[1]) == 50 - sum(shown)


def test_sources_are_named_by_pod_else_address() -> None:
    table = TopTable()
    table.add(grpc_event())  # from web's pod
    table.add(http_event())  # from an unmeshed client known by its address
    assert {key[0] for key in table.rows} == {WEB.pod, "10.0.0.3:51000"}
