"""Protocol traces of the HTTP/1.1 relay layer: bytes in, commands out."""

from __future__ import annotations

import pytest
from proxy_trace import APP, FakeClock, Trace, context

from meshpipe.proxy.commands import (
    CloseConnection,
    DataReceived,
    DrainStarted,
    FinishRequestEvent,
    OpenUpstream,
    PauseReading,
    Redetect,
    ResumeReading,
    SendData,
    Side,
    StartTimer,
    TimerFired,
    UpstreamFailed,
)
from meshpipe.proxy.http1 import RESPONSE_TIMER, Http1Relay
from meshpipe.proxy.layer import Limits
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

GET = b"GET /api/list?x=1 HTTP/1.1\r\nHost: web:8080\r\nUser-Agent: t/1\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def inbound(**kwargs: object) -> Trace:
    return Trace(Http1Relay(context(**kwargs)))  # type: ignore[arg-type]


def outbound_explicit() -> Trace:
    return Trace(Http1Relay(context(direction=meshpipe_pb2.OUTBOUND, target=None)))


def test_request_waits_for_upstream_then_is_relayed_to_the_app() -> None:
    t = inbound()
    cmds = t.down(GET)
    assert OpenUpstream(APP.host, APP.port) in cmds
    assert t.sent(Side.UPSTREAM) == b""
    t.connected()
    assert t.sent(Side.UPSTREAM) == GET


def test_inbound_response_gets_dst_identity_and_one_event_with_request_fields() -> None:
    clock = FakeClock()
    t = Trace(Http1Relay(context(clock=clock)))
    t.down(
        GET.replace(b"\r\n\r\n", b"\r\nmeshpipe-src: emojivoto/deployment/vote-bot/vb-1\r\n\r\n")
    )
    t.connected()
    assert b"meshpipe-src" not in t.sent(Side.UPSTREAM)
    clock.advance(0.25)
    t.up(OK)
    assert t.sent(Side.DOWNSTREAM) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
        b"meshpipe-dst: emojivoto/deployment/web/web-5d8f-abcde\r\n\r\nhello"
    )
    [ev] = t.events()
    assert (ev.direction, ev.protocol, ev.method, ev.path) == (
        meshpipe_pb2.INBOUND,
        meshpipe_pb2.HTTP1,
        "GET",
        "/api/list?x=1",
    )
    assert (ev.authority, ev.http_status, ev.response_bytes, ev.proxy_seq) == (
        "web:8080",
        200,
        5,
        1,
    )
    assert (ev.source.name, ev.source.pod, ev.source.meshed) == ("vote-bot", "vb-1", True)
    assert (ev.destination.name, ev.destination.port) == ("web", 8080)
    assert ev.latency_us == 250_000
    assert ev.classification == meshpipe_pb2.SUCCESS


MESHED_GET = GET.replace(
    b"\r\n\r\n", b"\r\nmeshpipe-src: emojivoto/deployment/vote-bot/vb-1\r\n\r\n"
)
DST_LINE = b"meshpipe-dst: emojivoto/deployment/web/web-5d8f-abcde\r\n"


def test_inbound_response_to_an_unmeshed_caller_carries_no_identity_header() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.up(OK.replace(b"\r\n\r\n", b"\r\nmeshpipe-dst: forged/deployment/x/y\r\n\r\n"))
    assert t.sent(Side.DOWNSTREAM) == OK
    [ev] = t.events()
    assert (ev.source.meshed, ev.http_status) == (False, 200)


@pytest.mark.parametrize(("request_head", "shown"), [(GET, False), (MESHED_GET, True)])
def test_inbound_error_response_has_dst_only_when_the_caller_is_meshed(
    request_head: bytes, shown: bool
) -> None:
    t = inbound()
    t.down(request_head)
    t.feed(UpstreamFailed("connect_refused", "nope"))
    sent = t.sent(Side.DOWNSTREAM)
    assert sent.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert (DST_LINE in sent) == shown


def test_inbound_keep_alive_decides_identity_per_request() -> None:
    t = inbound()
    t.down(MESHED_GET)
    t.connected()
    t.up(OK)
    first = t.sent(Side.DOWNSTREAM)
    t.down(GET)
    t.up(OK)
    assert DST_LINE in first
    assert t.sent(Side.DOWNSTREAM)[len(first) :] == OK


