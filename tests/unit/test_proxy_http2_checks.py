"""Malformed requests through the HTTP/2 relay (RFC 9113 §8.1.1): pseudo-header fields missing,
repeated or misplaced, and a content-length the DATA disagrees with, each a stream error of type
PROTOCOL_ERROR with its event; the head never goes upstream when it is already known to be bad,
else the stream is reset both ways. The connection carries on."""

from __future__ import annotations

import h2.events as h2e
import pytest
from proxy_http2_trace import GRPC_OK_HEAD, GRPC_OK_TRAILERS, H2Trace, Headers, get_request

from meshpipe.proxy import h2_frames as fr
from meshpipe.proxy.commands import DataReceived, Side
from meshpipe.proxy.http2_checks import MalformedRequest, check_request

OK: Headers = [(b":status", b"200")]


def post(path: bytes, length: bytes) -> Headers:
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"web.shop:8080"),
        (b":path", path),
        (b"content-length", length),
    ]


def unchecked(t: H2Trace) -> H2Trace:
    """The test client sends what h2 would refuse to send."""
    t.client.conn.config.validate_outbound_headers = False
    t.client.conn.config.normalize_outbound_headers = False
    return t


def assert_stream_error(t: H2Trace, sid: int, path: str) -> None:
    resets = [(e.stream_id, e.error_code) for e in t.client.of(h2e.StreamReset)]  # type: ignore[attr-defined]
    assert resets == [(sid, fr.PROTOCOL_ERROR)]
    assert not t.client.of(h2e.ConnectionTerminated)
    [ev] = t.events()
    assert (ev.path, ev.error.kind) == (path, "protocol_error")


def assert_connection_still_serves(t: H2Trace) -> None:
    before = len(t.server.of(h2e.RequestReceived))
    sid = t.request(get_request(b"/after"))
    assert len(t.server.of(h2e.RequestReceived)) == before + 1
    t.respond(t.server_stream(), OK)
    assert t.client.of(h2e.ResponseReceived)[-1].stream_id == sid  # type: ignore[attr-defined]
    assert t.events()[-1].path == "/after"


@pytest.mark.parametrize(
    "headers",
    [
        [(b":scheme", b"http"), (b":authority", b"a"), (b":path", b"/bad")],  # no :method
        [(b":method", b"GET"), (b":authority", b"a"), (b":path", b"/bad")],  # no :scheme
        [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a")],  # no :path
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"")],  # empty :path
        [*get_request(b"/bad"), (b":method", b"POST")],  # a pseudo-header repeated
        [*get_request(b"/bad")[:3], (b"x-a", b"1"), (b":path", b"/bad")],  # after a field
        [(b":method", b"CONNECT"), (b":authority", b"a:443"), (b":path", b"/bad")],
        [(b":method", b"CONNECT"), (b":scheme", b"http"), (b":path", b"/bad")],
        [*get_request(b"/bad"), (b"connection", b"close")],  # connection-specific
        [*get_request(b"/bad"), (b"X-Upper", b"1")],
        [*get_request(b"/bad"), (b"te", b"gzip")],
        [*get_request(b"/bad"), (b":status", b"200")],  # a response's pseudo-header
        [*post(b"/bad", b"5")],  # announces a body, ends with the head
        [*post(b"/bad", b"-1")],
        [*post(b"/bad", b"0"), (b"content-length", b"1")],  # two lengths
    ],
)
def test_a_malformed_request_head_is_a_stream_error_and_never_goes_upstream(
    headers: Headers,
) -> None:
    t = unchecked(H2Trace())
    sid = t.request(headers, end=True)
    assert not t.server.of(h2e.RequestReceived)
    path = dict(headers).get(b":path", b"").decode()
    assert_stream_error(t, sid, path if path == "/bad" else "")
    assert_connection_still_serves(t)


def test_connect_with_only_an_authority_is_relayed() -> None:
    t = H2Trace()
    t.request([(b":method", b"CONNECT"), (b":authority", b"db.shop:5432")], end=False)
    [request] = t.server.of(h2e.RequestReceived)
    assert dict(request.headers)[b":method"] == b"CONNECT"  # type: ignore[attr-defined]
    assert not t.client.of(h2e.StreamReset)


