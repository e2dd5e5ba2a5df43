"""Unit tests for the per-record checks of a batch whose events share proxy and edge: the same
decisions and the same rows as checking and folding each event alone."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from streams_events import BASE_S, make_event, make_report

from meshpipe.schemas import eventbatch
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.latency import bucket_index
from meshpipe.streams.decode import (
    EdgeMemo,
    InvalidRecordError,
    Record,
    RecordEvents,
    decode_record,
    validate,
)
from meshpipe.streams.partition import PartitionState
from meshpipe.streams.windows import WindowSettings

NANOS = 1_000_000_000


def _record(events: list[meshpipe_pb2.RequestEvent], offset: int = 0) -> Record:
    value = eventbatch.encode_batch([e.SerializeToString() for e in events])
    return Record("t", 0, offset, b"k", value, BASE_S * 1000, eventbatch.BATCH_HEADERS)


def _batch(n: int, first_seq: int = 1, step_ns: int = NANOS) -> list[meshpipe_pb2.RequestEvent]:
    return [
        make_event(seq=first_seq + i, start_ns=BASE_S * NANOS + i * step_ns, latency_us=100 + i)
        for i in range(n)
    ]


def test_a_batch_of_one_proxy_and_edge_is_checked_once_and_keeps_what_it_read() -> None:
    events = _batch(6)
    decoded = decode_record(_record(events), EdgeMemo())
    assert decoded.uniform is not None
    assert decoded.uniform.proxy_id == "proxy-a"
    assert decoded.uniform.seqs == [1, 2, 3, 4, 5, 6]
    assert decoded.uniform.seconds == [BASE_S + i for i in range(6)]
    assert [index for index, _ in decoded.valid] == list(range(6))


def test_alias_kinds_are_made_canonical_in_every_event_of_a_uniform_batch() -> None:
    events = _batch(5)
    for event in events:
        event.source.kind, event.destination.kind = "deploy", "Deployments"
    decoded = decode_record(_record(events), EdgeMemo())
    assert decoded.uniform is not None
    kinds = {(d.event.source.kind, d.event.destination.kind) for _, d in decoded.valid}
    assert kinds == {("deployment", "deployment")}


# One way to spoil one event of a batch each: every check `validate` makes, and each field the
# per-record checks compare across events.
_SPOILERS = {
    "none": lambda e: None,
    "proxy_id": lambda e: setattr(e, "proxy_id", ""),
    "other_proxy": lambda e: setattr(e, "proxy_id", "proxy-b"),
    "seq": lambda e: setattr(e, "proxy_seq", 0),
    "start": lambda e: e.ClearField("start"),
    "old_start": lambda e: setattr(e.start, "seconds", 5),
    "future_start": lambda e: setattr(e.start, "seconds", BASE_S + 7200),
    "latency": lambda e: setattr(e, "latency_us", e.duration_us + 1),
    "no_duration": lambda e: setattr(e, "duration_us", 0),
    "direction": lambda e: setattr(e, "direction", meshpipe_pb2.INBOUND),
    "source": lambda e: setattr(e.source, "pod", "web-9"),
    "destination": lambda e: setattr(e.destination, "name", "voting"),
    "bad_kind": lambda e: setattr(e.source, "kind", "rollout"),
    "alias_kind": lambda e: setattr(e.destination, "kind", "deploy"),
    "report": lambda e: e.CopyFrom(make_report()),
    "report_seq": lambda e: e.connections.SetInParent(),
}


def _alone(event: meshpipe_pb2.RequestEvent) -> tuple[object, ...]:
    """What validating the event alone gives: its edge and canonical event, or the reason."""
    copy = meshpipe_pb2.RequestEvent()
    copy.CopyFrom(event)
    try:
        valid = validate(copy, BASE_S * 1000)
    except InvalidRecordError as exc:
        return ("invalid", str(exc))
    return (type(valid).__name__, valid.edge, valid.event.SerializeToString())


def _got(decoded: RecordEvents) -> list[tuple[int, tuple[object, ...]]]:
    got = [(i, (type(d).__name__, d.edge, d.event.SerializeToString())) for i, d in decoded.valid]
    got += [(bad.index, ("invalid", bad.reason)) for bad in decoded.invalid]
    return sorted(got, key=lambda pair: pair[0])


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=9),
    st.lists(st.tuples(st.integers(0, 8), st.sampled_from(sorted(_SPOILERS))), max_size=3),
)
def test_a_batch_decides_each_event_as_validating_it_alone_does(
    n: int, spoils: list[tuple[int, str]]
) -> None:
    events = _batch(n)
    for position, how in spoils:
        _SPOILERS[how](events[position % n])
    expected = [(i, _alone(e)) for i, e in enumerate(events)]
    decoded = decode_record(_record(events), EdgeMemo())
    assert _got(decoded) == expected
    if decoded.uniform is not None:
        assert not decoded.invalid
        assert len({(d.event.source.kind, d.event.destination.kind) for _, d in decoded.valid}) == 1


def _fold_rows(uniform: bool, records: list[list[meshpipe_pb2.RequestEvent]]) -> object:
    state = PartitionState(0, WindowSettings(2), bucket_index)
    memo = EdgeMemo()
    for offset, events in enumerate(records):
        decoded = decode_record(_record(events, offset), memo)
        if not uniform:
            decoded = dataclasses.replace(decoded, uniform=None)
        state.fold(offset, decoded.valid, BASE_S * 1000, decoded.count, decoded.uniform)
    batch = state.flush().batch
    return (list(batch.requests), batch.edge_windows, batch.losses)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=4, max_value=20),  # events in the record
            st.integers(min_value=1, max_value=40),  # first proxy_seq (repeats: duplicates)
            st.sampled_from([0, NANOS // 3, NANOS, 3 * NANOS]),  # start step between events
        ),
        min_size=1,
        max_size=4,
    )
)
def test_folding_a_uniform_record_stores_the_rows_folding_each_event_stores(
    shapes: list[tuple[int, int, int]],
) -> None:
    records = [_batch(n, seq, step) for n, seq, step in shapes]
    assert _fold_rows(True, records) == _fold_rows(False, records)
