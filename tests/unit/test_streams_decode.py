"""Unit tests for streams.decode: valid records decode, invalid ones give a dead-letter reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from streams_events import BASE_S, make_event, record

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.streams.decode import (
    EdgeMemo,
    InvalidRecordError,
    dead_letter,
    decode_event,
    validate,
)


def _reason(value: bytes | None, timestamp_ms: int = 0) -> str:
    with pytest.raises(InvalidRecordError) as info:
        decode_event(record(value, timestamp_ms=timestamp_ms))
    return str(info.value)


def test_valid_event_decodes_with_its_edge() -> None:
    valid = decode_event(record(make_event().SerializeToString()))
    assert str(valid.edge) == "out|emojivoto/deployment/web|emojivoto/deployment/emoji"


def test_empty_value_is_invalid() -> None:
    assert _reason(b"") == "empty value"


def test_garbage_is_undecodable() -> None:
    assert _reason(b"\xff\xff\xff").startswith("undecodable")


def test_missing_proxy_id_is_invalid() -> None:
    assert _reason(make_event(proxy_id="").SerializeToString()) == "missing proxy_id"


def test_zero_sequence_is_invalid() -> None:
    assert _reason(make_event(seq=0).SerializeToString()).startswith("missing proxy_seq")


def test_missing_start_is_invalid() -> None:
    event = make_event()
    event.ClearField("start")
    assert _reason(event.SerializeToString()) == "missing start timestamp"


def test_zero_clock_start_is_invalid() -> None:
    assert _reason(make_event(start_ns=5).SerializeToString()).startswith("bad start")


def test_start_far_after_record_timestamp_is_invalid() -> None:
    event = make_event(start_ns=(BASE_S + 7200) * 1_000_000_000)
    assert "after the record's timestamp" in _reason(event.SerializeToString())


def test_latency_above_duration_is_invalid() -> None:
    event = make_event(latency_us=50, duration_us=10)
    assert _reason(event.SerializeToString()).startswith("latency_us 50 exceeds")


def test_malformed_workload_identity_is_invalid() -> None:
    event = make_event(src="Not_A_Name")
    assert _reason(event.SerializeToString()).startswith("bad workload identity")


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_fail_with_reason(value: bytes) -> None:
    try:
        valid = decode_event(record(value))
    except InvalidRecordError as exc:
        reason = str(exc)
    else:
        reason = "" if valid.event.proxy_id else "accepted without proxy_id"
        assert reason == ""
        return
    assert reason


def test_dead_letter_carries_record_and_reason() -> None:
    rec = record(b"\x01", offset=42, partition=3)
    letter = dead_letter(rec, "undecodable: x", "worker-1", 1_000_000_000)
    assert (letter.partition, letter.offset, letter.value, letter.reason) == (
        3,
        42,
        b"\x01",
        "undecodable: x",
    )
    assert letter.worker == "worker-1"
    assert letter.failed.seconds == 1
    assert isinstance(letter, meshpipe_pb2.DeadLetter)


def test_an_alias_kind_from_an_older_proxy_is_made_canonical_everywhere() -> None:
    event = make_event()
    event.source.kind, event.destination.kind = "deploy", "Deployments"
    valid = decode_event(record(event.SerializeToString()))
    assert (valid.event.source.kind, valid.event.destination.kind) == ("deployment", "deployment")
    assert str(valid.edge) == "out|emojivoto/deployment/web|emojivoto/deployment/emoji"


def test_an_unknown_workload_kind_is_a_dead_letter_reason() -> None:
    event = make_event()
    event.source.kind = "rollout"
    assert "invalid workload kind 'rollout'" in _reason(event.SerializeToString())


_KINDS = st.sampled_from(["deployment", "deploy", "Deployments", "sts", "configmap", "", "x/y"])
_NAMES = st.sampled_from(["web", "emoji", "Bad_Name", ""])


@given(
    st.lists(
        st.tuples(_KINDS, _NAMES, _KINDS, _NAMES, st.sampled_from(["10.0.0.1", ""])), max_size=12
    ),
    st.integers(min_value=1, max_value=3),
)
def test_the_edge_memo_gives_what_validating_each_event_alone_gives(
    peers: list[tuple[str, str, str, str, str]], max_entries: int
) -> None:
    memo = EdgeMemo(max_entries)
    for src_kind, src_name, dst_kind, dst_name, ip in peers * 2:  # seen again: from the memo
        event = make_event()
        event.source.kind, event.source.name, event.source.ip = src_kind, src_name, ip
        event.destination.kind, event.destination.name = dst_kind, dst_name
        alone, memoised = meshpipe_pb2.RequestEvent(), meshpipe_pb2.RequestEvent()
        alone.CopyFrom(event)
        memoised.CopyFrom(event)
        try:
            expected: object = validate(alone, 0).edge
        except InvalidRecordError as exc:
            expected = str(exc)
        try:
            got: object = validate(memoised, 0, memo).edge
        except InvalidRecordError as exc:
            got = str(exc)
        assert got == expected
        if not isinstance(expected, str):
            assert memoised == alone  # kinds made canonical in the event alike
