"""Protocol detection from one peek, and the layer that hands the connection on."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proxy_trace import Trace, context

from meshpipe.proxy.commands import (
    CancelTimer,
    CloseConnection,
    Command,
    DrainStarted,
    OpenUpstream,
    Side,
    StartTimer,
    TimerFired,
)
from meshpipe.proxy.detect import (
    DETECT_TIMER,
    H2_PREFACE,
    Detected,
    DetectLayer,
    connection_layer,
    detect,
)
from meshpipe.proxy.http1 import Http1Relay
from meshpipe.proxy.layer import Layer, LayerContext
from meshpipe.proxy.tcp import TcpRelay
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

# The start of a TLS 1.2 ClientHello record, as curl sends it.
TLS_CLIENT_HELLO = bytes.fromhex(
    "160301020001000" + "1fc0303" + "5a" * 32 + "20" + "11" * 32 + "003e130213031301c02c"
)
METHOD = st.from_regex(rb"[A-Z]{1,10}", fullmatch=True)
LINE_MIDDLE = st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b)


@pytest.mark.parametrize(
    ("data", "final", "expected"),
    [
        (H2_PREFACE + b"\x00\x00", False, Detected.HTTP2),
        (H2_PREFACE[:10], False, None),
        (H2_PREFACE[:10], True, Detected.OPAQUE),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", False, Detected.HTTP1),
        (b"OPTIONS * HTTP/1.0\r\n", False, Detected.HTTP1),
        (b"GET /long/path", False, None),
        (b"GET /long/path", True, Detected.OPAQUE),
        (b"\x16\x03\x01\x02\x00", False, Detected.OPAQUE),
        (b"SSH-2.0-OpenSSH_9.6\r\n", False, Detected.OPAQUE),
        (b"GET / HTTP/2.0\r\n", False, Detected.OPAQUE),
        (b"G" * 40, False, Detected.OPAQUE),
        # Malformed request lines are still HTTP: the HTTP/1 layer answers them with 400.
        (b"GET  /a  HTTP/1.1\r\nHost: a\r\n\r\n", False, Detected.HTTP1),
        (b"GET\t/a HTTP/1.1\r\n", False, Detected.HTTP1),
        (b"GET HTTP/1.1\r\n", False, Detected.HTTP1),
        (b"GET /a b HTTP/1.0 \r\n", False, Detected.HTTP1),
        (b"GET  /a  HTTP/1.1", True, Detected.OPAQUE),  # the line never completed
        # Other protocols still fail open to opaque TCP.
        (TLS_CLIENT_HELLO, False, Detected.OPAQUE),
        (b"*1\r\n$4\r\nPING\r\n", False, Detected.OPAQUE),
        (b"EHLO x\r\n", False, Detected.OPAQUE),
        (b"RTSP/1.0 200 OK\r\n", False, Detected.OPAQUE),
        (b"OPTIONS rtsp://a/b RTSP/1.0\r\n", False, Detected.OPAQUE),
    ],
)
def test_detect_decides_from_the_first_bytes(
    data: bytes, final: bool, expected: Detected | None
) -> None:
    assert detect(data, final) is expected


@settings(max_examples=300, deadline=None)
@given(METHOD, LINE_MIDDLE, st.sampled_from([b"HTTP/1.0", b"HTTP/1.1"]))
def test_any_line_from_a_method_to_an_http1_version_is_http(
    method: bytes, middle: bytes, version: bytes
) -> None:
    line = method + b" " + middle + b" " + version + b"\r\n"
    assert detect(line + b"Host: a\r\n\r\n", final=False) is Detected.HTTP1


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.booleans())
def test_random_bytes_are_never_taken_for_http(data: bytes, final: bool) -> None:
    assert detect(data, final) is not Detected.HTTP1


def test_malformed_request_line_gets_400_and_an_event_not_an_opaque_relay() -> None:
    t = Trace(connection_layer(context()))
    t.down(b"GET  /a  HTTP/1.1\r\nHost: a\r\n\r\n")
    assert not t.of(OpenUpstream)
    assert t.sent(Side.UPSTREAM) == b""
    assert t.sent(Side.DOWNSTREAM).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert CloseConnection(Side.DOWNSTREAM) in t.commands
    [ev] = t.events()
    assert (ev.protocol, ev.http_status, ev.error.kind) == (
        meshpipe_pb2.HTTP1,
        400,
        "bad_request",
    )


class Recorder:
    """A child layer that records what it is fed and answers nothing."""

    def __init__(self, ctx: LayerContext) -> None:
        self.ctx = ctx
        self.seen: list[object] = []

    def handle(self, event: object) -> list[Command]:
        self.seen.append(event)
        return []


def layer(target_ctx: LayerContext | None = None) -> tuple[Trace, dict[Detected, Recorder]]:
    made: dict[Detected, Recorder] = {}

    def factory(kind: Detected) -> object:
        def make(ctx: LayerContext) -> Layer:
            made[kind] = Recorder(ctx)
            return made[kind]

        return make

    factories = {kind: factory(kind) for kind in Detected}
    return Trace(DetectLayer(target_ctx or context(), factories)), made  # type: ignore[arg-type]


def test_detection_arms_a_timer_when_the_connection_is_accepted() -> None:
    t, _ = layer()
    assert t.commands == [StartTimer(DETECT_TIMER, 10.0)]


def test_bytes_split_across_reads_are_buffered_then_given_whole_to_the_protocol() -> None:
    t, made = layer()
    t.down(b"GET / HT")
    assert made == {}
    cmds = t.down(b"TP/1.1\r\nHost: a\r\n\r\n")
    assert CancelTimer(DETECT_TIMER) in cmds
    seen = made[Detected.HTTP1].seen
    assert seen[1].data == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"  # type: ignore[attr-defined]


def test_detection_timeout_falls_back_to_opaque() -> None:
    t, made = layer()
    t.down(b"GET /slow")
    t.feed(TimerFired(DETECT_TIMER))
    assert list(made) == [Detected.OPAQUE]


def test_client_closing_before_sending_anything_closes_without_a_layer() -> None:
    t, made = layer()
    assert t.closed(Side.DOWNSTREAM) == [
        CancelTimer(DETECT_TIMER),
        CloseConnection(Side.DOWNSTREAM),
    ]
    assert made == {}


def test_connect_tunnel_content_is_detected_again_against_the_tunnel_target() -> None:
    ctx = context(direction=meshpipe_pb2.OUTBOUND, target=None)
    factories = {Detected.HTTP1: Http1Relay, Detected.HTTP2: Http1Relay, Detected.OPAQUE: TcpRelay}
    t = Trace(DetectLayer(ctx, factories))  # type: ignore[arg-type]
    t.down(b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n\x00\x00\x00\x08")
    t.feed(TimerFired(DETECT_TIMER))
    assert t.sent(Side.DOWNSTREAM) == b"HTTP/1.1 200 Connection Established\r\n\r\n"
    assert OpenUpstream("db", 5432) in t.commands
    t.connected()
    assert t.sent(Side.UPSTREAM) == b"\x00\x00\x00\x08"
    t.closed(Side.DOWNSTREAM)
    t.closed(Side.UPSTREAM)
    [ev] = t.events()
    assert (ev.protocol, ev.authority, ev.destination.port) == (
        meshpipe_pb2.OPAQUE_TCP,
        "db:5432",
        5432,
    )


def test_http1_inside_a_connect_tunnel_gets_its_own_request_event() -> None:
    ctx = context(direction=meshpipe_pb2.OUTBOUND, target=None)
    factories = {Detected.HTTP1: Http1Relay, Detected.HTTP2: Http1Relay, Detected.OPAQUE: TcpRelay}
    t = Trace(DetectLayer(ctx, factories))  # type: ignore[arg-type]
    t.down(b"CONNECT api:80 HTTP/1.1\r\nHost: api:80\r\n\r\nGET /in HTTP/1.1\r\nHost: api\r\n\r\n")
    assert OpenUpstream("api", 80) in t.commands
    t.connected()
    assert t.sent(Side.UPSTREAM).startswith(b"GET /in HTTP/1.1\r\n")
    t.up(b"HTTP/1.1 204 No Content\r\n\r\n")
    [ev] = t.events()
    assert (ev.path, ev.http_status, ev.destination.ip) == ("/in", 204, "api")


def test_drain_before_any_byte_closes_the_connection() -> None:
    t, made = layer()
    assert CloseConnection(Side.DOWNSTREAM) in t.feed(DrainStarted())
    assert made == {}
