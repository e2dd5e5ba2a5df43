"""Protocol traces of the HTTP/2 relay when ends cross: a client's cancel, the app's own end and
the proxy's deadline in every order; a peer closing its socket; an upstream refused before the
first request. Each request still ends in exactly one event and no stream is left behind."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import h2.events as h2e
import pytest
from h2.errors import ErrorCodes
from h2.exceptions import H2Error
from proxy_http2_trace import GRPC_OK_HEAD, H2Trace, grpc_frame, grpc_request

from meshpipe.proxy.commands import (
    CloseConnection,
    ConnectionClosed,
    DataReceived,
    DrainStarted,
    Side,
    StartTimer,
    TimerFired,
    UpstreamFailed,
)
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

Headers = list[tuple[bytes, bytes]]
DEADLINE_TRAILERS: Headers = [(b"grpc-status", b"4"), (b"grpc-message", b"Deadline Exceeded")]
TRAILERS_ONLY: Headers = GRPC_OK_HEAD + DEADLINE_TRAILERS


def _app_trailers_only(t: H2Trace, up: int) -> None:
    t.server.conn.send_headers(up, TRAILERS_ONLY, end_stream=True)


def _app_head_then_trailers(t: H2Trace, up: int) -> None:
    t.server.conn.send_headers(up, GRPC_OK_HEAD)
    t.server.conn.send_headers(up, DEADLINE_TRAILERS, end_stream=True)


def _app_trailers_then_reset(t: H2Trace, up: int) -> None:
    """What grpc servers do when the request side is still open: end, then RST_STREAM."""
    t.server.conn.send_headers(up, TRAILERS_ONLY, end_stream=True)
    t.server.conn.reset_stream(up, ErrorCodes.NO_ERROR)


def _app_cancels(t: H2Trace, up: int) -> None:
    t.server.conn.reset_stream(up, ErrorCodes.CANCEL)


APP_ENDS: dict[str, Callable[[H2Trace, int], None]] = {
    "trailers-only": _app_trailers_only,
    "head+trailers": _app_head_then_trailers,
    "trailers+reset": _app_trailers_then_reset,
    "reset": _app_cancels,
}


def _deliver(t: H2Trace, side: Side) -> None:
    """Hand what a peer queued to the relay now (without letting anyone answer first)."""
    peer = t.client if side is Side.DOWNSTREAM else t.server
    data = peer.conn.data_to_send()
    if data and (side is Side.DOWNSTREAM or t.upstream_open):
        t.feed(DataReceived(side, data))


def _party(t: H2Trace, name: str, app_end: str, sid: int, up: int) -> None:
    """One of the three racing ends; a peer whose stream is already closed does nothing."""
    try:
        if name == "client cancel":
            t.client.conn.reset_stream(sid, ErrorCodes.CANCEL)
            _deliver(t, Side.DOWNSTREAM)
        elif name == "app end":
            APP_ENDS[app_end](t, up)
            _deliver(t, Side.UPSTREAM)
        else:
            [timer] = {c.name for c in t.of(StartTimer) if c.name.startswith("h2-response")}  # type: ignore[attr-defined]
            t.clock.advance(3600)  # past any deadline
            t.feed(TimerFired(timer))
    except H2Error:
        pass  # that peer already saw the stream end


ORDERS = [
    pytest.param(
        order,
        app_end,
        request_ended,
        id=f"{' > '.join(order)}, app {app_end}, request {'ended' if request_ended else 'open'}",
    )
    for n in (2, 3)
    for order in itertools.permutations(("client cancel", "app end", "proxy deadline"), n)
    if "client cancel" in order  # the client always gives up at its deadline
    for app_end in APP_ENDS
    for request_ended in (True, False)
]


@pytest.mark.parametrize(("order", "app_end", "request_ended"), ORDERS)
def test_crossing_ends_of_a_grpc_call_give_exactly_one_event(
    order: tuple[str, ...], app_end: str, request_ended: bool
) -> None:
    t = H2Trace()
    headers = grpc_request(b"/shop.Cart/Slow", grpc_timeout=b"300m")
    sid = t.request(headers, body=grpc_frame(b"x"), end=request_ended)
    up = t.server_stream()
    for name in order:
        _party(t, name, app_end, sid, up)
    t.run()
    [event] = t.events()
    assert event.path == "/shop.Cart/Slow"
    assert event.classification == meshpipe_pb2.FAILURE
    assert t.relay.open_streams == 0
    assert t.server.conn.streams[up].closed  # the app's stream is over too


def test_client_reset_after_the_whole_response_ends_the_request_as_answered() -> None:
    """The response went out in full while the request was still open; the client's cancel
    then ends the request (no more of it will come) and reaches the app's stream."""
    t = H2Trace()
    sid = t.request(grpc_request(b"/shop.Chat/Talk"), body=grpc_frame(b"hi"), end=False)
    up = t.server_stream()
    t.respond(up, GRPC_OK_HEAD, grpc_frame(b"bye"), trailers=[(b"grpc-status", b"0")])
    assert t.events() == []  # the request side is still open
    t.client.conn.reset_stream(sid, ErrorCodes.CANCEL)
    t.run()
    [event] = t.events()
    assert (event.WhichOneof("end"), event.grpc_status) == ("grpc_status", 0)
    assert event.classification == meshpipe_pb2.SUCCESS
    [reset] = t.server.of(h2e.StreamReset)
    assert (reset.stream_id, reset.error_code) == (up, ErrorCodes.CANCEL)  # type: ignore[attr-defined]


@pytest.mark.parametrize("side", [Side.DOWNSTREAM, Side.UPSTREAM])
def test_a_peer_closing_its_socket_closes_ours(side: Side) -> None:
    """HTTP/2 has no half-close: left open, the socket would hold a drain until its timeout."""
    t = H2Trace()
    t.feed(ConnectionClosed(side, ""))
    assert side in {c.side for c in t.of(CloseConnection)}  # type: ignore[attr-defined]


def test_upstream_refused_before_the_first_request_still_answers_and_records_it() -> None:
    """A GOAWAY before any stream would have the client retry elsewhere, unrecorded."""
    t = H2Trace(connect=False)
    t.feed(UpstreamFailed("connect_refused", "connection refused"))
    t.run()
    assert t.client.of(h2e.ConnectionTerminated) == []
    sid = t.request(grpc_request(), body=grpc_frame(b"x"))
    [head] = t.client.of(h2e.ResponseReceived)
    assert (head.stream_id, (b"grpc-status", b"14") in head.headers) == (sid, True)  # type: ignore[attr-defined]
    [goaway] = t.client.of(h2e.ConnectionTerminated)
    assert goaway.last_stream_id == sid  # type: ignore[attr-defined]
    assert [e.error.kind for e in t.events()] == ["connect_refused"]


def test_request_crossing_a_goaway_sent_before_any_stream_is_refused_not_an_error() -> None:
    t = H2Trace()
    t.feed(DrainStarted())  # the client has not read the GOAWAY when it sends its request
    sid = t.client.conn.get_next_available_stream_id()
    t.client.conn.send_headers(sid, grpc_request(), end_stream=True)
    _deliver(t, Side.DOWNSTREAM)
    t.run()
    [reset] = t.client.of(h2e.StreamReset)
    assert (reset.stream_id, reset.error_code) == (sid, ErrorCodes.REFUSED_STREAM)  # type: ignore[attr-defined]
    [goaway] = t.client.of(h2e.ConnectionTerminated)
    assert goaway.error_code == ErrorCodes.NO_ERROR  # type: ignore[attr-defined]
    assert t.events() == []  # never processed: the client retries it
