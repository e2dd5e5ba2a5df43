"""How the HTTP/2 frame relay ends one stream: the proxy's own answers (a made-up reply, a
refusal, a stream error for a malformed request), the one event per stream, and the response
deadline of each stream on the connection's single timer."""

from __future__ import annotations

from meshpipe.proxy import h2_frames as fr
from meshpipe.proxy.commands import Side, StartTimer
from meshpipe.proxy.h2_hpack import static_block
from meshpipe.proxy.http2_headers import error_reply
from meshpipe.proxy.http2_state import CLOSE_TIMER, DOWN, RESPONSE_TIMER, UP, RelayState, Upstream
from meshpipe.proxy.http2_streams import Stream


class StreamEnds(RelayState):
    """Ends streams: the client is answered, the upstream told, the event published once."""

    def _ended(self, stream: Stream, side: Side) -> None:
        if side is DOWN:
            stream.req_end = True
        else:
            stream.resp_end = True
        if stream.req_end and stream.resp_end:
            self._finish(stream)

    def _drop(self, stream: Stream) -> None:
        """The proxy ends the stream: its late frames are swallowed."""
        self._remember_dropped(stream.sid)
        if stream.forwarded and self._upstream is not Upstream.GONE:  # queued if connecting
            self._to(UP, fr.rst_stream(stream.sid, fr.CANCEL))

    def _malformed(self, stream: Stream, message: str) -> None:
        """A malformed request (RFC 9113 §8.1.1): a stream error of type PROTOCOL_ERROR to the
        client, RST_STREAM upstream if its head went there; the event says protocol_error."""
        self._log("info", f"HTTP/2 malformed request on stream {stream.sid}: {message}")
        stream.record.error("protocol_error", message)
        self._speak_first()
        self._to(DOWN, fr.rst_stream(stream.sid, fr.PROTOCOL_ERROR))
        self._drop(stream)
        self._finish(stream)

    def _fail(self, stream: Stream, kind: str, message: str) -> None:
        """A made-up response if none started, else a reset; then the event."""
        stream.record.error(kind, message)
        self._speak_first()
        if stream.response_started:
            self._to(DOWN, fr.rst_stream(stream.sid, fr.INTERNAL_ERROR))
        else:
            reply = error_reply(stream.head.grpc, kind, message)
            stream.record.response_head(reply.http_status)
            block = static_block(reply.headers)
            self._to(DOWN, fr.header_frames(stream.sid, block, end_stream=True))
            stream.response_started = True
            if not stream.req_end:  # the client may stop sending (RFC 9113 §8.1)
                self._to(DOWN, fr.rst_stream(stream.sid, fr.NO_ERROR))
        self._drop(stream)
        self._finish(stream)

    def _refuse(self, stream: Stream) -> None:
        """The upstream will not process the stream: the client may retry it."""
        stream.record.reset(fr.REFUSED_STREAM)
        self._speak_first()
        self._to(DOWN, fr.rst_stream(stream.sid, fr.REFUSED_STREAM))
        self._drop(stream)
        self._finish(stream)

    def _finish(self, stream: Stream) -> None:
        """Publish the stream's event (exactly once) and forget the stream."""
        if self._streams.pop(stream.sid, None) is None:
            return
        self._cancel_timer(stream)
        self._out.append(stream.record.finish())
        self._maybe_close()

    def _fail_all(self, kind: str, message: str) -> None:
        for stream in list(self._streams.values()):
            self._fail(stream, kind, message)

    def _arm_timer(self, stream: Stream) -> None:
        """Response timeout: the gRPC deadline for gRPC, the listener's limit for plain HTTP/2.

        One timer per connection, armed for the earliest deadline: a deadline per stream instead
        of a timer started and cancelled per request.
        """
        head = stream.head
        seconds = head.grpc_timeout_s if head.grpc else self._ctx.limits.response_timeout_s
        if seconds is None:
            return
        stream.deadline = self._ctx.clock.monotonic() + seconds
        if self._timer_at is None or stream.deadline < self._timer_at:
            self._timer_at = stream.deadline
            self._out.append(StartTimer(RESPONSE_TIMER, seconds))

    def _cancel_timer(self, stream: Stream) -> None:
        stream.deadline = None  # the connection's timer stays armed; it re-arms when it fires

    def _timer(self, name: str) -> None:
        if name == CLOSE_TIMER:
            self._closing.extend((UP, DOWN))
            return
        if name != RESPONSE_TIMER:
            return
        self._timer_at = None
        now = self._ctx.clock.monotonic()
        for stream in list(self._streams.values()):
            if stream.deadline is not None and stream.deadline <= now:
                stream.deadline = None
                self._fail(stream, "upstream_timeout", "no response head before the deadline")
        left = [s.deadline for s in self._streams.values() if s.deadline is not None]
        if left:
            self._timer_at = min(left)
            self._out.append(StartTimer(RESPONSE_TIMER, max(self._timer_at - now, 0.0)))
