"""Connection reports through the worker: decoded apart from requests, folded into gauge rows
that keep each proxy edge's latest open count exact under any flushes, crashes and replays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from streams_events import BASE_S, make_event, make_report, record, run_partition

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.latency import bucket_index
from meshpipe.schemas.rows import ConnectionRow, MemoryRowSink
from meshpipe.streams.chunks import ChunkSettings
from meshpipe.streams.decode import (
    Decoded,
    InvalidRecordError,
    ValidEvent,
    ValidReport,
    decode_event,
)
from meshpipe.streams.loss import count_loss
from meshpipe.streams.partition import PartitionState
from meshpipe.streams.windows import WindowSettings
from meshpipe.streams.worker import Outputs, Worker, WorkerCore

NANOS = 1_000_000_000
WINDOWS = WindowSettings(window_s=60)  # edge windows longer than the 10 s report grid
CHUNKS = ChunkSettings(max_records=5)
INBOUND, OUTBOUND = meshpipe_pb2.INBOUND, meshpipe_pb2.OUTBOUND


def _decode(event: meshpipe_pb2.RequestEvent, offset: int = 0) -> Decoded:
    return decode_event(record(event.SerializeToString(), offset=offset))


def _reason(event: meshpipe_pb2.RequestEvent) -> str:
    with pytest.raises(InvalidRecordError) as info:
        _decode(event)
    return str(info.value)


# --- decoding ------------------------------------------------------------------------------------


def test_a_connection_report_decodes_as_a_report_with_its_edge() -> None:
    valid = _decode(make_report(direction=INBOUND, src="vote-bot", dst="web"))
    assert isinstance(valid, ValidReport)
    assert str(valid.edge) == "in|emojivoto/deployment/vote-bot|emojivoto/deployment/web"


def test_a_request_still_decodes_as_a_request() -> None:
    assert isinstance(_decode(make_event()), ValidEvent)


def test_a_report_with_a_sequence_number_is_invalid() -> None:
    report = make_report()
    report.proxy_seq = 7
    assert _reason(report) == "connection report with proxy_seq 7 (reports take none)"


def test_a_report_without_proxy_id_is_invalid() -> None:
    assert _reason(make_report(proxy_id="")) == "missing proxy_id"


def test_a_report_with_a_zero_clock_is_invalid() -> None:
    assert _reason(make_report(report_ns=5)).startswith("bad start timestamp")


# --- folding -------------------------------------------------------------------------------------


def _state() -> PartitionState:
    return PartitionState(3, WINDOWS, bucket_index, CHUNKS)


def _fold(state: PartitionState, events: list[meshpipe_pb2.RequestEvent]) -> None:
    for offset, event in enumerate(events):
        state.fold(offset, [(0, _decode(event, offset))])


def test_reports_become_connection_rows_and_nothing_else() -> None:
    state = _state()
    _fold(state, [make_report(open_connections=3, opened=3)])
    batch = state.flush().batch
    assert (batch.edge_windows, batch.requests, batch.losses) == ((), (), ())
    [row] = batch.connections
    assert row == ConnectionRow(
        window_start_s=BASE_S - BASE_S % 10,
        report_us=BASE_S * 1_000_000,
        proxy_id="proxy-a",
        direction="out",
        source="emojivoto/deployment/web",
        source_namespace="emojivoto",
        source_kind="deployment",
        source_name="web",
        source_pod="web-0",
        source_meshed=True,
        destination="emojivoto/deployment/emoji",
        destination_namespace="emojivoto",
        destination_kind="deployment",
        destination_name="emoji",
        destination_pod="",
        destination_meshed=True,
        partition=3,
        first_offset=0,
        version=0,
        open_connections=3,
        opened=3,
        closed=0,
    )


def test_a_window_row_has_its_latest_reports_open_count_and_every_reports_counts() -> None:
    start = (BASE_S - BASE_S % 10) * NANOS
    state = _state()
    _fold(
        state,
        [
            make_report(report_ns=start + 8 * NANOS, open_connections=5, opened=2, closed=1),
            make_report(report_ns=start + 2 * NANOS, open_connections=4, opened=4),  # late
        ],
    )
    [row] = state.flush().batch.connections
    assert (row.open_connections, row.opened, row.closed) == (5, 6, 1)
    assert (row.report_us, row.version) == (start // 1000 + 8_000_000, 1)


def test_report_windows_follow_the_fixed_report_grid_not_the_edge_windows() -> None:
    start = (BASE_S - BASE_S % 60) * NANOS
    state = _state()
    _fold(state, [make_report(report_ns=start + s * NANOS) for s in (1, 11, 21)])
    windows = [row.window_start_s for row in state.flush().batch.connections]
    assert windows == [start // NANOS, start // NANOS + 10, start // NANOS + 20]


def test_reports_between_requests_leave_loss_accounting_exact() -> None:
    state = _state()
    _fold(state, [make_event(seq=1), make_report(), make_report(), make_event(seq=2)])
    batch = state.flush().batch
    loss = count_loss(batch.losses)["proxy-a"]
    assert (loss.received, loss.lost, loss.duplicates) == (2, 0, 0)
    assert len(batch.requests) == 2


async def test_a_report_is_never_tapped_nor_dead_lettered() -> None:
    async def commit(offsets: Mapping[int, int]) -> None:
        pass

    sink = MemoryRowSink()
    core = WorkerCore("w1", WINDOWS, bucket_index, chunks=CHUNKS)
    worker = Worker(core, sink, commit, lambda: float(BASE_S))
    worker.assign([0], total=1)
    session = meshpipe_pb2.TapSession(id="s1", filter=meshpipe_pb2.TapFilter())  # taps all
    session.expires.FromSeconds(BASE_S + 60)
    worker.sessions.apply(b"s1", session.SerializeToString())
    sent: list[bytes] = []

    async def send(key: bytes | None, value: bytes) -> None:
        sent.append(value)

    rec = record(make_report().SerializeToString())
    await worker.handle(rec, 0, lambda: 0, Outputs(dead_letter=send, tap=send))
    await worker.flush()
    assert sent == []
    assert len(sink.connections) == 1
    assert sink.requests == {}


# --- exact under flushes, crashes and replays -----------------------------------------------------

EDGES = [(OUTBOUND, "web", "emoji"), (INBOUND, "vote-bot", "web"), (OUTBOUND, "web", "voting")]


@dataclass(frozen=True)
class Spec:
    """One record of a generated partition: a report (of a proxy edge) or a request."""

    report: bool
    proxy: int
    edge: int
    at_ms: int  # report time after BASE_S; distinct for all reports
    open: int
    opened: int
    closed: int


@st.composite
def partitions(draw: st.DrawFn) -> list[Spec]:
    count = draw(st.integers(1, 60))
    times = draw(st.lists(st.integers(0, 90_000), min_size=count, max_size=count, unique=True))
    return [
        Spec(
            report=draw(st.integers(0, 3)) > 0,
            proxy=draw(st.integers(0, 1)),
            edge=draw(st.integers(0, len(EDGES) - 1)),
            at_ms=at_ms,
            open=draw(st.integers(0, 50)),
            opened=draw(st.integers(0, 9)),
            closed=draw(st.integers(0, 9)),
        )
        for at_ms in times
    ]


def _records(specs: list[Spec]) -> list[Decoded]:
    out = []
    for offset, spec in enumerate(specs):
        direction, src, dst = EDGES[spec.edge]
        at_ns = BASE_S * NANOS + spec.at_ms * 1_000_000
        proxy = f"proxy-{spec.proxy}"
        if spec.report:
            event = make_report(
                report_ns=at_ns,
                src=src,
                dst=dst,
                direction=direction,
                proxy_id=proxy,
                open_connections=spec.open,
                opened=spec.opened,
                closed=spec.closed,
            )
        else:
            event = make_event(start_ns=at_ns, src=src, dst=dst, proxy_id=proxy, seq=offset + 1)
        out.append(_decode(event, offset))
    return out


Series = tuple[str, str, str, str]  # proxy, direction, source, destination


def _truth(records: list[Decoded]) -> dict[Series, tuple[int, int, int]]:
    """Per proxy edge: the open count of its latest report, and all opened and closed."""
    latest: dict[Series, tuple[int, int]] = {}
    sums: dict[Series, tuple[int, int]] = {}
    for valid in records:
        if not isinstance(valid, ValidReport):
            continue
        event, edge = valid.event, valid.edge
        direction = "in" if event.direction == INBOUND else "out"
        key = (event.proxy_id, direction, str(edge.source), str(edge.destination))
        at = event.start.ToNanoseconds()
        if key not in latest or at > latest[key][0]:
            latest[key] = (at, event.connections.open)
        opened, closed = sums.get(key, (0, 0))
        sums[key] = (opened + event.connections.opened, closed + event.connections.closed)
    return {key: (latest[key][1], *sums[key]) for key in latest}


def _stored(sink: MemoryRowSink) -> dict[Series, tuple[int, int, int]]:
    """What a reader takes: argMax(open, report_us) and sums, over the latest row versions."""
    latest: dict[Series, tuple[int, int]] = {}
    sums: dict[Series, tuple[int, int]] = {}
    for row in sink.connections.values():
        assert row.window_start_s == row.report_us // 1_000_000 // 10 * 10
        key = (row.proxy_id, row.direction, row.source, row.destination)
        if key not in latest or row.report_us > latest[key][0]:
            latest[key] = (row.report_us, row.open_connections)
        opened, closed = sums.get(key, (0, 0))
        sums[key] = (opened + row.opened, closed + row.closed)
    return {key: (latest[key][1], *sums[key]) for key in latest}


@settings(max_examples=150, deadline=None)
@given(
    partitions(),
    st.sets(st.integers(0, 60)),
    st.sets(st.integers(0, 60), max_size=3),
)
def test_latest_open_and_counts_equal_the_reports_whatever_flushes_and_crashes(
    specs: list[Spec], flush_after: set[int], crash_after: set[int]
) -> None:
    records = _records(specs)
    assert _stored(run_partition(_state, records, flush_after, crash_after)) == _truth(records)
