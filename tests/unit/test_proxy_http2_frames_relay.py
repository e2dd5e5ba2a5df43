"""Protocol traces of what the frame relay does with frames as such: any read boundaries, header
blocks in CONTINUATION frames, HPACK state kept in step across many requests with edits."""

from __future__ import annotations

import h2.events as h2e
import pytest
from hpack import NeverIndexedHeaderTuple
from proxy_http2_trace import GRPC_OK_HEAD, GRPC_OK_TRAILERS, H2Trace, get_request, grpc_request
from purity import pure_only

from meshpipe.proxy import h2_frames as fr
from meshpipe.proxy import http2, http2_streams
from meshpipe.proxy.commands import (
    DataReceived,
    OpenUpstream,
    SendData,
    Side,
    StartTimer,
    TimerFired,
)
from meshpipe.proxy.h2_hpack import KEEP, PROTECT
from meshpipe.proxy.http2_checks import check_request
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

FRONT = b"shop/deployment/front/front-7c9"


def test_a_client_feeding_one_byte_at_a_time_is_relayed_the_same() -> None:
    t = H2Trace()
    sid = t.client.conn.get_next_available_stream_id()
    t.client.conn.send_headers(sid, grpc_request(), end_stream=False)
    t.client.send(sid, b"hello", end=True)
    data = t.client.conn.data_to_send()
    for i in range(len(data)):
        t.feed(DataReceived(Side.DOWNSTREAM, data[i : i + 1]))
    t.run()
    up = t.server_stream()
    assert bytes(t.server.bodies[up]) == b"hello"
    t.respond(up, GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
    [ev] = t.events()
    assert (ev.path, ev.request_bytes, ev.grpc_status) == ("/shop.Cart/Add", 5, 0)


def test_a_header_block_in_continuation_frames_arrives_whole_both_ways() -> None:
    t = H2Trace()
    big = b"v" * 40_000  # more than two frames of 16 KiB
    t.client.conn.max_outbound_frame_size = 16_384
    sid = t.request([*get_request(b"/big-head"), (b"x-big", big)])
    [request] = t.server.of(h2e.RequestReceived)
    assert (b"x-big", big) in request.headers  # type: ignore[attr-defined]
    t.respond(t.server_stream(), [(b":status", b"200"), (b"x-big", big)])
    [response] = t.client.of(h2e.ResponseReceived)
    assert (response.stream_id, (b"x-big", big) in response.headers) == (sid, True)  # type: ignore[attr-defined]
    assert t.events()[0].path == "/big-head"


def test_identity_headers_indexed_by_the_caller_are_stripped_from_every_request() -> None:
    """h2 enters meshpipe-src into its table and sends later ones as one index byte: the relay
    must drop it each time and the app's decoder must still read every other field right."""
    t = H2Trace(direction=meshpipe_pb2.INBOUND)
    for i in range(5):
        sid = t.request(grpc_request(b"/s/%d" % i, meshpipe_src=FRONT, x_n=b"%d" % i), end=True)
        up = t.server_stream()
        t.respond(up, GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
        heads = t.client.of(h2e.ResponseReceived)
        assert heads[-1].stream_id == sid  # type: ignore[attr-defined]
    for i, request in enumerate(t.server.of(h2e.RequestReceived)):
        headers = dict(request.headers)  # type: ignore[attr-defined]
        assert b"meshpipe-src" not in headers
        assert (headers[b":path"], headers[b"x-n"]) == (b"/s/%d" % i, b"%d" % i)
    assert [e.source.name for e in t.events()] == ["front"] * 5


def test_frames_from_the_server_go_to_the_client_in_one_write_per_read() -> None:
    t = H2Trace()
    t.request(get_request())
    before = len(t.of(SendData))
    t.server.conn.send_headers(t.server_stream(), [(b":status", b"200")])
    t.server.send(t.server_stream(), b"body", end=True)
    out = t.feed(DataReceived(Side.UPSTREAM, t.server.conn.data_to_send()))
    writes = [c for c in out if isinstance(c, SendData)]
    assert [c.side for c in writes] == [Side.DOWNSTREAM]
    assert len(t.of(SendData)) == before + 1


def test_explicit_outbound_sends_settings_before_the_request_names_the_upstream() -> None:
    """gRPC clients wait for the server's SETTINGS before their first request; the upstream is
    only known from that request, so the relay speaks first (and swallows the ACK)."""
    t = H2Trace(direction=meshpipe_pb2.OUTBOUND, target=None, connect=False)
    t.run()
    assert t.client.of(h2e.RemoteSettingsChanged)
    assert not t.of(OpenUpstream)
    t.request(grpc_request(), end=True)
    [open_upstream] = t.of(OpenUpstream)
    assert (open_upstream.host, open_upstream.port) == ("cart.shop", 8080)  # type: ignore[attr-defined]
    t.connect()
    up = t.server_stream()
    t.respond(up, GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
    assert len(t.server.of(h2e.SettingsAcknowledged)) == 1  # the server's own, not ours
    [ev] = t.events()
    assert ev.grpc_status == 0


def test_a_request_answered_while_the_upstream_connects_is_cancelled_there_behind_it() -> None:
    t = H2Trace(connect=False)
    sid = t.request(grpc_request(b"/slow", grpc_timeout=b"50m"), end=True)
    [timer] = [c.name for c in t.of(StartTimer) if c.name.startswith("h2-response")]  # type: ignore[attr-defined]
    t.clock.advance(0.05)
    t.feed(TimerFired(timer))
    t.run()
    [head] = t.client.of(h2e.ResponseReceived)
    assert (head.stream_id, (b"grpc-status", b"4") in head.headers) == (sid, True)  # type: ignore[attr-defined]
    t.connect()  # the request went out before the deadline: the server is told to drop it
    [reset] = t.server.of(h2e.StreamReset)
    assert reset.error_code == fr.CANCEL  # type: ignore[attr-defined]
    [ev] = t.events()
    assert ev.error.kind == "upstream_timeout"


def test_an_unedited_header_block_goes_on_in_the_frame_it_came_in() -> None:
    t = H2Trace()  # inbound, an unmeshed caller: the response head needs no edit
    sid = t.request(get_request())
    priority, block = b"\x00\x00\x00\x00\x0f", b"\x88"  # :status 200, indexed
    flags = fr.END_HEADERS | fr.END_STREAM | fr.PADDED | fr.PRIORITY_FLAG
    raw = fr.frame(fr.HEADERS, flags, t.server_stream(), b"\x02" + priority + block + b"\x00\x00")
    out = t.feed(DataReceived(Side.UPSTREAM, raw))
    assert [c.data for c in out if isinstance(c, SendData)] == [raw]
    assert t.server_stream() == sid
    [ev] = t.events()
    assert ev.http_status == 200


@pure_only(http2)
def test_a_repeated_request_head_is_checked_and_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = []
    monkeypatch.setattr(http2, "check_request", lambda *a: checked.append(a) or check_request(*a))
    t = H2Trace()
    for _ in range(4):  # h2's encoder indexes the head: from the second on the same bytes
        t.request(get_request(b"/same"))
        t.respond(t.server_stream(), [(b":status", b"200")])
    assert len(checked) == 2
    assert [e.path for e in t.events()] == ["/same"] * 4


def test_a_repeated_head_that_now_ends_the_stream_is_checked_against_its_content_length() -> None:
    t = H2Trace()
    head = [*get_request(b"/upload"), (b"content-length", b"5")]
    for _ in range(2):
        t.request(head, body=b"hello")
        t.respond(t.server_stream(), [(b":status", b"200")])
    t.request(head, end=True)  # the same fields, no DATA to come: malformed
    assert [e.error.kind for e in t.events()] == ["", "", "protocol_error"]
    assert len(t.server.of(h2e.RequestReceived)) == 2


@pure_only(http2_streams)
def test_repeated_response_heads_and_trailers_are_checked_once_and_still_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked = []
    original = http2_streams._actions
    monkeypatch.setattr(http2_streams, "_actions", lambda *a: checked.append(a) or original(*a))
    t = H2Trace()
    trailers = [(b"grpc-status", b"0"), (b"content-length", b"1")]  # one forbidden in trailers
    for i in range(4):
        t.request(grpc_request(b"/s/%d" % i), body=b"x")
        t.respond(t.server_stream(), GRPC_OK_HEAD, body=b"y", trailers=trailers)
    # h2's encoder indexes what it sends: from the second call on the same bytes each time.
    responses = [a for a in checked if b":method" not in a[1]]  # not the request heads
    assert len(responses) == 4  # two response heads, two trailer blocks
    assert [(e.grpc_status, e.trailer_fields_dropped) for e in t.events()] == [(0, 1)] * 4
    [*_, last] = t.client.of(h2e.TrailersReceived)
    assert last.headers == [(b"grpc-status", b"0")]  # type: ignore[attr-defined]


def test_a_credential_the_sender_marked_never_indexed_needs_no_edit() -> None:
    pseudo = frozenset({b":method"})
    marked = [(b":method", b"GET"), NeverIndexedHeaderTuple(b"authorization", b"Bearer x")]
    assert http2_streams._actions(marked, pseudo) == (None, 0)
    plain = [(b":method", b"GET"), (b"authorization", b"Bearer x")]
    assert http2_streams._actions(plain, pseudo) == ([KEEP, PROTECT], 0)
