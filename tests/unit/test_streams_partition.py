"""Unit tests for streams.partition: totals stay exact under any flush timing, crash and replay."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from streams_events import BASE_S, at_zero, make_event, record, run_partition

from meshpipe.schemas.latency import bucket_index
from meshpipe.schemas.rows import MemoryRowSink
from meshpipe.streams.chunks import ChunkSettings
from meshpipe.streams.decode import InvalidRecordError, ValidEvent, decode_event
from meshpipe.streams.loss import count_loss
from meshpipe.streams.partition import PartitionState
from meshpipe.streams.windows import WindowSettings

NANOS = 1_000_000_000
SETTINGS = WindowSettings(window_s=10)
CHUNKS = ChunkSettings(max_records=7)  # small, so generated partitions span several chunks
EDGES = [("web", "emoji"), ("web", "voting"), ("vote-bot", "web")]


@dataclass(frozen=True)
class Spec:
    """One record of a generated partition."""

    edge: int
    delay_s: float  # how far the event's start lies before the stream's "now"
    status: int
    latency_us: int
    seq: int
    valid: bool


def _records(specs: list[Spec]) -> list[ValidEvent | None]:
    out: list[ValidEvent | None] = []
    for offset, spec in enumerate(specs):
        now_ns = (BASE_S + offset) * NANOS
        src, dst = EDGES[spec.edge]
        event = make_event(
            start_ns=now_ns - int(spec.delay_s * NANOS),
            src=src,
            dst=dst,
            seq=spec.seq,
            http_status=spec.status,
            latency_us=spec.latency_us,
            duration_us=spec.latency_us * 2,
        )
        value = event.SerializeToString() if spec.valid else b"\xff\xff"
        try:
            out.append(decode_event(record(value, offset=offset)))
        except InvalidRecordError:
            out.append(None)
    return out


@st.composite
def partitions(draw: st.DrawFn) -> list[Spec]:
    count = draw(st.integers(1, 80))
    seqs = draw(st.permutations(range(1, count + 1)))
    return [
        Spec(
            edge=draw(st.integers(0, len(EDGES) - 1)),
            delay_s=draw(st.one_of(st.floats(0, 8), st.floats(0, 90))),
            status=draw(st.sampled_from([200, 204, 404, 500, 503])),
            latency_us=draw(st.integers(0, 5_000_000)),
            seq=seqs[i],
            valid=draw(st.booleans()) or draw(st.booleans()) or draw(st.booleans()),
        )
        for i in range(count)
    ]


def _truth(records: list[ValidEvent | None]) -> Counter[tuple[object, ...]]:
    truth: Counter[tuple[object, ...]] = Counter()
    for valid in records:
        if valid is None:
            continue
        event = valid.event
        window = SETTINGS.window_start_s(event.start.seconds * NANOS + event.start.nanos)
        key = (window, event.source.name, event.destination.name)
        truth[(*key, "requests")] += 1
        truth[(*key, "failures")] += event.http_status >= 500
        truth[(*key, "4xx")] += 400 <= event.http_status < 500
        truth[(*key, "latency", bucket_index(event.latency_us))] += 1
        truth[(*key, "bytes")] += event.response_bytes
    return +truth


def _stored(sink: MemoryRowSink) -> Counter[tuple[object, ...]]:
    stored: Counter[tuple[object, ...]] = Counter()
    for row in sink.edge_windows.values():
        key = (row.window_start_s, row.source_name, row.destination_name)
        stored[(*key, "requests")] += row.requests
        stored[(*key, "failures")] += row.failures
        stored[(*key, "4xx")] += row.status_4xx
        stored[(*key, "bytes")] += row.response_bytes
        for bucket, count in zip(row.latency_buckets, row.latency_counts, strict=True):
            stored[(*key, "latency", bucket)] += count
    return +stored


def _run(
    records: list[ValidEvent | None], flush_after: set[int], crash_after: set[int], torn: bool
) -> MemoryRowSink:
    return run_partition(
        lambda: PartitionState(0, SETTINGS, bucket_index, CHUNKS),
        records,
        flush_after,
        crash_after,
        torn,
    )


run_plans = st.tuples(
    st.sets(st.integers(0, 80)), st.sets(st.integers(0, 80), max_size=3), st.booleans()
)


@settings(max_examples=150, deadline=None)
@given(partitions(), run_plans)
def test_window_totals_equal_input_whatever_flushes_and_crashes(
    specs: list[Spec], plan: tuple[set[int], set[int], bool]
) -> None:
    records = _records(specs)
    sink = _run(records, *plan)
    assert _stored(sink) == _truth(records)


@settings(max_examples=100, deadline=None)
@given(partitions(), run_plans)
def test_raw_rows_are_every_valid_record_once_whatever_crashes(
    specs: list[Spec], plan: tuple[set[int], set[int], bool]
) -> None:
    records = _records(specs)
    sink = _run(records, *plan)
    expected = {offset for offset, valid in enumerate(records) if valid is not None}
    assert set(sink.requests) == {(0, offset, 0) for offset in expected}


@settings(max_examples=100, deadline=None)
@given(partitions(), run_plans)
def test_loss_counts_exactly_the_missing_sequence_numbers(
    specs: list[Spec], plan: tuple[set[int], set[int], bool]
) -> None:
    records = _records(specs)
    sink = _run(records, *plan)
    seqs = {valid.event.proxy_seq for valid in records if valid is not None}
    losses = count_loss(sink.losses.values())
    if not seqs:
        assert losses == {}
        return
    assert losses["proxy-a"].lost == max(seqs) - min(seqs) + 1 - len(seqs)
    assert losses["proxy-a"].duplicates == 0


def _fold_all(state: PartitionState, specs: list[Spec]) -> None:
    for offset, valid in enumerate(_records(specs)):
        state.fold(offset, at_zero(valid))


def test_commit_offset_stays_at_the_chunk_start_until_the_chunk_ends() -> None:
    state = PartitionState(0, SETTINGS, bucket_index, CHUNKS)
    _fold_all(state, [Spec(0, 0.0, 200, 10, seq, True) for seq in range(1, 7)])
    assert state.flush().commit_offset == 0


def test_commit_offset_advances_to_the_latest_chunk_start() -> None:
    state = PartitionState(0, SETTINGS, bucket_index, CHUNKS)
    _fold_all(state, [Spec(0, 0.0, 200, 10, seq, True) for seq in range(1, 21)])
    assert state.flush().commit_offset == 14


def test_commit_offset_advances_although_event_times_interleave() -> None:
    # late events keep every window open somewhere in the stream; commits must not wait for that
    state = PartitionState(0, SETTINGS, bucket_index, CHUNKS)
    specs = [Spec(seq % 3, 90.0 * (seq % 2), 200, 10, seq, True) for seq in range(1, 31)]
    _fold_all(state, specs)
    assert state.flush().commit_offset == 28


def test_chunk_ends_when_kafka_timestamps_span_its_age() -> None:
    state = PartitionState(0, SETTINGS, bucket_index, ChunkSettings(100, max_age_s=30))
    for offset, timestamp_ms in enumerate([1_000, 20_000, 30_999, 31_000, 40_000]):
        state.fold(offset, [], timestamp_ms)
    assert state.flush().commit_offset == 3


def test_final_rows_of_an_ended_chunk_are_flushed_with_its_key() -> None:
    state = PartitionState(0, SETTINGS, bucket_index, CHUNKS)
    _fold_all(state, [Spec(0, 0.0, 200, 10, seq, True) for seq in range(1, 10)])
    rows = state.flush().batch.edge_windows
    assert sorted((row.first_offset, row.version, row.requests) for row in rows) == [
        (0, 6, 7),
        (7, 8, 2),
    ]


def test_dead_lettered_records_count_towards_the_chunk_length() -> None:
    state = PartitionState(0, SETTINGS, bucket_index, ChunkSettings(max_records=2))
    for offset in range(3):
        state.fold(offset, [])
    assert state.flush().commit_offset == 2


def test_offsets_going_backwards_are_rejected() -> None:
    state = PartitionState(0, SETTINGS, bucket_index, CHUNKS)
    state.fold(5, [])
    try:
        state.fold(4, [])
    except ValueError:
        return
    raise AssertionError("fold accepted an earlier offset")