def test_keep_alive_reuses_the_upstream_and_numbers_events_without_gaps() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.up(OK)
    t.down(GET)
    t.up(OK)
    assert len(t.of(OpenUpstream)) == 1
    assert [e.proxy_seq for e in t.events()] == [1, 2]
    assert not t.of(CloseConnection)


def test_a_response_is_handed_out_before_its_event_is_sealed() -> None:
    """Sealing (duration, classification, proxy_seq) is left to the server, after the write."""
    clock = FakeClock()
    t = inbound(clock=clock)
    t.down(GET)
    t.connected()
    clock.advance(0.002)
    cmds = t.layer.handle(DataReceived(Side.UPSTREAM, OK))
    assert [type(c) for c in cmds] == [SendData, FinishRequestEvent]
    finish = cmds[1]
    assert isinstance(finish, FinishRequestEvent)
    clock.advance(0.001)  # the server writes the response
    event = finish.record.finish().event
    assert (event.proxy_seq, event.duration_us, event.http_status) == (1, 3000, 200)
    assert event.classification == meshpipe_pb2.SUCCESS


def test_outbound_adds_src_strips_forged_identity_and_reads_dst() -> None:
    t = Trace(Http1Relay(context(direction=meshpipe_pb2.OUTBOUND, target=APP)))
    t.down(GET.replace(b"\r\n\r\n", b"\r\nmeshpipe-src: forged/deployment/x/y\r\n\r\n"))
    t.connected()
    sent = t.sent(Side.UPSTREAM)
    assert b"forged" not in sent
    assert b"meshpipe-src: emojivoto/deployment/web/web-5d8f-abcde\r\n" in sent
    t.up(OK.replace(b"\r\n\r\n", b"\r\nmeshpipe-dst: emojivoto/deployment/api/api-1\r\n\r\n"))
    assert b"meshpipe-dst" not in t.sent(Side.DOWNSTREAM)
    [ev] = t.events()
    assert (ev.destination.name, ev.destination.meshed) == ("api", True)
    assert (ev.source.name, ev.source.meshed) == ("web", True)


def test_chunked_request_is_relayed_with_normalized_chunks() -> None:
    t = inbound()
    t.down(
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"00005;ext=1\r\nhello\r\n"
    )
    t.connected()
    t.down(b"3\r\nabc\r\n0\r\n\r\n")
    sent = t.sent(Side.UPSTREAM)
    assert sent.endswith(b"\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n")
    t.up(OK)
    assert t.events()[0].request_bytes == 8


