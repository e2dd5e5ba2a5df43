"""Fuzzing the HTTP/1.1 relay layer: no input sequence makes it raise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from proxy_trace import Trace, context

from meshpipe.proxy.commands import (
    ConnectionClosed,
    DataReceived,
    Event,
    Side,
    TimerFired,
    UpstreamConnected,
    UpstreamFailed,
)
from meshpipe.proxy.detect import detect
from meshpipe.proxy.http1 import RESPONSE_TIMER, Http1Relay
from meshpipe.proxy.http1_parse import BodyFraming, BodyReader, Framing
from meshpipe.proxy.layer import Limits
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

# Pieces of real messages, so generated inputs get past the first line often.
FRAGMENTS = [
    b"GET / HTTP/1.1\r\n",
    b"POST /x HTTP/1.1\r\n",
    b"CONNECT a:1 HTTP/1.1\r\n",
    b"GET http://h:1/p HTTP/1.1\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 101 Switching\r\n",
    b"HTTP/1.1 100 Continue\r\n",
    b"Host: a\r\n",
    b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"Upgrade: websocket\r\nConnection: upgrade\r\n",
    b"Expect: 100-continue\r\n",
    b"meshpipe-src: a/deployment/b/c\r\n",
    b"\r\n",
    b"3\r\nabc\r\n",
    b"0\r\n\r\n",
    b"abc",
    b"\n",
    b"\r",
    b"\x00",
    b" ",
]

payload = st.one_of(
    st.binary(max_size=64),
    st.lists(st.sampled_from(FRAGMENTS), max_size=12).map(b"".join),
)
events = st.one_of(
    payload.map(lambda d: DataReceived(Side.DOWNSTREAM, d)),
    payload.map(lambda d: DataReceived(Side.UPSTREAM, d)),
    st.just(UpstreamConnected()),
    st.sampled_from(["connect_refused", "connect_timeout", "weird"]).map(
        lambda k: UpstreamFailed(k, "x")
    ),
    st.sampled_from(list(Side)).map(lambda s: ConnectionClosed(s)),
    st.just(TimerFired(RESPONSE_TIMER)),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(events, max_size=25),
    st.sampled_from([meshpipe_pb2.INBOUND, meshpipe_pb2.OUTBOUND]),
    st.booleans(),
)
def test_any_event_sequence_is_handled_without_raising_and_seqs_have_no_gaps(
    sequence: list[Event], direction: meshpipe_pb2.Direction.ValueType, explicit: bool
) -> None:
    ctx = context(direction=direction, limits=Limits(max_header_bytes=256, max_buffer_bytes=64))
    if explicit:
        ctx = context(direction=direction, target=None, limits=ctx.limits)
    trace = Trace(Http1Relay(ctx))
    for event in sequence:
        trace.feed(event)
    seqs = [e.proxy_seq for e in trace.events()]
    assert seqs == list(range(1, len(seqs) + 1))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512), st.integers(min_value=1, max_value=64))
def test_arbitrary_client_bytes_in_any_split_never_raise(data: bytes, step: int) -> None:
    trace = Trace(Http1Relay(context()))
    for i in range(0, len(data), step):
        trace.feed(DataReceived(Side.DOWNSTREAM, data[i : i + step]))
    trace.feed(UpstreamConnected())
    assert len(trace.events()) <= 1 + data.count(b"\n")


def _dechunk(data: bytes) -> bytes:
    """Decode the relay's normalized chunked output (no extensions, no trailers)."""
    out = bytearray()
    while True:
        line, _, data = data.partition(b"\r\n")
        size = int(line, 16)
        if size == 0:
            assert data == b"\r\n"
            return bytes(out)
        out += data[:size]
        assert data[size : size + 2] == b"\r\n"
        data = data[size + 2 :]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=1, max_value=300), max_size=20))
def test_chunked_reframing_preserves_the_payload(payload: bytes, sizes: list[int]) -> None:
    wire = bytearray()
    rest = payload
    for size in [*sizes, len(payload) or 1]:
        piece, rest = rest[:size], rest[size:]
        if piece:
            wire += f"{len(piece):X};ext=1\r\n".encode() + piece + b"\r\n"
    wire += b"0\r\n\r\n"
    reader = BodyReader(BodyFraming(Framing.CHUNKED), 1024)
    buf, forwarded, counted = bytearray(), bytearray(), 0
    for i in range(0, len(wire), 7):
        buf += wire[i : i + 7]
        out, n = reader.feed(buf)
        forwarded += out
        counted += n
    assert reader.done
    assert not buf
    assert counted == len(payload)
    assert _dechunk(bytes(forwarded)) == payload


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100))
def test_detection_always_decides_when_no_more_bytes_will_come(data: bytes) -> None:
    assert detect(data, final=True) is not None
