"""Protocol traces of the HTTP/2 relay: gRPC call shapes, identity headers and request events."""

from __future__ import annotations

import h2.events as h2e
from hpack import NeverIndexedHeaderTuple
from proxy_http2_trace import (
    GRPC_OK_HEAD,
    GRPC_OK_TRAILERS,
    H2Trace,
    get_request,
    grpc_frame,
    grpc_request,
)

from meshpipe.proxy.commands import OpenUpstream
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

FRONT = b"shop/deployment/front/front-7c9"


def response_heads(trace: H2Trace) -> list[h2e.ResponseReceived]:
    return trace.client.of(h2e.ResponseReceived)  # type: ignore[return-value]


def test_unary_grpc_call_is_relayed_with_body_and_trailers() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(), body=grpc_frame(b"add 1"))
    up = t.server_stream()
    assert bytes(t.server.bodies[up]) == grpc_frame(b"add 1")
    assert t.server.of(h2e.StreamEnded)
    t.respond(up, GRPC_OK_HEAD, grpc_frame(b"ok"), trailers=GRPC_OK_TRAILERS)
    assert bytes(t.client.bodies[sid]) == grpc_frame(b"ok")
    trailers = t.client.of(h2e.TrailersReceived)
    assert [e.headers for e in trailers] == [GRPC_OK_TRAILERS]  # type: ignore[attr-defined]
    assert t.client.of(h2e.StreamEnded)[0].stream_id == sid  # type: ignore[attr-defined]


def test_unary_grpc_event_has_every_field_right() -> None:
    t = H2Trace()
    headers = grpc_request(
        meshpipe_src=FRONT,
        traceparent=b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    t.request(headers, body=grpc_frame(b"add 1"))
    t.clock.advance(0.004)
    t.server.conn.send_headers(t.server_stream(), GRPC_OK_HEAD)
    t.run()
    t.clock.advance(0.006)
    t.server.send(t.server_stream(), grpc_frame(b"ok!"), trailers=GRPC_OK_TRAILERS)
    t.run()
    [ev] = t.events()
    assert len(ev.id) == 16
    assert (ev.proxy_id, ev.proxy_seq, ev.direction) == ("proxy-1", 1, meshpipe_pb2.INBOUND)
    assert (ev.source.namespace, ev.source.name, ev.source.pod) == ("shop", "front", "front-7c9")
    assert ev.source.meshed
    assert ev.source.ip == "10.0.0.7"
    assert (ev.destination.name, ev.destination.port) == ("web", 8080)
    assert ev.protocol == meshpipe_pb2.GRPC
    assert (ev.method, ev.scheme, ev.authority) == ("POST", "http", "cart.shop:8080")
    assert (ev.path, ev.http_status) == ("/shop.Cart/Add", 200)
    assert ev.WhichOneof("end") == "grpc_status"
    assert ev.grpc_status == 0
    assert (ev.latency_us, ev.duration_us) == (4000, 10000)
    assert (ev.request_bytes, ev.response_bytes) == (10, 8)
    assert ev.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ev.start.seconds == 1_700_001_000
    assert ev.classification == meshpipe_pb2.SUCCESS


def test_grpc_failure_status_in_trailers_is_the_event_end_and_classified_failure() -> None:
    t = H2Trace()
    t.request(grpc_request(), body=grpc_frame(b"x"))
    t.respond(t.server_stream(), GRPC_OK_HEAD, trailers=[(b"grpc-status", b"13")])
    [ev] = t.events()
    assert ev.grpc_status == 13
    assert ev.classification == meshpipe_pb2.FAILURE


def test_server_streaming_messages_arrive_in_order() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(b"/shop.Feed/Watch"), body=grpc_frame(b"watch"))
    up = t.server_stream()
    t.server.conn.send_headers(up, GRPC_OK_HEAD)
    messages = [grpc_frame(f"update {i}".encode()) for i in range(20)]
    for message in messages:
        t.server.send(up, message, end=False)
        t.run()
    assert not t.events()  # not before the end of the stream
    t.server.send(up, b"", trailers=GRPC_OK_TRAILERS)
    t.run()
    assert bytes(t.client.bodies[sid]) == b"".join(messages)
    [ev] = t.events()
    assert ev.response_bytes == sum(map(len, messages))


