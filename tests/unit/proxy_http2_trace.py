"""Protocol traces for the HTTP/2 relay: a real h2 client and a real h2 server wired in memory to
an H2Relay, frames flowing until nothing moves."""

from __future__ import annotations

from dataclasses import dataclass, field

import h2.events as h2e
from h2.config import H2Configuration
from h2.connection import ConnectionInputs, ConnectionState, H2Connection, H2ConnectionStateMachine
from proxy_trace import APP, FakeClock, context

from meshpipe.proxy.commands import (
    CloseConnection,
    Command,
    ConnectionAccepted,
    DataReceived,
    Event,
    OpenUpstream,
    PublishRequestEvent,
    SendData,
    Side,
    UpstreamConnected,
)
from meshpipe.proxy.http2 import H2Relay
from meshpipe.proxy.layer import Address, Limits
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

Headers = list[tuple[bytes, bytes]]


class DrainingStateMachine(H2ConnectionStateMachine):
    """h2's connection state machine, except that a GOAWAY leaves the connection open, as real
    peers (grpc, nghttp2) keep serving streams below a GOAWAY's last id (h2 has no switch)."""

    def __init__(self) -> None:
        super().__init__()
        table = dict(H2ConnectionStateMachine._transitions)
        for state in (
            ConnectionState.IDLE,
            ConnectionState.CLIENT_OPEN,
            ConnectionState.SERVER_OPEN,
        ):
            for goaway in (ConnectionInputs.SEND_GOAWAY, ConnectionInputs.RECV_GOAWAY):
                table[(state, goaway)] = (None, state)
        self._transitions = table


def grpc_request(path: bytes = b"/shop.Cart/Add", **extra: bytes) -> Headers:
    headers = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"cart.shop:8080"),
        (b":path", path),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ]
    return headers + [(k.replace("_", "-").encode(), v) for k, v in extra.items()]


def get_request(path: bytes = b"/") -> Headers:
    return [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"web.shop:8080"),
        (b":path", path),
    ]


GRPC_OK_HEAD: Headers = [(b":status", b"200"), (b"content-type", b"application/grpc")]
GRPC_OK_TRAILERS: Headers = [(b"grpc-status", b"0"), (b"grpc-message", b"")]


