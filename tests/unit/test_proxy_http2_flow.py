"""Protocol traces of HTTP/2 relay flow control: large bodies, bounded buffers, stream limits.

Flow control runs end to end between client and server: the relay holds no body bytes."""

from __future__ import annotations

import h2.events as h2e
from h2.settings import SettingCodes
from proxy_http2_trace import GRPC_OK_HEAD, GRPC_OK_TRAILERS, H2Trace, get_request, grpc_request

from meshpipe.proxy.commands import SendData, Side
from meshpipe.proxy.layer import Limits

MIB = 1024 * 1024


def pattern(size: int) -> bytes:
    """Non-repeating-looking bytes so a reordered or lost frame cannot go unnoticed."""
    block = bytes((i * 7 + i // 251) % 256 for i in range(65_521))  # a prime length
    return (block * (size // len(block) + 1))[:size]


def test_ten_mib_each_way_relay_intact_and_the_relay_holds_at_most_its_windows() -> None:
    t = H2Trace()
    window = Limits().max_buffer_bytes
    body = pattern(10 * MIB)
    sid = t.request(grpc_request(b"/blob.Store/Put"), body=body)
    up = t.server_stream()
    assert bytes(t.server.bodies[up]) == body
    t.respond(up, GRPC_OK_HEAD, body[::-1], trailers=GRPC_OK_TRAILERS)
    assert bytes(t.client.bodies[sid]) == body[::-1]
    assert t.max_buffered == 0 < window  # whole frames in, the same frames out
    [ev] = t.events()
    assert (ev.request_bytes, ev.response_bytes) == (10 * MIB, 10 * MIB)


def test_relay_stops_taking_data_when_the_upstream_does_not_read() -> None:
    t = H2Trace()
    t.server.auto_ack = False  # the app does not consume what it gets
    window = Limits().max_buffer_bytes
    body = pattern(2 * MIB)
    sid = t.request(grpc_request(b"/blob.Store/Put"), body=body)
    up = t.server_stream()
    assert len(t.server.bodies[up]) == 65_535  # the app's default stream window
    assert t.relay.buffered_bytes <= window
    taken = len(t.server.bodies[up]) + t.relay.buffered_bytes
    assert taken < len(body)  # the client is held back by the windows the relay advertised
    for _ in range(200):
        t.server.ack_all()
        t.run()
    assert bytes(t.server.bodies[up]) == body
    assert sid == 1


def test_response_waits_for_the_clients_window_and_resumes_when_it_opens() -> None:
    t = H2Trace()
    t.client.auto_ack = False
    sid = t.request(get_request(b"/big"))
    body = pattern(1 * MIB)
    t.respond(t.server_stream(), [(b":status", b"200")], body)
    assert len(t.client.bodies[sid]) == 65_535
    assert not t.events()
    for _ in range(100):
        t.client.ack_all()
        t.run()
    assert bytes(t.client.bodies[sid]) == body
    assert len(t.events()) == 1


def test_request_waits_for_the_upstream_connection_before_any_byte_goes_there() -> None:
    t = H2Trace(connect=False)
    t.request(grpc_request(), body=b"early bytes")
    assert not [c for c in t.commands if isinstance(c, SendData) and c.side is Side.UPSTREAM]
    t.connect()
    assert bytes(t.server.bodies[t.server_stream()]) == b"early bytes"


def test_the_upstreams_concurrency_limit_reaches_the_client_and_is_kept() -> None:
    t = H2Trace(connect=False)
    t.server.conn.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: 1})
    t.connect()
    assert t.client.conn.remote_settings.max_concurrent_streams == 1
    for i in range(3):
        t.request(grpc_request(b"/q/%d" % i), body=b"%d" % i)
        assert len(t.server.of(h2e.RequestReceived)) == i + 1
        t.respond(t.server_stream(i), GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
    assert [e.path for e in t.events()] == ["/q/0", "/q/1", "/q/2"]
    assert len(t.client.of(h2e.TrailersReceived)) == 3


def test_padded_data_goes_through_as_sent_and_only_data_bytes_are_counted() -> None:
    t = H2Trace()
    sid = t.client.conn.get_next_available_stream_id()
    t.client.conn.send_headers(sid, grpc_request())
    for _ in range(2000):  # 2000 x 256 flow-controlled bytes: more than the default windows
        t.client.conn.send_data(sid, b"x", pad_length=254)
        t.run()
    t.client.send(sid, b"")
    up = t.server_stream()
    assert bytes(t.server.bodies[up]) == b"x" * 2000
    flow = [e.flow_controlled_length for e in t.server.of(h2e.DataReceived)]  # type: ignore[attr-defined]
    assert flow[:2000] == [256] * 2000  # the padding reached the server, which acknowledged it
    t.respond(up, GRPC_OK_HEAD, trailers=GRPC_OK_TRAILERS)
    [ev] = t.events()
    assert ev.request_bytes == 2000


def test_a_long_lived_connection_keeps_nothing_per_finished_stream() -> None:
    t = H2Trace()
    for _ in range(3000):
        t.request(get_request())
        t.respond(t.server_stream(), [(b":status", b"204")])
    assert len(t.events()) == 3000
    assert t.relay.open_streams == 0
    assert t.relay.buffered_bytes == 0
