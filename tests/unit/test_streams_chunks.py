"""Unit tests for streams.chunks: where chunks start, and per-key accumulators within a chunk."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.streams.chunks import Chunker, ChunkSettings, ChunkTable


def _starts(chunker: Chunker, timestamps_ms: list[int], first_offset: int = 0) -> list[int]:
    return [
        offset
        for offset, ts in enumerate(timestamps_ms, start=first_offset)
        if chunker.starts_chunk(offset, ts)
    ]


def test_first_record_starts_a_chunk() -> None:
    chunker = Chunker(ChunkSettings())
    assert _starts(chunker, [5, 5], first_offset=40) == [40]
    assert chunker.first == 40


def test_chunk_ends_after_max_records() -> None:
    assert _starts(Chunker(ChunkSettings(max_records=3)), [0] * 8) == [0, 3, 6]


def test_chunk_ends_at_a_record_max_age_after_its_first() -> None:
    chunker = Chunker(ChunkSettings(max_records=100, max_age_s=10))
    assert _starts(chunker, [0, 9_999, 500, 10_000, 19_999, 20_000]) == [0, 3, 5]


@given(st.lists(st.integers(0, 100_000), min_size=1, max_size=60), st.data())
def test_replay_from_any_chunk_start_cuts_the_same_later_chunks(
    timestamps_ms: list[int], data: st.DataObject
) -> None:
    settings = ChunkSettings(max_records=4, max_age_s=20)
    starts = _starts(Chunker(settings), timestamps_ms)
    resume = data.draw(st.sampled_from(starts))
    replayed = _starts(Chunker(settings), timestamps_ms[resume:], first_offset=resume)
    assert replayed == [start for start in starts if start >= resume]


def test_snapshot_returns_only_changed_keys_with_their_last_offset() -> None:
    table: ChunkTable[str, list[int]] = ChunkTable(list)
    table.accumulator("a", 0).append(0)
    table.accumulator("b", 1).append(1)
    table.snapshot()
    table.accumulator("b", 2).append(2)
    assert [(key, entry.last, entry.acc) for key, entry in table.snapshot()] == [("b", 2, [1, 2])]
    assert table.snapshot() == []


def test_clear_forgets_every_key() -> None:
    table: ChunkTable[str, list[int]] = ChunkTable(list)
    table.accumulator("a", 0)
    table.clear()
    assert len(table) == 0


def test_settings_reject_empty_chunks() -> None:
    with pytest.raises(ValueError, match="at least 1 record"):
        ChunkSettings(max_records=0)