def grpc_frame(message: bytes) -> bytes:
    """A length-prefixed gRPC message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


@dataclass
class _Outgoing:
    data: bytearray
    end: bool
    trailers: Headers | None


@dataclass
class Peer:
    """One real h2 endpoint: records events, acknowledges data (unless told not to), and sends
    bodies as its flow-control windows allow."""

    client_side: bool
    auto_ack: bool = True
    events: list[h2e.Event] = field(default_factory=list)
    bodies: dict[int, bytearray] = field(default_factory=dict)
    unacked: dict[int, int] = field(default_factory=dict)
    _outgoing: dict[int, _Outgoing] = field(default_factory=dict)

    def __post_init__(self) -> None:
        config = H2Configuration(client_side=self.client_side, header_encoding=None)
        self.conn = H2Connection(config)
        # Like real peers (grpc, nghttp2), keep serving streams below a GOAWAY's last id.
        self.conn.state_machine = DrainingStateMachine()
        self.conn.initiate_connection()

    def receive(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            self.events.append(event)
            if isinstance(event, h2e.DataReceived) and event.stream_id:
                self.bodies.setdefault(event.stream_id, bytearray()).extend(event.data or b"")
                size = event.flow_controlled_length or 0
                if self.auto_ack:
                    self.conn.acknowledge_received_data(size, event.stream_id)
                else:
                    self.unacked[event.stream_id] = self.unacked.get(event.stream_id, 0) + size
        self.send_pending()

    def ack_all(self) -> None:
        for sid, size in self.unacked.items():
            if size:
                self.conn.acknowledge_received_data(size, sid)
        self.unacked.clear()

    def send(
        self, sid: int, data: bytes, end: bool = True, trailers: Headers | None = None
    ) -> None:
        """Queue a body (and its end) on a stream; it goes out as windows open."""
        out = self._outgoing.setdefault(sid, _Outgoing(bytearray(), False, None))
        out.data.extend(data)
        out.end, out.trailers = end, trailers
        self.send_pending()

    def send_pending(self) -> None:
        for sid, out in list(self._outgoing.items()):
            if sid not in self.conn.streams or self.conn.streams[sid].closed:
                del self._outgoing[sid]
                continue
            while out.data:
                room = min(
                    self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size
                )
                if room <= 0:
                    break
                self.conn.send_data(sid, bytes(out.data[:room]))
                del out.data[:room]
            if not out.data and out.end:
                del self._outgoing[sid]  # first: an end h2 refuses is not retried later
                if out.trailers is not None:
                    self.conn.send_headers(sid, out.trailers, end_stream=True)
                else:
                    self.conn.end_stream(sid)
            elif not out.data:
                del self._outgoing[sid]

    def of(self, kind: type[h2e.Event]) -> list[h2e.Event]:
        return [e for e in self.events if isinstance(e, kind)]


class H2Trace:
    """A client → relay → server trace. The relay's commands are kept; bytes are delivered."""

    def __init__(
        self,
        direction: meshpipe_pb2.Direction.ValueType = meshpipe_pb2.INBOUND,
        target: Address | None = APP,
        limits: Limits | None = None,
        connect: bool = True,
    ) -> None:
        self.clock = FakeClock()
        self.ctx = context(direction=direction, target=target, limits=limits, clock=self.clock)
        self.relay = H2Relay(self.ctx)
        self.client = Peer(client_side=True)
        self.server = Peer(client_side=False)
        self.commands: list[Command] = []
        self.upstream_open = False
        self.max_buffered = 0
        self.feed(ConnectionAccepted())
        if connect:
            self.connect()

    def connect(self) -> None:
        self.upstream_open = True
        self.feed(UpstreamConnected())
        self.run()

    def feed(self, event: Event) -> list[Command]:
        out = self.relay.handle(event)
        self.commands += out
        self.max_buffered = max(self.max_buffered, self.relay.buffered_bytes)
        for command in out:
            if isinstance(command, SendData) and command.side is Side.DOWNSTREAM:
                self.client.receive(command.data)
            elif isinstance(command, SendData) and self.upstream_open:
                self.server.receive(command.data)
            elif isinstance(command, CloseConnection) and command.side is Side.UPSTREAM:
                self.upstream_open = False
        return out

    def run(self, limit: int = 100_000) -> None:
        """Move bytes both ways until nobody has anything to send."""
        for _ in range(limit):
            moved = False
            data = self.client.conn.data_to_send()
            if data:
                self.feed(DataReceived(Side.DOWNSTREAM, data))
                moved = True
            data = self.server.conn.data_to_send() if self.upstream_open else b""
            if data:
                self.feed(DataReceived(Side.UPSTREAM, data))
                moved = True
            if not moved:
                return
        raise AssertionError("trace did not settle")

    # --- conveniences ---

    def request(self, headers: Headers, body: bytes | None = None, end: bool = True) -> int:
        """Open a client stream; returns its id (the relay's downstream stream id)."""
        sid = self.client.conn.get_next_available_stream_id()
        self.client.conn.send_headers(sid, headers, end_stream=end and body is None)
        if body is not None:
            self.client.send(sid, body, end=end)
        self.run()
        return sid

    def server_stream(self, index: int = -1) -> int:
        """The upstream stream id of the index-th request the server received."""
        return self.server.of(h2e.RequestReceived)[index].stream_id  # type: ignore[attr-defined, no-any-return]

    def respond(
        self,
        sid: int,
        head: Headers,
        body: bytes = b"",
        trailers: Headers | None = None,
        end: bool = True,
    ) -> None:
        self.server.conn.send_headers(sid, head)
        self.server.send(sid, body, end=end, trailers=trailers)
        self.run()

    def events(self) -> list[meshpipe_pb2.RequestEvent]:
        return [c.event for c in self.commands if isinstance(c, PublishRequestEvent)]

    def of(self, kind: type) -> list[Command]:
        return [c for c in self.commands if isinstance(c, kind)]

    def opened(self) -> list[OpenUpstream]:
        return [c for c in self.commands if isinstance(c, OpenUpstream)]