def test_client_streaming_messages_arrive_in_order() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(b"/shop.Cart/Upload"), end=False)
    messages = [grpc_frame(f"item {i}".encode()) for i in range(20)]
    for message in messages:
        t.client.send(sid, message, end=False)
        t.run()
    t.client.send(sid, b"")
    t.run()
    up = t.server_stream()
    assert bytes(t.server.bodies[up]) == b"".join(messages)
    t.respond(up, GRPC_OK_HEAD, grpc_frame(b"done"), trailers=GRPC_OK_TRAILERS)
    [ev] = t.events()
    assert ev.request_bytes == sum(map(len, messages))


def test_bidi_stream_interleaves_both_directions() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(b"/shop.Chat/Talk"), end=False)
    up = t.server_stream()
    t.server.conn.send_headers(up, GRPC_OK_HEAD)
    for i in range(5):
        t.client.send(sid, grpc_frame(b"ping %d" % i), end=False)
        t.run()
        assert bytes(t.server.bodies[up]).endswith(grpc_frame(b"ping %d" % i))
        t.server.send(up, grpc_frame(b"pong %d" % i), end=False)
        t.run()
        assert bytes(t.client.bodies[sid]).endswith(grpc_frame(b"pong %d" % i))
    t.client.send(sid, b"")
    t.server.send(up, b"", trailers=GRPC_OK_TRAILERS)
    t.run()
    assert len(t.events()) == 1


def test_trailers_only_response_stays_one_headers_frame_with_end_stream() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(), body=grpc_frame(b"x"))
    head = [*GRPC_OK_HEAD, (b"grpc-status", b"5"), (b"grpc-message", b"no%20such%20cart")]
    t.server.conn.send_headers(t.server_stream(), head, end_stream=True)
    t.run()
    [response] = response_heads(t)
    assert response.stream_ended is not None
    assert response.stream_id == sid
    assert (b"grpc-status", b"5") in response.headers
    assert not t.client.of(h2e.DataReceived) or all(
        e.stream_id == 0
        for e in t.client.of(h2e.DataReceived)  # type: ignore[attr-defined]
    )
    [ev] = t.events()
    assert ev.WhichOneof("end") == "grpc_status"
    assert ev.grpc_status == 5


def test_binary_metadata_is_preserved_byte_for_byte() -> None:
    t = H2Trace()
    meta = b"AAECAwQFBgcICQoLDA0ODw=="
    t.request(grpc_request(x_trace_bin=meta), body=grpc_frame(b"x"))
    assert (b"x-trace-bin", meta) in t.server.of(h2e.RequestReceived)[0].headers  # type: ignore[attr-defined]
    trailers = [*GRPC_OK_TRAILERS, (b"x-detail-bin", b"/////w==")]
    t.respond(t.server_stream(), [*GRPC_OK_HEAD, (b"x-head-bin", b"AQ==")], trailers=trailers)
    assert (b"x-head-bin", b"AQ==") in response_heads(t)[0].headers
    got = t.client.of(h2e.TrailersReceived)[0].headers  # type: ignore[attr-defined]
    assert (b"x-detail-bin", b"/////w==") in got


def test_never_indexed_fields_stay_never_indexed_both_ways() -> None:
    """RFC 7541 §7.1.3: a proxy must not let a field the sender protected enter hpack's table."""
    t = H2Trace()
    secret = NeverIndexedHeaderTuple(b"x-api-key", b"s3cr3t")
    t.request([*get_request(), secret])
    [received] = t.server.of(h2e.RequestReceived)
    [relayed] = [h for h in received.headers if h[0] == b"x-api-key"]  # type: ignore[attr-defined]
    assert isinstance(relayed, NeverIndexedHeaderTuple)
    cookie = NeverIndexedHeaderTuple(b"set-cookie", b"session=1")
    t.respond(t.server_stream(), [(b":status", b"200"), cookie])
    [head] = t.client.of(h2e.ResponseReceived)
    [back] = [h for h in head.headers if h[0] == b"set-cookie"]  # type: ignore[attr-defined]
    assert isinstance(back, NeverIndexedHeaderTuple)


