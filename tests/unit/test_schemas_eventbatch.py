"""The requests topic's record formats: one event, or a `request-batch/1` batch of one edge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.schemas import eventbatch
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


def _event(seq: int, path: str = "/") -> meshpipe_pb2.RequestEvent:
    return meshpipe_pb2.RequestEvent(proxy_id="p", proxy_seq=seq, path=path)


@given(st.lists(st.text(max_size=300), min_size=1, max_size=20))
def test_a_batch_is_byte_for_byte_what_protobuf_writes_for_the_message(paths: list[str]) -> None:
    events = [_event(i + 1, path) for i, path in enumerate(paths)]
    value = eventbatch.encode_batch(e.SerializeToString() for e in events)
    assert value == meshpipe_pb2.RequestEventBatch(events=events).SerializeToString()
    assert eventbatch.decode_record(value, eventbatch.BATCH_HEADERS) == events


def test_a_record_without_the_format_header_is_one_event() -> None:
    event = _event(7)
    assert eventbatch.record_format(None) is None
    assert eventbatch.decode_record(event.SerializeToString(), [("other", b"x")]) == [event]


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b"", eventbatch.BATCH_HEADERS, "empty batch"),
        (b"\x0a\x05ab", eventbatch.BATCH_HEADERS, "undecodable batch"),
        (b"\x10\x01", eventbatch.BATCH_HEADERS, "batch without events"),
        (
            _event(1).SerializeToString(),
            [(eventbatch.FORMAT_HEADER, b"request-batch/9")],
            "unknown",
        ),
        (b"", None, "empty value"),
        (b"\xff\xfe", None, "undecodable"),
    ],
)
def test_records_that_do_not_decode_in_their_format_say_why(
    value: bytes, headers: eventbatch.Headers | None, reason: str
) -> None:
    with pytest.raises(eventbatch.RecordFormatError, match=reason):
        eventbatch.decode_record(value, headers)


def test_runs_keep_order_and_caps_and_a_large_event_goes_alone() -> None:
    small, large = b"s" * 10, b"L" * 100
    runs = eventbatch.split_batches([small, small, small, large, small], 2, 25)
    assert runs == [[small, small], [small], [large], [small]]
    assert eventbatch.split_batches([], 2, 25) == []
