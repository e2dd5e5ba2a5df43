"""The sans-IO HTTP/1.1 relay layer: one downstream connection, requests relayed one at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from meshpipe.proxy.commands import (
    CancelTimer,
    CloseConnection,
    Command,
    ConnectionClosed,
    DataReceived,
    DrainStarted,
    Event,
    FinishRequestEvent,
    OpenUpstream,
    PauseReading,
    Redetect,
    ResumeReading,
    SendData,
    Side,
    StartTimer,
    TimerFired,
    UpstreamConnected,
    UpstreamFailed,
)
from meshpipe.proxy.events import (
    ALLOWED_HEADERS,
    DST_HEADER,
    IDENTITY_HEADERS,
    SRC_HEADER,
    PeerIdentities,
    RequestRecord,
    event_template,
)
from meshpipe.proxy.http1_head import (
    NO_BODY,
    Head,
    framing,
    parse_request,
    parse_response,
    response_framing,
    rewrite,
    take,
)
from meshpipe.proxy.http1_parse import (
    BodyReader,
    ParseError,
    ResponseHead,
    bad,
    serialize_response,
    split_absolute,
    split_authority,
)
from meshpipe.proxy.layer import Address, LayerContext
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

RESPONSE_TIMER = "http1.response"

# What the client sees when the proxy cannot get a response (issue: refused/reset/timeout).
ERROR_STATUS = {
    "connect_refused": 502,
    "connect_error": 502,
    "upstream_reset": 503,
    "connect_timeout": 504,
    "upstream_timeout": 504,
}
REASONS = {
    400: "Bad Request",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}
_IDENTITY = IDENTITY_HEADERS
_HOP = _IDENTITY | {b"proxy-connection", b"proxy-authorization"}  # never sent upstream
_H2C = _HOP | {b"upgrade", b"http2-settings"}  # an h2c upgrade would hide every request from us
_DRAINING = _IDENTITY | {b"connection"}
_CLOSE_LINE = b"connection: close\r\n"
# The request fields RequestRecord.request_head reads.
_EVENT_FIELDS = frozenset(n.encode() for n in (*ALLOWED_HEADERS, "traceparent", SRC_HEADER))


class Phase(Enum):
    HTTP = "http"  # requests and responses
    TUNNEL = "tunnel"  # after 101 Switching Protocols: bytes both ways
    DONE = "done"  # closed, or handed to another layer after CONNECT


@dataclass(slots=True)
class Exchange:
    """One request and its response in flight."""

    record: RequestRecord
    method: str
    request_body: BodyReader | None  # None: the request has no body
    close_after: bool
    response_body: BodyReader | None = None
    request_done: bool = False
    caller_meshed: bool = False  # the request carried meshpipe-src: its sidecar strips dst


@dataclass(slots=True)
class Upstream:
    target: Address | None = None
    state: str = "none"  # none, connecting, open
    pending: list[bytes] = field(default_factory=list)
    eof: bool = False  # tunnel: upstream finished sending


class Http1Relay:
    """Relays HTTP/1.1 between a downstream client and one upstream, emitting one event each."""

    def __init__(self, ctx: LayerContext) -> None:
        self._ctx = ctx
        self._phase = Phase.HTTP
        self._down = bytearray()
        self._up = bytearray()
        self._upstream = Upstream()
        self._exchange: Exchange | None = None
        self._down_eof = False
        self._paused = False
        self._tunnel_record: RequestRecord | None = None
        self._draining = False
        self._outbound = ctx.direction == meshpipe_pb2.OUTBOUND
        self._template = event_template(ctx, meshpipe_pb2.HTTP1)
        self._peers = PeerIdentities()
        self._src_line = f"{SRC_HEADER}: {ctx.local}\r\n".encode("latin-1")
        self._dst_line = f"{DST_HEADER}: {ctx.local}\r\n".encode("latin-1")
        # The response timer is armed once and re-armed when it fires early: a deadline per
        # request instead of a timer started and cancelled per request.
        self._deadline = 0.0
        self._timer_armed = False

    def handle(self, event: Event) -> list[Command]:
        if self._phase == Phase.DONE:
            return []
        if isinstance(event, DataReceived) and event.side == Side.DOWNSTREAM:
            cmds = self._downstream_data(event.data)
        elif isinstance(event, DataReceived):
            cmds = self._upstream_data(event.data)
        elif isinstance(event, ConnectionClosed) and event.side == Side.DOWNSTREAM:
            cmds = self._downstream_closed()
        elif isinstance(event, ConnectionClosed):
            cmds = self._upstream_closed(event.reason)
        elif isinstance(event, UpstreamConnected):
            cmds = self._upstream_connected()
        elif isinstance(event, UpstreamFailed):
            cmds = self._fail(event.kind, event.message)
        elif isinstance(event, TimerFired) and event.name == RESPONSE_TIMER:
            cmds = self._response_timeout()
        elif isinstance(event, DrainStarted):
            cmds = self._drain()
        else:  # ConnectionAccepted, other timers: nothing to do
            cmds = []
        if (
            self._paused
            or self._upstream.pending
            or len(self._down) > self._ctx.limits.max_buffer_bytes
        ):
            return cmds + self._flow()
        return cmds

    # downstream → upstream

    def _downstream_data(self, data: bytes) -> list[Command]:
        if self._phase == Phase.TUNNEL:
            self._count_tunnel(request=len(data))
            return self._to_upstream(data)
        self._down += data
        try:
            return self._advance_request()
        except ParseError as err:
            return self._reject(err)

    def _advance_request(self) -> list[Command]:
        cmds: list[Command] = []
        if self._exchange is None:
            raw = take(self._down, self._ctx.limits.max_header_bytes)
            if raw is None:
                return cmds
            self._exchange = self._new_exchange()
            cmds = self._begin(parse_request(raw))
            if self._phase != Phase.HTTP:
                return cmds
        ex = self._exchange
        if ex is not None and not ex.request_done:
            body = ex.request_body
            if body is not None:
                out, payload = body.feed(self._down)
                ex.record.add_request_bytes(payload)
                if out:
                    cmds += self._to_upstream(out)
                if not body.done:
                    return cmds
                ex.record.add_trailer_fields_dropped(body.trailer_fields_dropped)
            ex.request_done = True
            cmds += self._await_response()
        return cmds

    def _await_response(self) -> list[Command]:
        """The request is sent: its response head is due within the response timeout."""
        timeout = self._ctx.limits.response_timeout_s
        self._deadline = self._ctx.clock.monotonic() + timeout
        if self._timer_armed:
            return []
        self._timer_armed = True
        return [StartTimer(RESPONSE_TIMER, timeout)]

    def _new_exchange(self) -> Exchange:
        record = RequestRecord(self._ctx, meshpipe_pb2.HTTP1, self._template, self._peers)
        return Exchange(record=record, method="", request_body=None, close_after=True)

    def _begin(self, head: Head) -> list[Command]:
        ex = self._exchange
        assert ex is not None
        ex.method = head.method
        ex.caller_meshed = head.has(b"meshpipe-src")
        record = ex.record
        host = head.first(b"host")
        record.request_head(head.method, "http", host, head.target, head.text_fields(_EVENT_FIELDS))
        target, path, authority = self._route(head, host)
        if target is not self._ctx.target:  # the template has the connection's own target
            record.set_target(target.host, target.port)
        if path != head.target or authority != host:  # absolute-form, CONNECT
            record.event.path, record.event.authority = path, authority
            if self._outbound:
                record.event.destination.authority = authority
        if head.method == "CONNECT":
            return self._connect_tunnel(target)
        found = framing(head)
        if found is not None and found is not NO_BODY:
            ex.request_body = BodyReader(found, self._ctx.limits.max_header_bytes)
        ex.close_after = _wants_close(head)
        out = self._request_out(head, path)
        cmds = self._route_upstream(target)
        return cmds + self._to_upstream(out)

    def _route(self, head: Head, authority: str) -> tuple[Address, str, str]:
        """(upstream, origin-form path, authority) of a request whose Host is authority."""
        if head.method == "CONNECT":
            if self._ctx.target is not None:
                raise ParseError(405, "bad_request", "CONNECT is only served by the outbound proxy")
            host, port = split_authority(head.target, 443)
            return Address(host, port), "", head.target
        absolute = split_absolute(head.target)
        path = head.target if absolute is None else absolute[1]
        if absolute is not None:
            authority = absolute[0]
        if self._ctx.target is not None:
            return self._ctx.target, path, authority
        if not authority:
            raise bad("no upstream: neither absolute-form target nor Host header")
        host, port = split_authority(authority, 80)
        return Address(host, port), path, authority

    def _request_out(self, head: Head, path: str) -> bytes:
        """The head to send upstream: the client's bytes less hop-by-hop and identity fields,
        origin-form, with meshpipe-src on outbound."""
        start = None
        if path != head.target:
            start = f"{head.method} {path} ".encode("latin-1") + head.version
        add = self._src_line if self._outbound else b""
        if head.has_token(b"upgrade", b"h2c"):
            # An h2c upgrade would hide every request from us: stay on HTTP/1.1.
            return rewrite(head, _H2C, add, start, drop_connection_with=b"pgrade")
        return rewrite(head, _HOP, add, start)

    def _route_upstream(self, target: Address) -> list[Command]:
        up = self._upstream
        if up.state != "none" and up.target == target:
            return []
        cmds: list[Command] = []
        if up.state != "none":
            cmds.append(CloseConnection(Side.UPSTREAM))
        self._upstream = Upstream(target=target, state="connecting")
        return [*cmds, OpenUpstream(target.host, target.port)]

    def _connect_tunnel(self, target: Address) -> list[Command]:
        """CONNECT: answer 200 and let detection start over on the tunnel's content."""
        self._phase = Phase.DONE
        self._exchange = None
        cmds: list[Command] = [
            SendData(Side.DOWNSTREAM, b"HTTP/1.1 200 Connection Established\r\n\r\n")
        ]
        if self._upstream.state != "none":
            cmds.append(CloseConnection(Side.UPSTREAM))
        if self._paused:
            cmds.append(ResumeReading(Side.DOWNSTREAM))
            self._paused = False
        rest = bytes(self._down)
        self._down.clear()
        return [*cmds, Redetect(target.host, target.port, rest)]

    def _to_upstream(self, data: bytes) -> list[Command]:
        if self._upstream.state == "open":
            return [SendData(Side.UPSTREAM, data)]
        self._upstream.pending.append(data)
        return []

    def _upstream_connected(self) -> list[Command]:
        up = self._upstream
        if up.state != "connecting":
            return []
        up.state = "open"
        pending, up.pending = up.pending, []
        return [SendData(Side.UPSTREAM, b"".join(pending))] if pending else []

    # upstream → downstream

    def _upstream_data(self, data: bytes) -> list[Command]:
        if self._phase == Phase.TUNNEL:
            self._count_tunnel(response=len(data))
            return [SendData(Side.DOWNSTREAM, data)]
        if self._exchange is None:
            # Bytes nobody asked for: the connection is unusable for the next request.
            self._upstream = Upstream()
            self._up.clear()
            return [CloseConnection(Side.UPSTREAM)]
        self._up += data
        try:
            return self._advance_response()
        except ParseError as err:
            return self._fail(err.kind, err.message, status=502)

    def _advance_response(self) -> list[Command]:
        ex = self._exchange
        assert ex is not None
        cmds: list[Command] = []
        while ex.response_body is None:
            raw = take(self._up, self._ctx.limits.max_header_bytes)
            if raw is None:
                return cmds
            cmds += self._response_head(ex, parse_response(raw))
            if self._phase == Phase.TUNNEL:
                return cmds
        body = ex.response_body
        out, payload = body.feed(self._up)
        ex.record.add_response_bytes(payload)
        if out:
            last = cmds[-1] if cmds else None
            if isinstance(last, SendData) and last.side == Side.DOWNSTREAM:
                cmds[-1] = SendData(Side.DOWNSTREAM, last.data + out)  # head and body: one
            else:
                cmds.append(SendData(Side.DOWNSTREAM, out))
        if body.done:
            if body.trailer_fields_dropped:
                ex.record.add_trailer_fields_dropped(body.trailer_fields_dropped)
            cmds += self._finish_exchange()
        return cmds

    def _response_head(self, ex: Exchange, head: Head) -> list[Command]:
        status = head.status
        if self._outbound:
            for value in head.values(b"meshpipe-dst"):
                ex.record.peer_identity(value.decode("latin-1"))
        add = self._dst_line if status >= 200 and self._shows_identity(ex) else b""
        drop = _IDENTITY
        if self._draining and status >= 200 and status != 101:
            drop, add = _DRAINING, add + _CLOSE_LINE
            ex.close_after = True
        cmds: list[Command] = [SendData(Side.DOWNSTREAM, rewrite(head, drop, add))]
        if 100 <= status < 200 and status != 101:
            return cmds
        ex.record.response_head(status)
        if status == 101:
            return cmds + self._start_tunnel(ex)
        ex.response_body = BodyReader(
            response_framing(head, ex.method), self._ctx.limits.max_header_bytes
        )
        if _wants_close(head) or ex.response_body.until_close:
            ex.close_after = True
        return cmds

    def _start_tunnel(self, ex: Exchange) -> list[Command]:
        """101: from now on both directions are opaque bytes; the event waits for the close."""
        self._phase = Phase.TUNNEL
        self._exchange = None
        self._tunnel_record = ex.record
        cmds: list[Command] = []
        if self._up:
            ex.record.add_response_bytes(len(self._up))
            cmds.append(SendData(Side.DOWNSTREAM, bytes(self._up)))
            self._up.clear()
        if self._down:
            ex.record.add_request_bytes(len(self._down))
            cmds += self._to_upstream(bytes(self._down))
            self._down.clear()
        return cmds

    def _count_tunnel(self, request: int = 0, response: int = 0) -> None:
        if self._tunnel_record is not None:
            self._tunnel_record.add_request_bytes(request)
            self._tunnel_record.add_response_bytes(response)

    def _finish_exchange(self) -> list[Command]:
        ex = self._exchange
        assert ex is not None
        self._exchange = None
        # Sealed by the server after the response's last bytes are written (duration included).
        cmds: list[Command] = [FinishRequestEvent(ex.record)]
        if ex.close_after or not ex.request_done:
            return cmds + self._close_all()
        if self._down_eof:
            return cmds + self._after_downstream_eof()
        if not self._down:  # no pipelined request waiting: nothing to parse
            return cmds
        return cmds + self._advance_request_safely()

    def _after_downstream_eof(self) -> list[Command]:
        """The client sent its last byte: answer the pipelined requests it sent, then close."""
        cmds = self._advance_request_safely()
        if self._phase == Phase.TUNNEL:
            return cmds + self._downstream_closed()
        if self._phase != Phase.HTTP:
            return cmds
        ex = self._exchange
        if ex is None:  # nothing left, or only part of a head
            return cmds + self._close_all()
        if not ex.request_done:
            ex.record.error("downstream_reset", "client closed before the request was complete")
            return [*cmds, ex.record.finish(), *self._close_all()]
        return cmds  # its response comes, then this runs again

    def _advance_request_safely(self) -> list[Command]:
        try:
            return self._advance_request()
        except ParseError as err:
            return self._reject(err)

    # closes, failures, timers

    def _downstream_closed(self) -> list[Command]:
        self._down_eof = True
        if self._phase == Phase.TUNNEL:
            if self._upstream.eof:
                return self._end_tunnel()
            return [CloseConnection(Side.UPSTREAM, half=True)]
        ex = self._exchange
        if ex is None:
            return self._close_all()
        if not ex.request_done:
            ex.record.error("downstream_reset", "client closed before the request was complete")
            return [ex.record.finish(), *self._close_all()]
        return []  # request complete: deliver the response, then close

    def _upstream_closed(self, reason: str) -> list[Command]:
        was_open = self._upstream.state
        self._upstream = Upstream(target=self._upstream.target, eof=True)
        if self._phase == Phase.TUNNEL:
            if self._down_eof:
                return self._end_tunnel()
            return [CloseConnection(Side.DOWNSTREAM, half=True)]
        ex = self._exchange
        if ex is None or was_open == "none":
            return []
        if ex.response_body is None:
            return self._fail("upstream_reset", reason or "upstream closed before responding")
        if ex.response_body.until_close:
            ex.response_body.done = True
            return self._finish_exchange()
        ex.record.error("upstream_reset", reason or "upstream closed mid-response")
        return [ex.record.finish(), *self._close_all()]

    def _end_tunnel(self) -> list[Command]:
        record, self._tunnel_record = self._tunnel_record, None
        cmds: list[Command] = [record.finish()] if record is not None else []
        return cmds + self._close_all()

    def _drain(self) -> list[Command]:
        """Shutdown: an idle connection closes now, a busy one after its response."""
        self._draining = True
        if self._phase == Phase.HTTP and self._exchange is None:
            return self._close_all()
        if self._exchange is not None:
            self._exchange.close_after = True
        return []

    def _response_timeout(self) -> list[Command]:
        self._timer_armed = False
        ex = self._exchange
        if ex is None or not ex.request_done or ex.response_body is not None:
            return []  # armed again when the next request is sent
        left = self._deadline - self._ctx.clock.monotonic()
        if left > 0:
            self._timer_armed = True
            return [StartTimer(RESPONSE_TIMER, left)]
        return self._fail("upstream_timeout", "no response head in time")

    def _fail(self, kind: str, message: str, status: int | None = None) -> list[Command]:
        """No usable response from upstream: answer 5xx if nothing was sent yet, then close."""
        ex = self._exchange
        if ex is None:
            return self._close_all()
        code = status or ERROR_STATUS.get(kind, 502)
        ex.record.error(kind, message)
        self._exchange = None
        if ex.response_body is not None:  # head already relayed: all we can do is cut
            return [ex.record.finish(), *self._close_all()]
        ex.record.response_head(code)
        return [self._error_response(code, message, ex), ex.record.finish(), *self._close_all()]

    def _reject(self, err: ParseError) -> list[Command]:
        """A request we refuse to interpret: answer 4xx, publish its event, close."""
        ex = self._exchange or self._new_exchange()
        self._exchange = None
        ex.record.error(err.kind, err.message)
        if ex.response_body is not None:
            return [ex.record.finish(), *self._close_all()]
        ex.record.response_head(err.status)
        return [
            self._error_response(err.status, err.message, ex),
            ex.record.finish(),
            *self._close_all(),
        ]

    def _shows_identity(self, ex: Exchange) -> bool:
        """Inbound adds meshpipe-dst only for a meshed caller, whose outbound sidecar strips it;
        an unmeshed caller is an application and never sees our headers (as in HTTP/2)."""
        return self._ctx.direction == meshpipe_pb2.INBOUND and ex.caller_meshed

    def _error_response(self, status: int, message: str, ex: Exchange) -> SendData:
        body = f"meshproxy: {message}\n".encode()
        headers: list[tuple[str, str]] = [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        if self._shows_identity(ex):
            headers.append((DST_HEADER, str(self._ctx.local)))
        head = ResponseHead("HTTP/1.1", status, REASONS.get(status, "Error"), tuple(headers))
        return SendData(Side.DOWNSTREAM, serialize_response(head) + body)

    def _close_all(self) -> list[Command]:
        self._phase = Phase.DONE
        self._timer_armed = False
        cmds: list[Command] = [CancelTimer(RESPONSE_TIMER), CloseConnection(Side.DOWNSTREAM)]
        if self._upstream.state != "none":
            cmds.append(CloseConnection(Side.UPSTREAM))
        self._upstream = Upstream()
        return cmds

    def _flow(self) -> list[Command]:
        """Pause reading the client while this layer holds more than the buffer limit."""
        if self._phase == Phase.DONE:
            return []
        held = len(self._down) + sum(len(p) for p in self._upstream.pending)
        over = held > self._ctx.limits.max_buffer_bytes
        if over == self._paused:
            return []
        self._paused = over
        return [PauseReading(Side.DOWNSTREAM) if over else ResumeReading(Side.DOWNSTREAM)]


def _wants_close(head: Head) -> bool:
    if head.has_token(b"connection", b"close"):
        return True
    return head.version == b"HTTP/1.0" and not head.has_token(b"connection", b"keep-alive")