def test_credentials_are_never_indexed_upstream_even_when_the_client_let_them_be() -> None:
    t = H2Trace()
    t.request([*get_request(), (b"authorization", b"Bearer s3cr3t"), (b"x-plain", b"1")])
    [received] = t.server.of(h2e.RequestReceived)
    kinds = {h[0]: isinstance(h, NeverIndexedHeaderTuple) for h in received.headers}  # type: ignore[attr-defined]
    assert (kinds[b"authorization"], kinds[b"x-plain"]) == (True, False)


def test_inbound_strips_source_identity_and_adds_destination_identity() -> None:
    t = H2Trace(direction=meshpipe_pb2.INBOUND)
    t.request(grpc_request(meshpipe_src=FRONT), body=grpc_frame(b"x"))
    names = [n for n, _ in t.server.of(h2e.RequestReceived)[0].headers]  # type: ignore[attr-defined]
    assert b"meshpipe-src" not in names
    app_head = [*GRPC_OK_HEAD, (b"meshpipe-dst", b"evil/deployment/forged")]
    t.respond(t.server_stream(), app_head, trailers=GRPC_OK_TRAILERS)
    dst = [v for n, v in response_heads(t)[0].headers if n == b"meshpipe-dst"]
    assert dst == [b"emojivoto/deployment/web/web-5d8f-abcde"]


def test_inbound_hides_its_identity_from_an_unmeshed_caller() -> None:
    t = H2Trace(direction=meshpipe_pb2.INBOUND)
    t.request(grpc_request(), body=grpc_frame(b"x"))
    app_head = [*GRPC_OK_HEAD, (b"meshpipe-dst", b"evil/deployment/forged")]
    t.respond(t.server_stream(), app_head, trailers=GRPC_OK_TRAILERS)
    assert all(n != b"meshpipe-dst" for n, _ in response_heads(t)[0].headers)
    [ev] = t.events()
    assert not ev.source.meshed
    assert ev.source.ip == "10.0.0.7"


def test_outbound_adds_source_identity_and_strips_destination_identity() -> None:
    t = H2Trace(direction=meshpipe_pb2.OUTBOUND)
    t.request(grpc_request(meshpipe_src=b"forged/deployment/x"), body=grpc_frame(b"x"))
    srcs = [v for n, v in t.server.of(h2e.RequestReceived)[0].headers if n == b"meshpipe-src"]  # type: ignore[attr-defined]
    assert srcs == [b"emojivoto/deployment/web/web-5d8f-abcde"]
    head = [*GRPC_OK_HEAD, (b"meshpipe-dst", b"shop/deployment/cart/cart-1")]
    t.respond(t.server_stream(), head, trailers=[*GRPC_OK_TRAILERS, (b"meshpipe-dst", b"x/y/z")])
    assert all(n != b"meshpipe-dst" for n, _ in response_heads(t)[0].headers)
    trailers = t.client.of(h2e.TrailersReceived)[0].headers  # type: ignore[attr-defined]
    assert all(n != b"meshpipe-dst" for n, _ in trailers)
    [ev] = t.events()
    assert (ev.destination.namespace, ev.destination.name, ev.destination.pod) == (
        "shop",
        "cart",
        "cart-1",
    )
    assert ev.destination.meshed
    assert ev.source.name == "web"


def test_plain_http2_get_is_protocol_http2_and_keeps_end_stream_on_headers() -> None:
    t = H2Trace()
    sid = t.request(get_request(b"/index.html"))
    [request] = t.server.of(h2e.RequestReceived)
    assert request.stream_ended is not None  # type: ignore[attr-defined]
    t.respond(t.server_stream(), [(b":status", b"404")], b"nope")
    assert bytes(t.client.bodies[sid]) == b"nope"
    [ev] = t.events()
    assert ev.protocol == meshpipe_pb2.HTTP2
    assert (ev.http_status, ev.WhichOneof("end")) == (404, None)
    assert (ev.method, ev.path) == ("GET", "/index.html")


