"""Protocol traces of the HTTP/2 relay when things end early: resets, GOAWAY, failed upstreams,
deadlines, protocol errors, shutdown."""

from __future__ import annotations

import h2.events as h2e
from h2.errors import ErrorCodes
from proxy_http2_trace import (
    GRPC_OK_HEAD,
    GRPC_OK_TRAILERS,
    H2Trace,
    get_request,
    grpc_frame,
    grpc_request,
)

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
from meshpipe.proxy.http2_state import CLOSE_TIMER
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


def started_call(t: H2Trace, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, int]:
    """A streaming call with the response head already back; (client sid, server sid)."""
    sid = t.request(headers or grpc_request(b"/shop.Chat/Talk"), end=False)
    up = t.server_stream()
    t.server.conn.send_headers(up, GRPC_OK_HEAD)
    t.server.send(up, grpc_frame(b"hi"), end=False)
    t.run()
    return sid, up


def closed_sides(t: H2Trace) -> set[Side]:
    return {c.side for c in t.of(CloseConnection)}  # type: ignore[attr-defined]


def test_client_cancel_resets_the_upstream_stream_with_the_same_code() -> None:
    t = H2Trace()
    sid, up = started_call(t)
    t.client.conn.reset_stream(sid, ErrorCodes.CANCEL)
    t.run()
    [reset] = t.server.of(h2e.StreamReset)
    assert (reset.stream_id, reset.error_code) == (up, ErrorCodes.CANCEL)  # type: ignore[attr-defined]
    [ev] = t.events()
    assert ev.WhichOneof("end") == "reset_code"
    assert ev.reset_code == ErrorCodes.CANCEL
    assert ev.classification == meshpipe_pb2.FAILURE


def test_server_reset_reaches_the_client_with_the_same_code() -> None:
    t = H2Trace()
    sid, up = started_call(t)
    t.server.conn.reset_stream(up, ErrorCodes.INTERNAL_ERROR)
    t.run()
    [reset] = t.client.of(h2e.StreamReset)
    assert (reset.stream_id, reset.error_code) == (sid, ErrorCodes.INTERNAL_ERROR)  # type: ignore[attr-defined]
    [ev] = t.events()
    assert ev.reset_code == ErrorCodes.INTERNAL_ERROR


def test_server_reset_after_its_full_response_delivers_the_response_and_is_no_failure() -> None:
    t = H2Trace()
    sid, up = started_call(t)  # the client is still streaming its request
    t.server.send(up, b"", trailers=[(b"grpc-status", b"0")])
    t.server.conn.reset_stream(up, ErrorCodes.NO_ERROR)
    t.run()
    assert t.client.of(h2e.TrailersReceived)
    [reset] = t.client.of(h2e.StreamReset)
    assert (reset.stream_id, reset.error_code) == (sid, ErrorCodes.NO_ERROR)  # type: ignore[attr-defined]
    [ev] = t.events()
    assert ev.WhichOneof("end") == "grpc_status"
    assert ev.classification == meshpipe_pb2.SUCCESS


def test_upstream_goaway_refuses_unprocessed_streams_and_lets_the_others_finish() -> None:
    t = H2Trace()
    first = t.request(grpc_request(b"/a"), end=False)
    second = t.request(grpc_request(b"/b"), end=False)
    up_first = t.server_stream(0)
    t.server.conn.close_connection(last_stream_id=up_first)
    t.run()
    refused = t.client.of(h2e.StreamReset)
    assert [(e.stream_id, e.error_code) for e in refused] == [  # type: ignore[attr-defined]
        (second, ErrorCodes.REFUSED_STREAM)
    ]
    assert t.client.of(h2e.ConnectionTerminated)
    t.client.send(first, b"")
    t.respond(up_first, GRPC_OK_HEAD, grpc_frame(b"ok"), trailers=GRPC_OK_TRAILERS)
    assert bytes(t.client.bodies[first]) == grpc_frame(b"ok")
    by_path = {e.path: e for e in t.events()}
    assert by_path["/a"].grpc_status == 0
    assert by_path["/b"].reset_code == ErrorCodes.REFUSED_STREAM
    assert Side.UPSTREAM in closed_sides(t)
    assert StartTimer(CLOSE_TIMER, 1.0) in t.commands
    t.feed(TimerFired(CLOSE_TIMER))
    assert Side.DOWNSTREAM in closed_sides(t)


