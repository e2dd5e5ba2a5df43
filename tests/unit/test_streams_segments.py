"""Unit tests for streams.segments: event-time tracking, segment closing and safe offsets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.segments import EventTimeTrack, SegmentTable, safe_offset


def _table(track: EventTimeTrack) -> SegmentTable[str, list[int]]:
    return SegmentTable(track, list)


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=60), st.data())
def test_max_since_equals_maximum_of_suffix(times: list[int], data: st.DataObject) -> None:
    track = EventTimeTrack()
    for offset, event_time in enumerate(times):
        track.add(offset * 2, event_time)
    first = data.draw(st.integers(0, 2 * len(times) - 2))
    expected = max(t for offset, t in enumerate(times) if offset * 2 >= first)
    assert track.max_since(first) == expected


def test_max_since_after_trim_still_answers_later_offsets() -> None:
    track = EventTimeTrack()
    for offset in range(10_000):
        track.add(offset, 10_000 - offset)
    track.trim(9_000)
    assert track.max_since(9_500) == 500


def test_max_since_beyond_latest_is_none() -> None:
    track = EventTimeTrack()
    track.add(3, 7)
    assert track.max_since(4) is None


def test_record_after_deadline_opens_new_segment_for_same_key() -> None:
    track = EventTimeTrack()
    table = _table(track)
    track.add(0, 5)
    table.accumulator("w", 0, deadline=20).append(0)
    track.add(1, 25)  # another key's record pushes event time past the deadline
    table.accumulator("other", 1, deadline=100).append(1)
    track.add(2, 6)
    table.accumulator("w", 2, deadline=20).append(2)
    firsts = sorted((key, seg.first, seg.acc) for key, seg in table.snapshot())
    assert firsts == [("other", 1, [1]), ("w", 0, [0]), ("w", 2, [2])]


def test_snapshot_returns_only_changed_segments() -> None:
    track = EventTimeTrack()
    table = _table(track)
    track.add(0, 5)
    table.accumulator("a", 0, deadline=50)
    track.add(1, 6)
    table.accumulator("b", 1, deadline=50)
    table.snapshot()
    track.add(2, 7)
    table.accumulator("b", 2, deadline=50)
    assert [key for key, _ in table.snapshot()] == ["b"]


def test_snapshot_evicts_expired_segments_into_spans() -> None:
    track = EventTimeTrack()
    table = _table(track)
    track.add(0, 5)
    table.accumulator("a", 0, deadline=10)
    track.add(1, 11)
    table.accumulator("b", 1, deadline=50)
    table.snapshot()
    assert len(table) == 1
    assert table.spans() == [(0, 0)]


def test_safe_offset_stops_at_first_open_segment() -> None:
    assert safe_offset(100, [40, 70], []) == 40


def test_safe_offset_moves_before_straddling_closed_segment() -> None:
    # the open segment starts at 40 but a closed one covers 30..45: replaying from 40
    # would recount its records 40..45 in a new segment.
    assert safe_offset(100, [40], [(30, 45)]) == 30


def test_safe_offset_follows_chain_of_straddles() -> None:
    assert safe_offset(100, [50], [(40, 55), (20, 41), (5, 10)]) == 20


def test_safe_offset_ignores_spans_ending_before_it() -> None:
    assert safe_offset(100, [], [(10, 20), (30, 100)]) == 30
    assert safe_offset(100, [], [(10, 20)]) == 100