def test_multiplexed_streams_each_publish_exactly_one_event_in_sequence() -> None:
    t = H2Trace()
    sids = [t.request(grpc_request(b"/s/%d" % i), body=grpc_frame(b"%d" % i)) for i in range(6)]
    ups = [t.server_stream(i) for i in range(6)]
    for up in reversed(ups):  # answer in the opposite order
        t.respond(up, GRPC_OK_HEAD, grpc_frame(b"r%d" % up), trailers=GRPC_OK_TRAILERS)
    events = t.events()
    assert [e.proxy_seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert sorted(e.path for e in events) == sorted(f"/s/{i}" for i in range(6))
    assert len({e.id for e in events}) == 6
    for sid, up in zip(sids, ups, strict=True):
        assert bytes(t.client.bodies[sid]) == grpc_frame(b"r%d" % up)


def test_explicit_outbound_connects_to_the_first_requests_authority() -> None:
    t = H2Trace(direction=meshpipe_pb2.OUTBOUND, target=None, connect=False)
    assert not t.opened()
    t.request(grpc_request(), body=grpc_frame(b"x"))
    assert t.opened() == [OpenUpstream("cart.shop", 8080)]
    t.connect()
    t.respond(t.server_stream(), GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
    [ev] = t.events()
    assert ev.destination.authority == "cart.shop:8080"


def test_request_trailers_follow_the_request_body_upstream() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(), end=False)
    t.client.send(sid, b"part", trailers=[(b"x-checksum", b"abc")])
    t.run()
    up = t.server_stream()
    assert bytes(t.server.bodies[up]) == b"part"
    [trailers] = t.server.of(h2e.TrailersReceived)
    assert trailers.headers == [(b"x-checksum", b"abc")]  # type: ignore[attr-defined]


def test_forbidden_request_trailers_are_dropped_and_counted() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(), end=False)
    trailers = [(b"content-length", b"50"), (b"x-checksum", b"abc"), (b"authorization", b"x")]
    t.client.send(sid, b"part", trailers=trailers)
    t.run()
    [got] = t.server.of(h2e.TrailersReceived)
    assert got.headers == [(b"x-checksum", b"abc")]  # type: ignore[attr-defined]
    t.respond(t.server_stream(), GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
    [ev] = t.events()
    assert (ev.trailer_fields_dropped, ev.grpc_status) == (2, 0)


def test_request_trailers_all_dropped_still_end_the_request_stream() -> None:
    t = H2Trace()
    sid = t.request(grpc_request(), end=False)
    t.client.send(sid, b"part", trailers=[(b"host", b"evil")])
    t.run()
    up = t.server_stream()
    assert not t.server.of(h2e.TrailersReceived)
    assert [e.stream_id for e in t.server.of(h2e.StreamEnded)] == [up]  # type: ignore[attr-defined]
    assert bytes(t.server.bodies[up]) == b"part"


def test_forbidden_response_trailers_are_dropped_but_grpc_status_stays() -> None:
    t = H2Trace()
    t.request(grpc_request(), body=grpc_frame(b"x"))
    forged = [(b"content-type", b"text/html"), (b"set-cookie", b"s=1"), (b"x-extra", b"1")]
    t.respond(t.server_stream(), GRPC_OK_HEAD, trailers=[(b"grpc-status", b"13"), *forged])
    [got] = t.client.of(h2e.TrailersReceived)
    assert got.headers == [(b"grpc-status", b"13"), (b"x-extra", b"1")]  # type: ignore[attr-defined]
    [ev] = t.events()
    assert (ev.trailer_fields_dropped, ev.grpc_status) == (2, 13)


def test_informational_response_is_relayed_before_the_final_one() -> None:
    t = H2Trace()
    sid = t.request([*get_request(b"/upload"), (b"expect", b"100-continue")], end=False)
    up = t.server_stream()
    t.server.conn.send_headers(up, [(b":status", b"100")])
    t.run()
    [informational] = t.client.of(h2e.InformationalResponseReceived)
    assert informational.stream_id == sid  # type: ignore[attr-defined]
    t.client.send(sid, b"body")
    t.respond(up, [(b":status", b"201")])
    [ev] = t.events()
    assert ev.http_status == 201


def test_explicit_outbound_without_a_usable_authority_answers_400_and_connects_nowhere() -> None:
    t = H2Trace(direction=meshpipe_pb2.OUTBOUND, target=None, connect=False)
    t.request(
        [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"web:0"), (b":path", b"/")]
    )
    assert not t.opened()
    [head] = response_heads(t)
    assert (b":status", b"400") in head.headers
    [ev] = t.events()
    assert (ev.error.kind, ev.http_status) == ("bad_request", 400)