def test_a_body_of_the_announced_length_is_relayed() -> None:
    t = H2Trace()
    t.request(post(b"/ok", b"5"), body=b"hello")
    assert bytes(t.server.bodies[t.server_stream()]) == b"hello"
    assert t.server.of(h2e.StreamEnded)
    t.respond(t.server_stream(), OK)
    [ev] = t.events()
    assert (ev.request_bytes, ev.WhichOneof("end")) == (5, None)


def test_data_beyond_the_content_length_resets_the_stream_both_ways() -> None:
    t = H2Trace()
    sid = t.request(post(b"/long", b"3"), body=b"hello")
    [reset] = t.server.of(h2e.StreamReset)
    assert reset.error_code == fr.CANCEL  # type: ignore[attr-defined]
    assert not t.server.bodies.get(t.server_stream())  # the DATA over the length is withheld
    assert_stream_error(t, sid, "/long")
    assert_connection_still_serves(t)


def test_a_body_short_of_the_content_length_is_reset_at_its_end() -> None:
    t = H2Trace()
    sid = t.request(post(b"/short", b"10"), body=b"part", end=False)
    assert bytes(t.server.bodies[t.server_stream()]) == b"part"  # not known to be bad yet
    t.client.send(sid, b"", end=True)
    t.run()
    assert not t.server.of(h2e.StreamEnded)
    [reset] = t.server.of(h2e.StreamReset)
    assert reset.error_code == fr.CANCEL  # type: ignore[attr-defined]
    assert_stream_error(t, sid, "/short")
    assert_connection_still_serves(t)


def test_trailers_ending_a_short_body_reset_the_stream_and_are_withheld() -> None:
    t = H2Trace()
    sid = t.request(post(b"/trailed", b"10"), body=b"part", end=False)
    t.client.send(sid, b"", trailers=[(b"x-checksum", b"abc")])
    t.run()
    assert not t.server.of(h2e.TrailersReceived)
    assert t.server.of(h2e.StreamReset)
    assert_stream_error(t, sid, "/trailed")


def test_a_grpc_call_with_its_length_is_unaffected() -> None:
    t = H2Trace()
    head = [*post(b"/shop.Cart/Add", b"5")[:4], (b"content-type", b"application/grpc")]
    t.request([*head, (b"content-length", b"5")], body=b"\x00" * 5)
    t.respond(t.server_stream(), GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
    [ev] = t.events()
    assert (ev.grpc_status, ev.request_bytes) == (0, 5)


@pytest.mark.parametrize(
    ("fields", "end", "expected"),
    [
        (get_request(), True, None),
        (post(b"/", b"0"), True, 0),
        (post(b"/", b"12"), False, 12),
        ([*post(b"/", b"12"), (b"content-length", b"12")], False, 12),
        ([(b":method", b"CONNECT"), (b":authority", b"a:1")], False, None),
        ([(b":method", b"CONNECT"), (b":protocol", b"websocket"), *get_request()[1:]], False, None),
    ],
)
def test_check_request_returns_the_announced_length(
    fields: Headers, end: bool, expected: int | None
) -> None:
    assert check_request(fields, end) == expected


@pytest.mark.parametrize("length", [b"", b"1x", b" 1", b"+1", b"9" * 19])
def test_check_request_refuses_a_content_length_that_is_not_a_length(length: bytes) -> None:
    with pytest.raises(MalformedRequest):
        check_request(post(b"/", length), False)


def test_data_with_invalid_padding_is_a_connection_error_before_any_length_check() -> None:
    t = H2Trace()
    sid = t.request(post(b"/padded", b"3"), end=False)
    bad = fr.frame(fr.DATA, fr.PADDED | fr.END_STREAM, sid, b"\x09abc")  # 9 bytes of padding
    t.feed(DataReceived(Side.DOWNSTREAM, bad))
    [goaway] = t.client.of(h2e.ConnectionTerminated)
    assert goaway.error_code == fr.PROTOCOL_ERROR  # type: ignore[attr-defined]
    assert not t.client.of(h2e.StreamReset)