def test_chunked_response_with_trailers_is_relayed_and_counted() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.up(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r")
    assert not t.events()
    t.up(b"\n0\r\nX-Checksum: 1\r\n\r\n")
    assert t.sent(Side.DOWNSTREAM).endswith(b"4\r\nabcd\r\n0\r\nX-Checksum: 1\r\n\r\n")
    assert t.events()[0].response_bytes == 4


def test_forbidden_request_trailers_are_dropped_and_counted() -> None:
    t = inbound()
    t.down(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    t.connected()
    t.down(b"0\r\nContent-Length: 50\r\nX-Checksum: 1\r\nHost: evil\r\n\r\n")
    assert t.sent(Side.UPSTREAM).endswith(b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n")
    t.up(OK)
    [ev] = t.events()
    assert (ev.trailer_fields_dropped, ev.request_bytes, ev.http_status) == (2, 3, 200)


def test_forbidden_response_trailers_are_dropped_and_counted() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.up(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n")
    t.up(b"0\r\nTransfer-Encoding: chunked\r\nSet-Cookie: s=1\r\n\r\n")
    assert t.sent(Side.DOWNSTREAM).endswith(b"4\r\nabcd\r\n0\r\n\r\n")
    [ev] = t.events()
    assert (ev.trailer_fields_dropped, ev.response_bytes) == (2, 4)


def test_body_held_while_connecting_pauses_the_client_until_connected() -> None:
    t = inbound(limits=Limits(max_buffer_bytes=10))
    t.down(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\n\r\n" + b"x" * 20)
    assert t.of(PauseReading) == [PauseReading(Side.DOWNSTREAM)]
    t.connected()
    assert t.of(ResumeReading) == [ResumeReading(Side.DOWNSTREAM)]
    t.down(b"y" * 20)
    assert t.sent(Side.UPSTREAM).endswith(b"x" * 20 + b"y" * 20)


def test_head_response_ends_without_body_despite_content_length() -> None:
    t = inbound()
    t.down(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    t.connected()
    t.up(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    [ev] = t.events()
    assert (ev.method, ev.response_bytes) == ("HEAD", 0)


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses_end_at_the_head(status: int) -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.up(f"HTTP/1.1 {status} X\r\n\r\n".encode())
    assert t.events()[0].http_status == status


def test_expect_continue_forwards_head_first_and_relays_the_100() -> None:
    t = inbound()
    t.down(b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    t.connected()
    assert t.sent(Side.UPSTREAM).endswith(b"Content-Length: 3\r\n\r\n")
    t.up(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert t.sent(Side.DOWNSTREAM) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not t.events()
    t.down(b"abc")
    t.up(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    [ev] = t.events()
    assert (ev.http_status, ev.request_bytes) == (201, 3)


def test_upgrade_relays_bytes_opaquely_and_publishes_at_close() -> None:
    t = inbound()
    t.down(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    t.connected()
    t.up(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhi")
    t.down(b"\x81\x02yo")
    assert t.sent(Side.UPSTREAM).endswith(b"\x81\x02yo")
    assert t.sent(Side.DOWNSTREAM).endswith(b"\r\n\r\nhi")
    assert not t.events()
    assert t.closed(Side.UPSTREAM) == [CloseConnection(Side.DOWNSTREAM, half=True)]
    t.closed(Side.DOWNSTREAM)
    [ev] = t.events()
    assert (ev.http_status, ev.request_bytes, ev.response_bytes) == (101, 4, 2)


def test_h2c_upgrade_is_removed_so_requests_stay_visible() -> None:
    t = inbound()
    t.down(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
    )
    t.connected()
    sent = t.sent(Side.UPSTREAM).lower()
    assert b"upgrade" not in sent
    assert b"http2-settings" not in sent


POST = b"POST / HTTP/1.1\r\nHost: a\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"
SMUGGLING = {
    "cl_and_te": POST + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate_cl": POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "conflicting_cl": POST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n",
    "cl_list": POST + b"Content-Length: 3, 3\r\n\r\nabc",
    "cl_sign": POST + b"Content-Length: +3\r\n\r\nabc",
    "te_not_chunked": POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
    "chunk_0x": CHUNKED + b"0x1\r\na\r\n0\r\n\r\n",
    "chunk_plus": CHUNKED + b"+1\r\na\r\n0\r\n\r\n",
    "chunk_underscore": CHUNKED + b"1_0\r\naaaaaaaaaaaaaaaa\r\n0\r\n\r\n",
    "chunk_no_crlf": CHUNKED + b"1\r\nab\r\n",
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
    "cr_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n",
    "two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "bad_request_line": b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_ambiguous_requests_get_400_and_an_event_and_are_never_forwarded(name: str) -> None:
    t = inbound()
    t.down(SMUGGLING[name])
    assert t.sent(Side.UPSTREAM) == b""
    assert t.sent(Side.DOWNSTREAM).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert CloseConnection(Side.DOWNSTREAM) in t.commands
    [ev] = t.events()
    assert (ev.http_status, ev.error.kind) == (400, "bad_request")
    assert ev.classification == meshpipe_pb2.FAILURE


def test_oversized_head_gets_431() -> None:
    t = inbound(limits=Limits(max_header_bytes=100))
    t.down(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 200)
    assert t.sent(Side.DOWNSTREAM).startswith(b"HTTP/1.1 431 ")
    assert t.events()[0].error.kind == "header_too_large"
    assert t.sent(Side.UPSTREAM) == b""


@pytest.mark.parametrize(
    ("kind", "status"),
    [("connect_refused", 502), ("upstream_reset", 503), ("connect_timeout", 504)],
)
def test_upstream_failure_answers_5xx_with_the_error_in_the_event(kind: str, status: int) -> None:
    t = inbound()
    t.down(GET)
    t.feed(UpstreamFailed(kind, "nope"))
    assert t.sent(Side.DOWNSTREAM).startswith(f"HTTP/1.1 {status} ".encode())
    [ev] = t.events()
    assert (ev.http_status, ev.error.kind, ev.error.message) == (status, kind, "nope")


def test_upstream_closing_before_the_response_head_is_a_503() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.closed(Side.UPSTREAM, "reset by peer")
    assert t.sent(Side.DOWNSTREAM).startswith(b"HTTP/1.1 503 ")
    assert t.events()[0].error.kind == "upstream_reset"


def test_no_response_head_in_time_is_a_504() -> None:
    clock = FakeClock()
    t = Trace(Http1Relay(context(clock=clock)))
    t.down(GET)
    t.connected()
    assert StartTimer(RESPONSE_TIMER, Limits().response_timeout_s) in t.commands
    clock.advance(Limits().response_timeout_s)
    t.feed(TimerFired(RESPONSE_TIMER))
    assert t.sent(Side.DOWNSTREAM).startswith(b"HTTP/1.1 504 ")
    assert t.events()[0].error.kind == "upstream_timeout"


def test_a_response_head_in_time_means_no_504_when_the_timer_fires() -> None:
    clock = FakeClock()
    t = Trace(Http1Relay(context(clock=clock)))
    t.down(GET)
    t.connected()
    t.up(OK)
    clock.advance(Limits().response_timeout_s)
    assert t.feed(TimerFired(RESPONSE_TIMER)) == []
    assert [e.WhichOneof("end") for e in t.events()] == [None]


def test_the_timer_armed_for_an_earlier_request_waits_out_the_next_ones_deadline() -> None:
    clock = FakeClock()
    t = Trace(Http1Relay(context(clock=clock)))
    t.down(GET)
    t.connected()
    t.up(OK)
    clock.advance(50)
    t.down(GET)  # the timer armed for the first request stays armed: no second StartTimer
    assert t.of(StartTimer) == [StartTimer(RESPONSE_TIMER, 60.0)]
    clock.advance(10)
    assert t.feed(TimerFired(RESPONSE_TIMER)) == [StartTimer(RESPONSE_TIMER, 50.0)]
    clock.advance(50)
    t.feed(TimerFired(RESPONSE_TIMER))
    assert t.sent(Side.DOWNSTREAM).endswith(b"meshproxy: no response head in time\n")
    assert [e.WhichOneof("end") for e in t.events()] == [None, "error"]


def test_upstream_cut_mid_body_closes_the_client_and_records_the_reset() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.up(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    t.closed(Side.UPSTREAM)
    [ev] = t.events()
    assert (ev.http_status, ev.error.kind, ev.response_bytes) == (200, "upstream_reset", 3)
    assert CloseConnection(Side.DOWNSTREAM) in t.commands


def test_response_without_length_ends_at_upstream_close() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.up(b"HTTP/1.1 200 OK\r\n\r\nabc")
    t.up(b"def")
    t.closed(Side.UPSTREAM)
    [ev] = t.events()
    assert (ev.response_bytes, ev.WhichOneof("end")) == (6, None)


def test_client_gone_mid_request_publishes_and_closes_upstream() -> None:
    t = inbound()
    t.down(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc")
    t.connected()
    t.closed(Side.DOWNSTREAM)
    assert t.events()[0].error.kind == "downstream_reset"
    assert CloseConnection(Side.UPSTREAM) in t.commands


def test_pipelined_requests_are_answered_in_order() -> None:
    t = inbound()
    t.down(GET + GET.replace(b"/api/list", b"/second"))
    t.connected()
    assert t.sent(Side.UPSTREAM) == GET
    t.up(OK)
    assert t.sent(Side.UPSTREAM).endswith(
        b"GET /second?x=1 HTTP/1.1\r\nHost: web:8080\r\nUser-Agent: t/1\r\n\r\n"
    )
    t.up(OK)
    assert [e.path for e in t.events()] == ["/api/list?x=1", "/second?x=1"]


def test_pipelined_requests_before_a_half_close_are_all_answered_then_closed() -> None:
    t = inbound()
    t.down(GET + GET.replace(b"/api/list", b"/second"))
    t.closed(Side.DOWNSTREAM)  # the client shut down writing; it still reads
    t.connected()
    t.up(OK)
    assert CloseConnection(Side.DOWNSTREAM) not in t.commands
    t.up(OK)
    assert [e.path for e in t.events()] == ["/api/list?x=1", "/second?x=1"]
    assert t.sent(Side.DOWNSTREAM) == OK + OK
    assert CloseConnection(Side.DOWNSTREAM) in t.commands


def test_a_pipelined_request_cut_by_the_half_close_is_a_downstream_reset() -> None:
    t = inbound()
    t.down(GET + b"POST /cut HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc")
    t.closed(Side.DOWNSTREAM)
    t.connected()
    t.up(OK)
    first, cut = t.events()
    assert (first.http_status, first.WhichOneof("end")) == (200, None)
    assert (cut.path, cut.error.kind) == ("/cut", "downstream_reset")
    assert CloseConnection(Side.DOWNSTREAM) in t.commands


def test_part_of_a_head_left_at_the_half_close_is_dropped_after_the_response() -> None:
    t = inbound()
    t.down(GET + b"GET /half HTTP/1.1\r\nHo")
    t.closed(Side.DOWNSTREAM)
    t.connected()
    t.up(OK)
    assert [e.path for e in t.events()] == ["/api/list?x=1"]
    assert CloseConnection(Side.DOWNSTREAM) in t.commands


def test_connection_close_response_closes_after_the_event() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.up(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert len(t.events()) == 1
    assert CloseConnection(Side.DOWNSTREAM) in t.commands


def test_explicit_proxy_routes_absolute_form_and_sends_origin_form() -> None:
    t = outbound_explicit()
    cmds = t.down(b"GET http://api.local:9090/v1/x?q=2 HTTP/1.1\r\nHost: api.local:9090\r\n\r\n")
    assert OpenUpstream("api.local", 9090) in cmds
    t.connected()
    assert t.sent(Side.UPSTREAM).startswith(b"GET /v1/x?q=2 HTTP/1.1\r\n")
    t.up(OK)
    [ev] = t.events()
    assert (ev.authority, ev.path, ev.destination.port) == ("api.local:9090", "/v1/x?q=2", 9090)
    assert ev.destination.authority == "api.local:9090"


def test_explicit_proxy_switches_upstream_when_the_host_changes() -> None:
    t = outbound_explicit()
    t.down(b"GET http://a:1/ HTTP/1.1\r\nHost: a:1\r\n\r\n")
    t.connected()
    t.up(OK)
    cmds = t.down(b"GET http://b:2/ HTTP/1.1\r\nHost: b:2\r\n\r\n")
    assert cmds[:2] == [CloseConnection(Side.UPSTREAM), OpenUpstream("b", 2)]


def test_connect_answers_200_and_hands_the_tunnel_to_detection() -> None:
    t = outbound_explicit()
    cmds = t.down(b"CONNECT api:50051 HTTP/1.1\r\nHost: api:50051\r\n\r\nPRI * HTTP/2.0")
    assert cmds[0] == SendData(Side.DOWNSTREAM, b"HTTP/1.1 200 Connection Established\r\n\r\n")
    assert Redetect("api", 50051, b"PRI * HTTP/2.0") in cmds
    assert not t.events()


def test_connect_is_refused_on_inbound() -> None:
    t = inbound()
    t.down(b"CONNECT api:443 HTTP/1.1\r\nHost: api:443\r\n\r\n")
    assert t.sent(Side.DOWNSTREAM).startswith(b"HTTP/1.1 405 ")


def test_explicit_proxy_without_any_target_is_a_400() -> None:
    t = outbound_explicit()
    t.down(b"GET / HTTP/1.0\r\n\r\n")
    assert t.sent(Side.DOWNSTREAM).startswith(b"HTTP/1.1 400 ")


def test_traceparent_becomes_the_trace_id() -> None:
    t = inbound()
    trace = b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
    t.down(GET.replace(b"\r\n\r\n", b"\r\n" + trace + b"\r\n"))
    t.connected()
    t.up(OK)
    assert t.events()[0].trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_bracketed_ipv6_absolute_form_is_routed_to_that_address() -> None:
    t = outbound_explicit()
    t.down(b"GET http://[::1]:8081/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert OpenUpstream("::1", 8081) in t.commands
    t.connected()
    t.up(OK)
    assert (t.events()[0].destination.ip, t.events()[0].destination.port) == ("::1", 8081)


def test_drain_closes_an_idle_keep_alive_connection() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    t.up(OK)
    assert CloseConnection(Side.DOWNSTREAM) in t.feed(DrainStarted())


def test_drain_lets_the_request_in_flight_finish_then_closes() -> None:
    t = inbound()
    t.down(GET)
    t.connected()
    assert t.feed(DrainStarted()) == []
    t.up(OK)
    assert b"connection: close\r\n" in t.sent(Side.DOWNSTREAM)
    assert len(t.events()) == 1
    assert CloseConnection(Side.DOWNSTREAM) in t.commands


def test_explicit_proxy_strips_headers_meant_for_the_proxy() -> None:
    t = outbound_explicit()
    t.down(
        b"GET http://a:1/ HTTP/1.1\r\nHost: a:1\r\nProxy-Authorization: Basic eA==\r\n"
        b"Proxy-Connection: keep-alive\r\n\r\n"
    )
    t.connected()
    assert b"proxy-" not in t.sent(Side.UPSTREAM).lower()
