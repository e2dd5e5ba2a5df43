"""The streams of an HTTP/2 relay: heads, bodies, trailers and resets relayed between the two
connections, one request event per stream."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import h2.events as h2e
from h2.errors import ErrorCodes

from meshpipe.proxy.commands import CancelTimer, Command, Side, StartTimer
from meshpipe.proxy.events import DST_HEADER, SRC_HEADER, RequestRecord
from meshpipe.proxy.http2_conn import H2Pair
from meshpipe.proxy.http2_headers import (
    Headers,
    RequestHead,
    error_reply,
    first,
    grpc_status,
    http_status,
    normalize,
    text,
    with_identity,
    without_identity,
)
from meshpipe.proxy.http2_state import H2Stream, other
from meshpipe.proxy.layer import LayerContext
from meshpipe.proxy.trailers import forwardable_trailers
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


class StreamRelay:
    """Every stream of one relayed connection, from its request head to its request event.

    The connection-level owner (proxy.http2.H2Relay) decides whether new streams may go
    upstream (`accepting`) and is told through `on_finish` whenever a stream ends.
    """

    def __init__(
        self, ctx: LayerContext, pair: H2Pair, out: list[Command], on_finish: Callable[[], None]
    ) -> None:
        self.ctx = ctx  # replaced when the upstream target is decided
        self.accepting = False  # new streams may be opened upstream
        self._pair = pair
        self._out = out
        self._on_finish = on_finish
        self._by: dict[Side, dict[int, H2Stream]] = {Side.DOWNSTREAM: {}, Side.UPSTREAM: {}}
        self._pending: deque[H2Stream] = deque()  # waiting for an upstream stream slot

    def add(self, sid: int, head: RequestHead, headers: Headers, ended: bool) -> H2Stream:
        """Start the record of a new downstream stream (not queued for upstream yet)."""
        record = RequestRecord(self.ctx, head.protocol)
        pairs = [(text(name), text(value)) for name, value in headers]
        record.request_head(head.method, head.scheme, head.authority, head.path, pairs)
        stream = H2Stream(sid, head, record, self._request_headers(headers))
        stream.request.end_received = ended
        stream.caller_meshed = first(headers, SRC_HEADER.encode()) is not None
        self._by[Side.DOWNSTREAM][sid] = stream
        return stream

    def queue(self, stream: H2Stream) -> None:
        """Send the stream upstream as soon as the upstream takes another stream."""
        self._arm_timer(stream)
        self._pending.append(stream)
        self.open_pending()

    @property
    def buffered_bytes(self) -> int:
        streams = self._by[Side.DOWNSTREAM].values()
        return sum(s.request.buffered + s.response.buffered for s in streams)

    def stop_request(self, stream: H2Stream) -> None:
        """The upstream is gone after its whole response: deliver that, forward no more."""
        self._pair.drop(stream, toward=Side.UPSTREAM)
        stream.deferred_reset = (Side.DOWNSTREAM, ErrorCodes.NO_ERROR)  # if still sending
        self._maybe_finish(stream)

    def abort(self, stream: H2Stream, kind: str, message: str) -> None:
        """The connection is over: the stream ends now, an error unless its response was sent."""
        if stream.finished:
            return
        self._stop(stream, Side.UPSTREAM, ErrorCodes.CANCEL)
        if not stream.response.end_sent:
            stream.record.error(kind, message)
        self._finish(stream)

    def _request_headers(self, headers: Headers) -> Headers:
        if self.ctx.direction == meshpipe_pb2.OUTBOUND:
            return with_identity(headers, SRC_HEADER, str(self.ctx.local))
        return without_identity(headers)

    def _response_headers(self, headers: Headers, stream: H2Stream) -> Headers:
        if self.ctx.direction == meshpipe_pb2.OUTBOUND:
            peer = first(headers, DST_HEADER.encode())
            if peer is not None:
                stream.record.peer_identity(text(peer))
            return without_identity(headers)
        if stream.caller_meshed:  # its outbound sidecar reads and strips our identity
            return with_identity(headers, DST_HEADER, str(self.ctx.local))
        return without_identity(headers)  # an unmeshed caller is an application: hide it

    def open_pending(self) -> None:
        if not self.accepting:
            return
        while (
            self._pending
            and self._pair.up.open_outbound_streams
            < self._pair.up.remote_settings.max_concurrent_streams
        ):
            self._open_upstream_stream(self._pending.popleft())

    def _open_upstream_stream(self, stream: H2Stream) -> None:
        up_sid = self._pair.up.get_next_available_stream_id()
        request, headers = stream.request, stream.request_headers or []
        stream.request_headers = None
        end = request.end_received and not request.chunks and request.trailers is None
        self._pair.up.send_headers(up_sid, headers, end_stream=end)
        stream.up_sid = up_sid
        self._by[Side.UPSTREAM][up_sid] = stream
        if end:
            request.end_sent = True
        else:
            self._pump(stream, Side.UPSTREAM)

    def on_response(self, event: h2e.ResponseReceived) -> None:
        stream = self._by[Side.UPSTREAM].get(event.stream_id)
        if stream is None:
            return
        headers = self._response_headers(normalize(event.headers), stream)
        stream.record.response_head(http_status(headers))
        self._cancel_timer(stream)
        ended = event.stream_ended is not None
        if ended:  # Trailers-Only (gRPC) or a bodiless response: keep it one HEADERS frame
            status = grpc_status(headers)
            if status is not None:
                stream.record.grpc_status(status)
            stream.response.end_received = stream.response.end_sent = True
        self._pair.down.send_headers(stream.down_sid, headers, end_stream=ended)
        stream.response_started = True
        self._maybe_finish(stream)

    def on_informational(self, event: h2e.InformationalResponseReceived) -> None:
        stream = self._by[Side.UPSTREAM].get(event.stream_id)
        if stream is not None:
            headers = without_identity(normalize(event.headers))
            self._pair.down.send_headers(stream.down_sid, headers)

    def on_trailers(self, side: Side, event: h2e.TrailersReceived) -> None:
        stream = self._by[side].get(event.stream_id)
        if stream is None:
            return
        trailers, dropped = forwardable_trailers(without_identity(normalize(event.headers)))
        stream.record.add_trailer_fields_dropped(dropped)
        if side is Side.UPSTREAM:
            status = grpc_status(trailers)
            if status is not None:
                stream.record.grpc_status(status)
        # Nothing left to forward: the stream then ends with an empty DATA frame.
        stream.pipe_from(side).trailers = trailers or None

    def on_data(self, side: Side, event: h2e.DataReceived) -> None:
        data = event.data or b""
        flow = event.flow_controlled_length or 0
        stream = self._by[side].get(event.stream_id)
        if stream is None or stream.pipe_from(side).aborted:
            self._pair.ack(side, event.stream_id, flow)  # nobody to forward to: free the window now
            return
        self._pair.ack(side, event.stream_id, flow - len(data))  # padding is never forwarded
        if side is Side.DOWNSTREAM:
            stream.record.add_request_bytes(len(data))
        else:
            stream.record.add_response_bytes(len(data))
        stream.pipe_from(side).push(data)
        self._pump(stream, other(side))

    def on_end(self, side: Side, sid: int) -> None:
        stream = self._by[side].get(sid)
        if stream is not None:
            stream.pipe_from(side).end_received = True
            self._pump(stream, other(side))

    def on_window(self, side: Side, sid: int) -> None:
        """The side granted more window (or changed settings): send what waits for it."""
        if sid:
            stream = self._by[side].get(sid)
            streams = [stream] if stream is not None else []
        else:
            streams = list(self._by[side].values())
        for stream in streams:
            self._pump(stream, side)
        if side is Side.UPSTREAM:
            self.open_pending()

    def _pump(self, stream: H2Stream, toward: Side) -> None:
        if self._pair.pump(stream, toward):
            self._maybe_finish(stream)

    def _maybe_finish(self, stream: H2Stream) -> None:
        if stream.finished or not (stream.request.done and stream.response.done):
            return
        if stream.deferred_reset is not None:
            side, code = stream.deferred_reset
            self._pair.reset(side, stream.sid(side), code)
        self._finish(stream)

    def _stop(self, stream: H2Stream, side: Side, code: int) -> None:
        """Forward nothing more either way and reset the stream on that side."""
        self._pair.drop(stream, toward=Side.DOWNSTREAM)
        self._pair.drop(stream, toward=Side.UPSTREAM)
        self._pair.reset(side, stream.sid(side), code)

    def _finish(self, stream: H2Stream) -> None:
        """Publish the stream's event (exactly once) and forget the stream."""
        if stream.finished:
            return
        stream.finished = True
        self._by[Side.DOWNSTREAM].pop(stream.down_sid, None)
        if stream.up_sid is not None:
            self._by[Side.UPSTREAM].pop(stream.up_sid, None)
        if stream in self._pending:
            self._pending.remove(stream)
        self._cancel_timer(stream)
        self._out.append(stream.record.finish())
        self.open_pending()
        self._on_finish()

    def on_reset(self, side: Side, sid: int, code: int) -> None:
        stream = self._by[side].get(sid)
        if stream is None:
            return
        if side is Side.DOWNSTREAM and stream.response.end_sent:
            # The client had its whole response and sends no more (a cancel crossing the end,
            # a gRPC deadline): the request is over, and not a failed one; the upstream is told.
            self._stop(stream, Side.UPSTREAM, code)
            self._finish(stream)
            return
        if side is Side.UPSTREAM and stream.response_complete:
            # The server wants no more of the request after its whole response (RFC 9113 §8.1):
            # not a failed request; the response is still delivered, then the client is told.
            self._pair.drop(stream, toward=side)
            stream.deferred_reset = (Side.DOWNSTREAM, code)
            self._maybe_finish(stream)
            return
        self._stop(stream, other(side), code)
        stream.record.reset(code)
        self._finish(stream)

    def fail(self, stream: H2Stream, kind: str, message: str) -> None:
        """The proxy ends the stream: a made-up response if none started, else a reset."""
        if stream.finished:
            return
        self._stop(stream, Side.UPSTREAM, ErrorCodes.CANCEL)
        stream.record.error(kind, message)
        if not self._pair.stream_open(Side.DOWNSTREAM, stream.down_sid):
            pass
        elif stream.response_started:
            self._pair.reset(Side.DOWNSTREAM, stream.down_sid, ErrorCodes.INTERNAL_ERROR)
        else:
            reply = error_reply(stream.head.grpc, kind, message)
            stream.record.response_head(reply.http_status)
            self._pair.down.send_headers(stream.down_sid, reply.headers, end_stream=True)
            stream.response_started = True
            # The client may still be sending; it need not (RFC 9113 §8.1).
            self._pair.reset(Side.DOWNSTREAM, stream.down_sid, ErrorCodes.NO_ERROR)
        self._finish(stream)

    def refuse(self, stream: H2Stream) -> None:
        """The upstream will not process the stream: the client may retry it."""
        if stream.finished:
            return
        self._stop(stream, Side.DOWNSTREAM, ErrorCodes.REFUSED_STREAM)
        stream.record.reset(ErrorCodes.REFUSED_STREAM)
        self._finish(stream)

    def all(self) -> list[H2Stream]:
        return list(self._by[Side.DOWNSTREAM].values())

    def _arm_timer(self, stream: H2Stream) -> None:
        """Response timeout: the gRPC deadline for gRPC, the listener's limit for plain HTTP/2."""
        head = stream.head
        seconds = head.grpc_timeout_s if head.grpc else self.ctx.limits.response_timeout_s
        if seconds is None:
            return
        stream.timer = f"h2-response-{stream.down_sid}"
        self._out.append(StartTimer(stream.timer, seconds))

    def _cancel_timer(self, stream: H2Stream) -> None:
        if stream.timer:
            self._out.append(CancelTimer(stream.timer))
            stream.timer = ""

    def timer_fired(self, name: str) -> None:
        for stream in self.all():
            if stream.timer == name:
                stream.timer = ""
                self.fail(stream, "upstream_timeout", "no response head before the deadline")
