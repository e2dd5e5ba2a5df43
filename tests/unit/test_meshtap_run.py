"""meshtap's run loop against an in-memory source: status filter, --count, --duration, notices."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest
from meshtap_events import http_event

from meshpipe.cli.meshtap import pump
from meshpipe.cli.tap_options import TapOptions
from meshpipe.cli.tap_run import IDLE_NOTICE_S, TapRun
from meshpipe.cli.tapclient import _decode_requests, partition_for_key
from meshpipe.schemas import eventbatch
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

NOW = 1_795_773_600.0


@dataclass
class Clock:
    now_s: float = 100.0

    def __call__(self) -> float:
        return self.now_s


@dataclass
class ScriptedSource:
    """Hands out prepared batches; each poll advances the clock by the time it would wait."""

    clock: Clock
    batches: deque[list[meshpipe_pb2.RequestEvent] | None]
    polls: list[float] = field(default_factory=list)

    async def poll(self, timeout_s: float) -> list[meshpipe_pb2.RequestEvent] | None:
        self.polls.append(timeout_s)
        self.clock.now_s += timeout_s
        return self.batches.popleft() if self.batches else []


def _run(**options: object) -> TapRun:
    plan = TapOptions(**{"resources": ("deploy/web",), **options}).validate(NOW)  # type: ignore[arg-type]
    return TapRun(plan, 100.0)


async def _pump(
    run: TapRun, batches: list[list[meshpipe_pb2.RequestEvent] | None]
) -> list[tuple[str, bool]]:
    said: list[tuple[str, bool]] = []
    clock = Clock()
    await pump(ScriptedSource(clock, deque(batches)), run, clock, lambda t, n: said.append((t, n)))
    return said


async def test_count_stops_after_that_many_requests() -> None:
    said = await _pump(
        _run(count=2), [[http_event(1), http_event(2), http_event(3)], [http_event(4)]]
    )
    ids = {line.split()[1] for line, _ in said}
    assert ids == {"id=web-5f8d-x2:1", "id=web-5f8d-x2:2"}


async def test_the_run_prints_what_its_source_selected_status_filter_included() -> None:
    """The status selection is applied where events are matched (worker, replay), not here."""
    run = _run(status=("5+",), count=2)
    said = await _pump(run, [[http_event(1, 200), http_event(2, 503), http_event(3, 500)]])
    ids = [line.split()[1] for line, _ in said]
    assert ids == ["id=web-5f8d-x2:1"] * 3 + ["id=web-5f8d-x2:2"] * 3
    assert run.printed == 2


async def test_duration_stops_a_quiet_tap() -> None:
    clock = Clock()
    source = ScriptedSource(clock, deque())
    await pump(source, _run(duration="1s"), clock, lambda _t, _n: None)
    assert sum(source.polls) == pytest.approx(1.0)
    assert clock.now_s == pytest.approx(101.0)


async def test_an_exhausted_replay_ends_the_run() -> None:
    said = await _pump(_run(), [[http_event(1)], None, [http_event(2)]])
    assert len(said) == 3


async def test_silence_gives_one_notice_on_stderr_until_events_return() -> None:
    said = await _pump(_run(duration="10s"), [])
    notices = [text for text, notice in said if notice]
    assert len(notices) == 1
    assert notices[0].startswith("waiting for requests of deployment/web in namespace default")


def test_notice_comes_only_after_the_idle_time() -> None:
    run = _run()
    assert run.idle_notice(100.0 + IDLE_NOTICE_S - 0.1) is None
    assert run.idle_notice(100.0 + IDLE_NOTICE_S) is not None
    assert run.idle_notice(100.0 + IDLE_NOTICE_S + 60) is None


def test_replay_notice_says_nothing_stored_matches() -> None:
    run = _run(since="1h")
    assert "no stored requests" in (run.idle_notice(200.0) or "")


def test_partition_for_key_is_stable_in_range_and_order_independent() -> None:
    picks = {partition_for_key(b"session-%d" % i, [0, 1, 2]) for i in range(50)}
    assert picks == {0, 1, 2}
    assert partition_for_key(b"abc", [2, 0, 1]) == partition_for_key(b"abc", [0, 1, 2])


def test_a_replayed_connection_report_is_no_request_to_show() -> None:
    report = meshpipe_pb2.RequestEvent(proxy_id="p", direction=meshpipe_pb2.INBOUND)
    report.connections.open = 2
    assert _decode_requests(report.SerializeToString(), None) == []
    request = http_event()
    assert _decode_requests(request.SerializeToString(), None) == [request]


def test_a_replayed_batch_record_shows_each_request_and_no_report() -> None:
    report = meshpipe_pb2.RequestEvent(proxy_id="p", direction=meshpipe_pb2.INBOUND)
    report.connections.open = 2
    first, second = http_event(), http_event()
    second.path = "/second"
    value = eventbatch.encode_batch(e.SerializeToString() for e in (first, report, second))
    assert _decode_requests(value, eventbatch.BATCH_HEADERS) == [first, second]
    assert _decode_requests(b"\xff", eventbatch.BATCH_HEADERS) == []
