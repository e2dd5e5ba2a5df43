"""Protocol traces of the opaque TCP relay."""

from __future__ import annotations

from proxy_trace import APP, FakeClock, Trace, context

from meshpipe.proxy.commands import (
    CloseConnection,
    ConnectionAccepted,
    OpenUpstream,
    PauseReading,
    ResumeReading,
    Side,
    UpstreamFailed,
)
from meshpipe.proxy.layer import Limits
from meshpipe.proxy.tcp import TcpRelay
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


def test_bytes_flow_both_ways_and_one_event_counts_them_at_full_close() -> None:
    clock = FakeClock()
    t = Trace(TcpRelay(context(clock=clock)))
    assert t.commands == [OpenUpstream(APP.host, APP.port)]
    t.down(b"hello")
    clock.advance(0.002)
    t.connected()
    t.up(b"world!")
    assert (t.sent(Side.UPSTREAM), t.sent(Side.DOWNSTREAM)) == (b"hello", b"world!")
    assert t.closed(Side.DOWNSTREAM) == [CloseConnection(Side.UPSTREAM, half=True)]
    assert not t.events()
    t.closed(Side.UPSTREAM)
    [ev] = t.events()
    assert (ev.protocol, ev.request_bytes, ev.response_bytes) == (meshpipe_pb2.OPAQUE_TCP, 5, 6)
    assert (ev.latency_us, ev.authority, ev.classification) == (
        2000,
        "127.0.0.1:8080",
        meshpipe_pb2.SUCCESS,
    )


def test_refused_upstream_closes_the_client_with_the_error_in_the_event() -> None:
    t = Trace(TcpRelay(context()))
    t.feed(UpstreamFailed("connect_refused", "refused"))
    assert CloseConnection(Side.DOWNSTREAM) in t.commands
    [ev] = t.events()
    assert (ev.error.kind, ev.classification) == ("connect_refused", meshpipe_pb2.FAILURE)


def test_upstream_reset_ends_the_connection_as_a_failure() -> None:
    t = Trace(TcpRelay(context()))
    t.connected()
    t.closed(Side.UPSTREAM, "connection reset")
    assert t.events()[0].error.kind == "upstream_reset"
    assert CloseConnection(Side.DOWNSTREAM) in t.commands


def test_client_data_held_while_connecting_is_bounded_by_pausing() -> None:
    t = Trace(TcpRelay(context(limits=Limits(max_buffer_bytes=4))))
    t.down(b"123456")
    assert t.of(PauseReading) == [PauseReading(Side.DOWNSTREAM)]
    t.connected()
    assert t.of(ResumeReading) == [ResumeReading(Side.DOWNSTREAM)]
    assert t.sent(Side.UPSTREAM) == b"123456"


def test_without_a_destination_the_connection_is_closed_and_reported() -> None:
    t = Trace(TcpRelay(context(target=None)))
    assert t.events()[0].error.kind == "no_target"
    assert t.feed(ConnectionAccepted()) == []