def test_upstream_goaway_with_an_error_fails_open_grpc_calls_as_unavailable() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(), end=False)
    t.server.conn.close_connection(error_code=ErrorCodes.INTERNAL_ERROR)
    t.run()
    [head] = t.client.of(h2e.ResponseReceived)
    assert head.stream_id == sid
    assert (b"grpc-status", b"14") in head.headers
    [goaway] = t.client.of(h2e.ConnectionTerminated)
    assert goaway.error_code == ErrorCodes.INTERNAL_ERROR  # type: ignore[attr-defined]
    [ev] = t.events()
    assert ev.error.kind == "upstream_reset"


def test_client_goaway_is_passed_upstream_and_in_flight_calls_complete() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(), body=grpc_frame(b"x"))
    t.client.conn.close_connection()
    t.run()
    assert t.server.of(h2e.ConnectionTerminated)
    t.respond(t.server_stream(), GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
    assert t.client.of(h2e.TrailersReceived)[0].stream_id == sid  # type: ignore[attr-defined]
    assert len(t.events()) == 1
    assert closed_sides(t) == {Side.UPSTREAM, Side.DOWNSTREAM}


def test_refused_upstream_gives_grpc_callers_a_trailers_only_unavailable() -> None:
    t = H2Trace(connect=False)
    sid = t.request(grpc_request(), body=grpc_frame(b"x"))
    t.feed(UpstreamFailed("connect_refused", "connection refused"))
    [head] = t.client.of(h2e.ResponseReceived)
    assert head.stream_id == sid
    assert head.stream_ended is not None
    assert (b"grpc-status", b"14") in head.headers  # type: ignore[attr-defined]
    [ev] = t.events()
    assert (ev.error.kind, ev.error.message) == ("connect_refused", "connection refused")
    assert ev.http_status == 200
    assert ev.classification == meshpipe_pb2.FAILURE


def test_refused_upstream_gives_plain_http2_callers_a_502() -> None:
    t = H2Trace(connect=False)
    t.request(get_request())
    t.feed(UpstreamFailed("connect_refused", "connection refused"))
    [head] = t.client.of(h2e.ResponseReceived)
    assert (b":status", b"502") in head.headers  # type: ignore[attr-defined]
    assert t.events()[0].http_status == 502


def test_upstream_connect_timeout_is_deadline_exceeded_for_grpc_and_504_for_http() -> None:
    t = H2Trace(connect=False)
    t.request(grpc_request())
    t.request(get_request())
    t.feed(UpstreamFailed("connect_timeout", "timed out"))
    statuses = [dict(e.headers) for e in t.client.of(h2e.ResponseReceived)]  # type: ignore[attr-defined]
    assert statuses[0][b"grpc-status"] == b"4"
    assert statuses[1][b":status"] == b"504"
    assert [e.error.kind for e in t.events()] == ["connect_timeout", "connect_timeout"]


def test_upstream_connection_lost_mid_response_resets_the_client_stream() -> None:
    t = H2Trace()
    sid, _ = started_call(t)
    t.feed(ConnectionClosed(Side.UPSTREAM, "connection reset by peer"))
    [reset] = t.client.of(h2e.StreamReset)
    assert (reset.stream_id, reset.error_code) == (sid, ErrorCodes.INTERNAL_ERROR)  # type: ignore[attr-defined]
    [ev] = t.events()
    assert (ev.error.kind, ev.http_status) == ("upstream_reset", 200)
    assert t.client.of(h2e.ConnectionTerminated)


def test_grpc_deadline_passing_without_a_response_ends_the_call_deadline_exceeded() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(grpc_timeout=b"250m"), body=grpc_frame(b"x"))
    [timer] = t.of(StartTimer)
    assert timer.seconds == 0.25  # type: ignore[attr-defined]
    t.clock.advance(0.25)
    t.feed(TimerFired(timer.name))  # type: ignore[attr-defined]
    t.run()
    [head] = t.client.of(h2e.ResponseReceived)
    assert head.stream_id == sid
    assert (b"grpc-status", b"4") in head.headers
    assert t.server.of(h2e.StreamReset)[0].error_code == ErrorCodes.CANCEL  # type: ignore[attr-defined]
    assert t.events()[0].error.kind == "upstream_timeout"


