"""The HTTP/2 relay layer (sans-IO): one downstream h2c connection relayed stream by stream to one
upstream h2c connection; this module owns the connections' lifecycle (connect, GOAWAY, failure,
drain, close), proxy.http2_streams the streams."""

from __future__ import annotations

from enum import Enum

import h2.events as h2e
from h2.errors import ErrorCodes
from h2.exceptions import H2Error, ProtocolError

from meshpipe.proxy.commands import (
    CloseConnection,
    Command,
    ConnectionAccepted,
    ConnectionClosed,
    DataReceived,
    DrainStarted,
    Event,
    Log,
    OpenUpstream,
    SendData,
    Side,
    StartTimer,
    TimerFired,
    UpstreamConnected,
    UpstreamFailed,
)
from meshpipe.proxy.http1_parse import ParseError, split_authority
from meshpipe.proxy.http2_conn import H2Pair
from meshpipe.proxy.http2_headers import normalize, request_head
from meshpipe.proxy.http2_streams import StreamRelay
from meshpipe.proxy.layer import Address, LayerContext

CLOSE_TIMER = "h2-close"
CLOSE_GRACE_S = 1.0  # after our GOAWAY, time the client gets to close first (avoids TCP RST)


class _Upstream(Enum):
    IDLE = "idle"  # not asked for yet (explicit outbound: waits for the first :authority)
    CONNECTING = "connecting"
    CONNECTED = "connected"
    GONE = "gone"  # failed, closed or sent GOAWAY: no new streams go there


