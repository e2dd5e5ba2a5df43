"""The HTTP/2 frame layer: frames cut from any read boundaries, the preface, sizes, padding,
header blocks split into CONTINUATION frames, and the framing errors."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.proxy import h2_frames as fr


def _frames() -> bytes:
    return b"".join(
        [
            fr.settings([(fr.SETTINGS_ENABLE_PUSH, 0)]),
            fr.frame(fr.HEADERS, fr.END_HEADERS, 1, b"\x82\x86"),
            fr.frame(fr.DATA, fr.END_STREAM | fr.PADDED, 1, b"\x03abc\x00\x00\x00"),
            fr.window_update(0, 1000),
            fr.rst_stream(1, fr.CANCEL),
        ]
    )


def _read_in(chunks: list[bytes], preface: bool) -> tuple[bytes, list[tuple[int, int, int, bytes]]]:
    reader = fr.FrameReader(expect_preface=preface)
    got_preface, frames = b"", []
    for chunk in chunks:
        p, fs = reader.feed(chunk)
        got_preface += p
        frames += [(f.type, f.flags, f.sid, f.payload) for f in fs]
    assert reader.buffered == 0
    return got_preface, frames


@given(cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=20))
def test_frames_come_out_the_same_whatever_the_read_boundaries(cuts: list[int]) -> None:
    data = fr.PREFACE + _frames()
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert _read_in(chunks, preface=True) == _read_in([data], preface=True)
    preface, frames = _read_in(chunks, preface=True)
    assert preface == fr.PREFACE
    assert [t for t, *_ in frames] == [fr.SETTINGS, fr.HEADERS, fr.DATA, fr.WINDOW_UPDATE, 3]


def test_a_frame_keeps_its_own_bytes_for_forwarding() -> None:
    data = _frames()
    _, frames = fr.FrameReader(expect_preface=False).feed(data)
    assert b"".join(f.raw for f in frames) == data


def test_a_wrong_preface_is_a_protocol_error_as_soon_as_it_differs() -> None:
    reader = fr.FrameReader(expect_preface=True)
    assert reader.feed(fr.PREFACE[:5]) == (b"", [])
    with pytest.raises(fr.FrameError) as err:
        reader.feed(b"GET / HTTP/1.1\r\n")
    assert err.value.code == fr.PROTOCOL_ERROR


def test_a_frame_larger_than_the_receiver_takes_fails_before_its_payload_arrives() -> None:
    reader = fr.FrameReader(expect_preface=False)
    header = (fr.DEFAULT_MAX_FRAME_SIZE + 1).to_bytes(3, "big") + b"\x00\x00\x00\x00\x00\x01"
    with pytest.raises(fr.FrameError) as err:
        reader.feed(header)
    assert err.value.code == fr.FRAME_SIZE_ERROR
    bigger = fr.FrameReader(expect_preface=False)
    bigger.max_size = 1 << 20
    assert bigger.feed(header + b"x" * (fr.DEFAULT_MAX_FRAME_SIZE + 1))[1][0].sid == 1


def test_padding_and_priority_are_taken_off_a_header_fragment() -> None:
    payload = b"\x02" + b"\x80\x00\x00\x03\x10" + b"\x82\x86" + b"\x00\x00"
    f = fr.Frame(fr.HEADERS, fr.PADDED | fr.PRIORITY_FLAG | fr.END_HEADERS, 5, payload, b"")
    assert fr.headers_fragment(f) == (b"\x80\x00\x00\x03\x10", b"\x82\x86")
    assert fr.unpadded(fr.Frame(fr.DATA, fr.PADDED, 1, b"\x01ab\x00", b"")) == b"ab"
    with pytest.raises(fr.FrameError):
        fr.unpadded(fr.Frame(fr.DATA, fr.PADDED, 1, b"\x05ab", b""))


def test_a_large_header_block_goes_out_as_headers_and_continuations() -> None:
    block = bytes(range(256)) * 200  # 51,200 bytes: four frames
    data = fr.header_frames(3, block, end_stream=True, priority=b"\x00\x00\x00\x00\x0f")
    _, frames = fr.FrameReader(expect_preface=False).feed(data)
    assert [f.type for f in frames] == [fr.HEADERS] + [fr.CONTINUATION] * 3
    assert frames[0].flags == fr.END_STREAM | fr.PRIORITY_FLAG
    assert [f.flags for f in frames[1:]] == [0, 0, fr.END_HEADERS]
    assert fr.headers_fragment(frames[0])[1] + b"".join(f.payload for f in frames[1:]) == block


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (fr.Frame(fr.PING, 0, 1, b"\x00" * 8, b""), fr.PROTOCOL_ERROR),
        (fr.Frame(fr.PING, 0, 0, b"\x00" * 7, b""), fr.FRAME_SIZE_ERROR),
        (fr.Frame(fr.DATA, 0, 0, b"x", b""), fr.PROTOCOL_ERROR),
        (fr.Frame(fr.RST_STREAM, 0, 1, b"\x00" * 3, b""), fr.FRAME_SIZE_ERROR),
        (fr.Frame(fr.SETTINGS, fr.ACK, 0, b"\x00" * 6, b""), fr.FRAME_SIZE_ERROR),
        (fr.Frame(fr.SETTINGS, 0, 0, b"\x00" * 5, b""), fr.FRAME_SIZE_ERROR),
        (fr.Frame(fr.GOAWAY, 0, 0, b"\x00" * 7, b""), fr.FRAME_SIZE_ERROR),
        (fr.Frame(fr.WINDOW_UPDATE, 0, 1, b"\x00" * 5, b""), fr.FRAME_SIZE_ERROR),
    ],
)
def test_framing_rules_broken_are_connection_errors_with_their_code(
    frame: fr.Frame, code: int
) -> None:
    with pytest.raises(fr.FrameError) as err:
        fr.check(frame)
    assert err.value.code == code


def test_unknown_frame_types_pass_the_framing_check() -> None:
    fr.check(fr.Frame(0xFA, 0, 0, b"whatever", b""))
