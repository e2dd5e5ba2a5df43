"""How the HTTP/2 frame relay's connections begin and end: the upstream connected, failed or
closed, a peer breaking HTTP/2, the client leaving; what each means for the streams open."""

from __future__ import annotations

from meshpipe.proxy import h2_frames as fr
from meshpipe.proxy.commands import CloseConnection, OpenUpstream, ResumeReading, Side
from meshpipe.proxy.http2_state import DOWN, UP, Upstream
from meshpipe.proxy.http2_stream_ends import StreamEnds
from meshpipe.proxy.layer import Address


class ConnectionEnds(StreamEnds):
    """The upstream connection's life and the ends of whole connections."""

    def _connect(self, target: Address) -> None:
        self._ctx = self._ctx.with_target(target)
        self._templates.clear()  # events name the target from now on
        self._upstream = Upstream.CONNECTING
        self._connecting = True
        self._out.append(OpenUpstream(target.host, target.port))

    def _upstream_connected(self) -> None:
        self._connecting = False
        self._open_sides.add(UP)
        if self._upstream is not Upstream.CONNECTING:
            self._closing.append(UP)  # nobody needs it any more
            return
        self._upstream = Upstream.CONNECTED
        self._up.outbox.extend(self._pending)
        self._pending.clear()
        self._pending_size = self._pending_settings = 0
        if self._paused:
            self._paused = False
            self._out.append(ResumeReading(DOWN))

    def _upstream_failed(self, kind: str, message: str) -> None:
        self._connecting = False
        acks = self._pending_settings
        self._gone()
        self._failure = (kind, message)
        if acks:
            self._speak_first()
            self._to(DOWN, fr.settings(ack=True) * acks)
        self._fail_all(kind, message)
        if self._highest:
            self._goaway_downstream(fr.NO_ERROR)
        # Else the failure waits for the first request: it is answered (and recorded) as failed
        # before the GOAWAY; a GOAWAY now would have the client retry elsewhere unrecorded.

    def _connection_closed(self, side: Side, reason: str) -> None:
        # HTTP/2 has no half-close: the peer's end of input ends the connection.
        if side in self._open_sides:
            self._open_sides.discard(side)
            self._out.append(CloseConnection(side))
        if side is DOWN:
            self._abort_all("downstream_closed", reason or "the client closed the connection")
            return
        if self._upstream is Upstream.CONNECTING:
            self._upstream_failed("connect_refused", reason or "upstream closed before connecting")
            return
        self._gone()
        self._failure = ("upstream_reset", reason or "the upstream closed the connection")
        for stream in list(self._streams.values()):
            if stream.resp_end:  # delivered whole: the client need send no more
                if not stream.req_end:
                    self._to(DOWN, fr.rst_stream(stream.sid, fr.NO_ERROR))
                self._drop(stream)
                self._finish(stream)
            else:
                self._fail(stream, *self._failure)
        self._goaway_downstream(fr.NO_ERROR)

    def _protocol_error(self, side: Side, code: int, message: str) -> None:
        """A peer broke HTTP/2: it gets a GOAWAY with the code; streams end with an error."""
        self._log("info", f"HTTP/2 protocol error from {side.value}: {message}")
        if side is DOWN:
            if self._goaway_last is None:
                self._goaway_last = self._highest
                self._speak_first()
                self._to(DOWN, fr.goaway(self._highest, code, message.encode()[:256]))
            self._abort_all("protocol_error", message)
            return
        if UP in self._open_sides:
            self._up.outbox.append(fr.goaway(0, code))
        self._closing.append(UP)
        self._gone()
        self._failure = ("protocol_error", f"upstream: {message}")
        self._fail_all(*self._failure)
        self._goaway_downstream(fr.NO_ERROR)

    def _abort_all(self, kind: str, message: str) -> None:
        """The connection is over: every stream ends now (an error unless it was answered)."""
        upstream = self._upstream is Upstream.CONNECTED and UP in self._open_sides
        for stream in list(self._streams.values()):
            if not stream.resp_end:
                stream.record.error(kind, message)
            if upstream and stream.forwarded and not (stream.req_end and stream.resp_end):
                self._up.outbox.append(fr.rst_stream(stream.sid, fr.CANCEL))
            self._finish(stream)
        if upstream:
            self._up.outbox.append(fr.goaway(0, fr.NO_ERROR))
        self._closing.extend((UP, DOWN))
        self._gone()