class H2Relay:
    """Relays an h2c connection: each request goes upstream on a stream of its own; responses,
    trailers, resets and GOAWAY come back; identity headers follow DESIGN.md §4.

    The upstream connection is opened at once when the context names a target, else for the
    first request's :authority (explicit outbound mode without CONNECT).
    """

    def __init__(self, ctx: LayerContext) -> None:
        self._ctx = ctx
        self._pair = H2Pair(window=ctx.limits.max_buffer_bytes)
        self._out: list[Command] = []
        self._streams = StreamRelay(ctx, self._pair, self._out, on_finish=self._maybe_close)
        self._upstream = _Upstream.IDLE
        self._connecting = False  # OpenUpstream issued, no answer yet
        self._failure: tuple[str, str] | None = None  # (kind, message) new streams fail with
        self._open_sides = {Side.DOWNSTREAM}
        self._goaway_last: int | None = None  # last stream id of our GOAWAY downstream
        self._draining = False  # close once no stream is left
        self._close_armed = False
        self._started = False
        self._closed = False
        self._closing: list[Side] = []

    # --- the Layer protocol ---------------------------------------------------------------

    def handle(self, event: Event) -> list[Command]:
        """Feed one event; returns the commands to execute, in order. Never raises for h2
        trouble: a state h2 refuses ends the connection with an event for every stream."""
        if self._closed:
            return []
        try:
            if not self._started:
                self._start()
            self._dispatch(event)
        except H2Error as exc:
            self._log("warning", f"h2 relay gave up on the connection: {exc!r}")
            self._abort_all("protocol_error", str(exc) or type(exc).__name__)
        return self._flush()

    @property
    def buffered_bytes(self) -> int:
        """Body bytes held by the relay, both directions (bounded by the advertised windows)."""
        return self._streams.buffered_bytes

    def _start(self) -> None:
        self._started = True
        if self._ctx.target is not None:
            self._connect(self._ctx.target)

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, DataReceived):
            self._receive(event.side, event.data)
        elif isinstance(event, UpstreamConnected):
            self._upstream_connected()
        elif isinstance(event, UpstreamFailed):
            self._upstream_failed(event.kind, event.message)
        elif isinstance(event, ConnectionClosed):
            self._connection_closed(event.side, event.reason)
        elif isinstance(event, TimerFired):
            self._timer(event.name)
        elif isinstance(event, DrainStarted):  # shutting down: in-flight streams finish
            self._goaway_downstream(ErrorCodes.NO_ERROR)
        elif not isinstance(event, ConnectionAccepted):
            self._log("debug", f"h2 relay ignored {event!r}")

    def _flush(self) -> list[Command]:
        commands: list[Command] = []
        for side in (Side.DOWNSTREAM, Side.UPSTREAM):
            # Upstream bytes wait inside h2 until the connection exists.
            data = self._pair.conn(side).data_to_send() if side in self._open_sides else b""
            if data:
                commands.append(SendData(side, data))
        commands.extend(self._out)
        self._out.clear()
        for side in self._closing:
            if side in self._open_sides:
                self._open_sides.discard(side)
                commands.append(CloseConnection(side))
        self._closing.clear()
        if not self._open_sides and not self._connecting:
            self._closed = True
        return commands

    # --- connections ----------------------------------------------------------------------

    def _connect(self, target: Address) -> None:
        self._ctx = self._ctx.with_target(target)
        self._streams.ctx = self._ctx
        self._upstream = _Upstream.CONNECTING
        self._streams.accepting = True
        self._connecting = True
        self._out.append(OpenUpstream(target.host, target.port))

    def _upstream_connected(self) -> None:
        self._connecting = False
        self._open_sides.add(Side.UPSTREAM)
        if self._upstream is not _Upstream.CONNECTING:
            self._closing.append(Side.UPSTREAM)  # nobody needs it any more
            return
        self._upstream = _Upstream.CONNECTED
        self._streams.open_pending()

    def _gone(self) -> None:
        """No new stream goes upstream any more."""
        self._upstream = _Upstream.GONE
        self._streams.accepting = False

    def _receive(self, side: Side, data: bytes) -> None:
        try:
            events = self._pair.conn(side).receive_data(data)
        except ProtocolError as exc:
            self._protocol_error(side, exc)
            return
        for event in events:
            self._on_h2_event(side, event)

    def _on_h2_event(self, side: Side, event: h2e.Event) -> None:
        streams = self._streams
        if isinstance(event, h2e.RequestReceived) and side is Side.DOWNSTREAM:
            self._on_request(event)
        elif isinstance(event, h2e.ResponseReceived) and side is Side.UPSTREAM:
            streams.on_response(event)
        elif isinstance(event, h2e.InformationalResponseReceived) and side is Side.UPSTREAM:
            streams.on_informational(event)
        elif isinstance(event, h2e.DataReceived):
            streams.on_data(side, event)
        elif isinstance(event, h2e.TrailersReceived):
            streams.on_trailers(side, event)
        elif isinstance(event, h2e.StreamEnded):
            streams.on_end(side, event.stream_id)
        elif isinstance(event, h2e.StreamReset):
            streams.on_reset(side, event.stream_id, int(event.error_code or 0))
        elif isinstance(event, h2e.WindowUpdated | h2e.RemoteSettingsChanged):
            streams.on_window(side, getattr(event, "stream_id", 0))
        elif isinstance(event, h2e.ConnectionTerminated):
            self._on_goaway(side, int(event.error_code or 0), event.last_stream_id)

    def _on_request(self, event: h2e.RequestReceived) -> None:
        sid = event.stream_id
        if self._goaway_last is not None and sid > self._goaway_last:
            # After our GOAWAY: not processed, the client retries it elsewhere (RFC 9113 §6.8).
            self._pair.reset(Side.DOWNSTREAM, sid, ErrorCodes.REFUSED_STREAM)
            return
        headers = normalize(event.headers)
        head = request_head(headers)
        if self._upstream is _Upstream.IDLE:
            try:
                target = split_authority(head.authority, 443 if head.scheme == "https" else 80)
            except ParseError as exc:
                self._failure = ("bad_request", f":authority {head.authority!r}: {exc}")
            else:
                self._connect(Address(*target))
        stream = self._streams.add(sid, head, headers, ended=event.stream_ended is not None)
        if self._failure is not None:
            self._streams.fail(stream, *self._failure)
            self._goaway_downstream(ErrorCodes.NO_ERROR)  # later requests: a new connection
        elif self._upstream is _Upstream.GONE:
            self._streams.refuse(stream)
        else:
            self._streams.queue(stream)

    def _timer(self, name: str) -> None:
        if name == CLOSE_TIMER:
            self._closing.extend((Side.UPSTREAM, Side.DOWNSTREAM))
        else:
            self._streams.timer_fired(name)

    # --- connection-wide ends ----------------------------------------------------------------

    def _on_goaway(self, side: Side, code: int, last_stream_id: int | None) -> None:
        if side is Side.UPSTREAM:
            self._gone()
            last = self._pair.up.highest_outbound_stream_id
            last = last if last_stream_id is None else last_stream_id
            for stream in self._streams.all():
                if stream.up_sid is None or stream.up_sid > last:
                    self._streams.refuse(stream)
            if code != ErrorCodes.NO_ERROR:
                self._fail_all("upstream_reset", f"upstream sent GOAWAY with error code {code}")
            self._goaway_downstream(code)
            return
        if self._pair.usable(Side.UPSTREAM) and self._upstream is not _Upstream.IDLE:
            self._pair.up.close_connection(error_code=code, last_stream_id=0)
        if code != ErrorCodes.NO_ERROR:
            self._abort_all("downstream_reset", f"client sent GOAWAY with error code {code}")
            return
        self._draining = True
        self._maybe_close()

    def _goaway_downstream(self, code: int) -> None:
        if self._goaway_last is None:
            self._goaway_last = self._pair.down.highest_inbound_stream_id
            self._pair.down.close_connection(error_code=code, last_stream_id=self._goaway_last)
        self._draining = True
        self._maybe_close()

    def _maybe_close(self) -> None:
        """Once draining and no stream is left: close the upstream now, the client after a grace."""
        if not self._draining or self._streams.all():
            return
        self._gone()
        self._closing.append(Side.UPSTREAM)
        if self._goaway_last is None:  # the client said GOAWAY first: it is leaving anyway
            self._closing.append(Side.DOWNSTREAM)
        elif not self._close_armed:
            self._close_armed = True
            self._out.append(StartTimer(CLOSE_TIMER, CLOSE_GRACE_S))

    def _fail_all(self, kind: str, message: str) -> None:
        for stream in self._streams.all():
            self._streams.fail(stream, kind, message)

    def _upstream_failed(self, kind: str, message: str) -> None:
        self._connecting = False
        self._gone()
        self._failure = (kind, message)
        self._fail_all(kind, message)
        if self._pair.down.highest_inbound_stream_id:
            self._goaway_downstream(ErrorCodes.NO_ERROR)
        # Else the failure waits for the first request: it is answered (and recorded) as failed
        # before the GOAWAY; a GOAWAY now would have the client retry elsewhere unrecorded.

    def _connection_closed(self, side: Side, reason: str) -> None:
        # HTTP/2 has no half-close: the peer's end of input ends the connection, so our end of
        # the socket closes too (left open it would hold the connection, and a drain, until
        # the drain timeout).
        if side in self._open_sides:
            self._open_sides.discard(side)
            self._out.append(CloseConnection(side))
        if side is Side.DOWNSTREAM:
            self._abort_all("downstream_closed", reason or "the client closed the connection")
            return
        if self._connecting:
            self._upstream_failed("connect_refused", reason or "upstream closed before connecting")
            return
        self._gone()
        self._failure = ("upstream_reset", reason or "the upstream closed the connection")
        for stream in self._streams.all():
            if stream.response_complete:  # deliver what already arrived
                self._streams.stop_request(stream)
            else:
                self._streams.fail(stream, *self._failure)
        self._goaway_downstream(ErrorCodes.NO_ERROR)

    def _protocol_error(self, side: Side, exc: ProtocolError) -> None:
        """h2 refused what a peer sent and queued a GOAWAY to it; streams end with an error."""
        message = str(exc) or type(exc).__name__
        self._log("info", f"HTTP/2 protocol error from {side.value}: {message}")
        if side is Side.DOWNSTREAM:
            self._abort_all("protocol_error", message)
            return
        self._gone()
        self._failure = ("protocol_error", f"upstream: {message}")
        self._fail_all(*self._failure)
        self._closing.append(Side.UPSTREAM)
        self._goaway_downstream(ErrorCodes.NO_ERROR)

    def _abort_all(self, kind: str, message: str) -> None:
        """The connection is over: every stream ends now (an error unless it completed)."""
        for stream in self._streams.all():
            self._streams.abort(stream, kind, message)
        if self._pair.usable(Side.UPSTREAM) and Side.UPSTREAM in self._open_sides:
            self._pair.up.close_connection()
        self._closing.extend((Side.UPSTREAM, Side.DOWNSTREAM))
        self._gone()

    def _log(self, level: str, message: str) -> None:
        self._out.append(Log(level, message))