def test_one_timer_serves_every_stream_and_fires_only_the_ones_past_their_deadline() -> None:
    t = H2Trace()
    slow = t.request(grpc_request(b"/slow", grpc_timeout=b"100m"), end=True)
    t.clock.advance(0.05)
    fast = t.request(grpc_request(b"/later", grpc_timeout=b"100m"), end=True)
    t.request(grpc_request(b"/sooner", grpc_timeout=b"10m"), end=True)
    timers = t.of(StartTimer)
    assert [(c.name, round(c.seconds, 3)) for c in timers] == [  # type: ignore[attr-defined]
        ("h2-response", 0.1),  # the first deadline
        ("h2-response", 0.01),  # an earlier one re-arms it; a later one does not
    ]
    t.respond(t.server_stream(2), GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)  # /sooner answered
    t.clock.advance(0.06)
    t.feed(TimerFired("h2-response"))  # /slow is past due, /later due in 0.04 s
    t.run()
    heads = {h.stream_id: dict(h.headers) for h in t.client.of(h2e.ResponseReceived)}  # type: ignore[attr-defined]
    assert heads[slow][b"grpc-status"] == b"4"
    assert fast not in heads
    assert round(t.of(StartTimer)[-1].seconds, 3) == 0.04  # type: ignore[attr-defined]
    assert [e.path for e in t.events()] == ["/sooner", "/slow"]


def test_response_arriving_in_time_cancels_the_timer_and_a_late_fire_is_ignored() -> None:
    t = H2Trace()
    t.request(get_request())
    [timer] = t.of(StartTimer)
    t.respond(t.server_stream(), [(b":status", b"200")], b"ok")
    t.feed(TimerFired(timer.name))  # type: ignore[attr-defined]
    [ev] = t.events()
    assert ev.http_status == 200
    assert ev.WhichOneof("end") is None


def test_client_protocol_error_gets_goaway_and_every_open_stream_one_event() -> None:
    t = H2Trace()
    t.request(grpc_request(), end=False)
    ping_on_stream_1 = b"\x00\x00\x08\x06\x00\x00\x00\x00\x01" + b"\x00" * 8
    t.feed(DataReceived(Side.DOWNSTREAM, ping_on_stream_1))  # h2 clients never send this
    [goaway] = t.client.of(h2e.ConnectionTerminated)
    assert goaway.error_code == ErrorCodes.PROTOCOL_ERROR  # type: ignore[attr-defined]
    assert t.server.of(h2e.StreamReset)[0].error_code == ErrorCodes.CANCEL  # type: ignore[attr-defined]
    [ev] = t.events()
    assert ev.error.kind == "protocol_error"
    assert closed_sides(t) == {Side.UPSTREAM, Side.DOWNSTREAM}


def test_client_disconnect_cancels_upstream_streams_with_one_event_each() -> None:
    t = H2Trace()
    started_call(t)
    t.request(grpc_request(b"/other"), end=False)
    t.feed(ConnectionClosed(Side.DOWNSTREAM, "connection reset by peer"))
    t.run()
    assert len(t.server.of(h2e.StreamReset)) == 2
    assert sorted(e.error.kind for e in t.events()) == ["downstream_closed"] * 2


def test_drain_sends_goaway_finishes_in_flight_calls_and_refuses_new_ones() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(), end=False)
    t.feed(DrainStarted())
    [goaway] = t.client.of(h2e.ConnectionTerminated)
    assert goaway.last_stream_id == sid  # type: ignore[attr-defined]
    late = t.request(grpc_request(b"/late"))  # sent before the client read the GOAWAY
    assert [(e.stream_id, e.error_code) for e in t.client.of(h2e.StreamReset)] == [  # type: ignore[attr-defined]
        (late, ErrorCodes.REFUSED_STREAM)
    ]
    assert len(t.server.of(h2e.RequestReceived)) == 1
    t.client.send(sid, b"")
    t.respond(t.server_stream(), GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
    assert t.client.of(h2e.TrailersReceived)
    assert [e.path for e in t.events()] == ["/shop.Cart/Add"]  # never processed: no event
    assert Side.UPSTREAM in closed_sides(t)


def test_upstream_closing_after_a_complete_response_still_delivers_all_of_it() -> None:
    t = H2Trace()
    sid = t.request(get_request(b"/big"))
    body = bytes(range(256)) * 1024
    t.server.conn.send_headers(t.server_stream(), [(b":status", b"200")])
    t.server.send(t.server_stream(), body)
    t.run()
    t.upstream_open = False
    t.feed(ConnectionClosed(Side.UPSTREAM))  # right after the last frame went by
    t.run()
    assert bytes(t.client.bodies[sid]) == body
    [ev] = t.events()
    assert ev.WhichOneof("end") is None
    assert ev.response_bytes == len(body)
