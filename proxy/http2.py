"""The HTTP/2 frame relay (sans-IO): one downstream h2c connection forwarded frame by frame to its
own upstream connection, header blocks decoded once per direction for the events and edited only
where the proxy must (identity headers, credentials, forbidden trailers).

Stream ids, SETTINGS, flow control (DATA and WINDOW_UPDATE), PING and PRIORITY run end to end
between client and server, as through a TCP relay: the relay holds no body bytes but what arrives
before the upstream connection exists. It speaks for itself only where it must: a made-up reply
(400/502/503/504, gRPC UNAVAILABLE or DEADLINE_EXCEEDED) when the upstream cannot answer,
RST_STREAM and GOAWAY for streams and connections it ends, the window of DATA it swallows for a
stream it ended, SETTINGS and their ACK when the server is gone, and the protocol errors it finds
in the framing and HPACK.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from enum import Enum

from meshpipe.proxy import h2_frames as fr
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
    PauseReading,
    ResumeReading,
    SendData,
    Side,
    StartTimer,
    TimerFired,
    UpstreamConnected,
    UpstreamFailed,
)
from meshpipe.proxy.h2_frames import Frame, FrameError
from meshpipe.proxy.h2_hpack import BlockError, BlockRelay, static_block
from meshpipe.proxy.hpack_decode import Field
from meshpipe.proxy.http1_parse import ParseError, split_authority
from meshpipe.proxy.http2_checks import MalformedRequest, check_request
from meshpipe.proxy.http2_headers import error_reply, grpc_status, request_head, status
from meshpipe.proxy.http2_streams import (
    Edit,
    MalformedBlock,
    Stream,
    informational_edit,
    kept_count,
    new_stream,
    request_edit,
    response_edit,
    trailer_edit,
)
from meshpipe.proxy.layer import Address, LayerContext
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

CLOSE_TIMER = "h2-close"
RESPONSE_TIMER = "h2-response"
CLOSE_GRACE_S = 1.0  # after our GOAWAY, time the client gets to close first (avoids TCP RST)
MAX_HEADER_LIST_SIZE = 65_536  # decoded size of one header block (hpack's default)
MAX_BLOCK_BYTES = 256 * 1024  # one header block as received, HEADERS and CONTINUATIONs
DROPPED_KEPT = 1024  # ids of streams the proxy ended whose late frames it swallows
DOWN, UP = Side.DOWNSTREAM, Side.UPSTREAM


class _Upstream(Enum):
    IDLE = "idle"  # not asked for yet (explicit outbound: waits for the first :authority)
    CONNECTING = "connecting"
    CONNECTED = "connected"
    GONE = "gone"  # failed or closed: nothing goes there any more


class _Partial:
    """A header block still waiting for its CONTINUATION frames."""

    __slots__ = ("end_stream", "fragments", "priority", "sid", "size")

    def __init__(self, sid: int, end_stream: bool, priority: bytes, fragment: bytes) -> None:
        self.sid, self.end_stream, self.priority = sid, end_stream, priority
        self.fragments = [fragment]
        self.size = len(fragment)


class _Peer:
    """One side as the relay sees it: the frames and header blocks it sends, the bytes waiting
    to go to it. (Sides are told apart by identity here: an Enum hashes in Python.)"""

    __slots__ = ("blocks", "outbox", "partial", "reader", "side")

    def __init__(self, side: Side, reader: fr.FrameReader) -> None:
        self.side = side
        self.reader = reader
        self.blocks = BlockRelay(MAX_HEADER_LIST_SIZE)
        self.partial: _Partial | None = None  # a header block waiting for CONTINUATION
        self.outbox: list[bytes] = []


class H2Relay:
    """Relays an h2c connection frame by frame; one request event per stream."""

    def __init__(self, ctx: LayerContext) -> None:
        self._ctx = ctx
        self._down = _Peer(DOWN, fr.FrameReader(expect_preface=True))
        self._up = _Peer(UP, fr.FrameReader(expect_preface=False))
        self._streams: dict[int, Stream] = {}
        self._templates: dict[int, meshpipe_pb2.RequestEvent] = {}  # per protocol
        self._timer_at: float | None = None  # when the armed response timer fires (monotonic)
        self._dropped: set[int] = set()  # streams the proxy ended: late frames swallowed
        self._dropped_order: deque[int] = deque()
        self._pending: list[bytes] = []  # for the upstream, until it is connected
        self._pending_size = 0
        self._pending_settings = 0  # client SETTINGS among them (acknowledged by us if it fails)
        self._paused = False
        self._out: list[Command] = []
        self._upstream = _Upstream.IDLE
        self._connecting = False  # OpenUpstream issued, no answer yet
        self._upstream_goaway: int | None = None  # the server's last stream id
        self._failure: tuple[str, str] | None = None  # (kind, message) new streams fail with
        self._open_sides = {DOWN}
        self._highest = 0  # the highest stream id the client opened
        self._goaway_last: int | None = None  # last stream id of the GOAWAY the client got
        self._server_spoke = False  # a SETTINGS went to the client (the server's or ours)
        self._settings_origin: deque[bool] = deque()  # per SETTINGS to the client: ours?
        self._draining = False
        self._close_armed = False
        self._started = False
        self._closed = False
        self._closing: list[Side] = []

    # --- the Layer protocol ---------------------------------------------------------------

    def handle(self, event: Event) -> list[Command]:
        """Feed one event; returns the commands to execute, in order."""
        if self._closed:
            return []
        if not self._started:
            self._started = True
            if self._ctx.target is not None:
                self._connect(self._ctx.target)
            else:  # explicit outbound: clients (gRPC's) may wait for a SETTINGS before a request
                self._speak_first()
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
            self._goaway_downstream(fr.NO_ERROR)
        elif not isinstance(event, ConnectionAccepted):
            self._log("debug", f"h2 relay ignored {event!r}")
        return self._flush()

    @property
    def buffered_bytes(self) -> int:
        """Bytes held by the relay: what waits for the upstream connection and partial frames."""
        return self._pending_size + self._down.reader.buffered + self._up.reader.buffered

    @property
    def open_streams(self) -> int:
        """Streams whose event is not published yet."""
        return len(self._streams)

    def _flush(self) -> list[Command]:
        commands: list[Command] = []
        for peer in (self._down, self._up):
            chunks = peer.outbox
            if chunks:
                if peer.side in self._open_sides:
                    commands.append(SendData(peer.side, b"".join(chunks)))
                chunks.clear()
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

    def _to(self, side: Side, data: bytes) -> None:
        if side is DOWN:
            self._down.outbox.append(data)
        elif self._upstream is _Upstream.CONNECTED:
            self._up.outbox.append(data)
        elif self._upstream is not _Upstream.GONE:
            self._pending.append(data)
            self._pending_size += len(data)
            if not self._paused and self._pending_size > self._ctx.limits.max_buffer_bytes:
                self._paused = True
                self._out.append(PauseReading(DOWN))

    def _speak_first(self) -> None:
        """The client must get a SETTINGS frame first (RFC 9113 §3.4): ours if the server's
        has not come."""
        if not self._server_spoke:
            self._server_spoke = True
            self._settings_origin.append(True)
            self._down.outbox.append(fr.settings())

    # --- connections ----------------------------------------------------------------------

    def _connect(self, target: Address) -> None:
        self._ctx = self._ctx.with_target(target)
        self._templates.clear()  # events name the target from now on
        self._upstream = _Upstream.CONNECTING
        self._connecting = True
        self._out.append(OpenUpstream(target.host, target.port))

    def _upstream_connected(self) -> None:
        self._connecting = False
        self._open_sides.add(UP)
        if self._upstream is not _Upstream.CONNECTING:
            self._closing.append(UP)  # nobody needs it any more
            return
        self._upstream = _Upstream.CONNECTED
        self._up.outbox.extend(self._pending)
        self._pending.clear()
        self._pending_size = self._pending_settings = 0
        if self._paused:
            self._paused = False
            self._out.append(ResumeReading(DOWN))

    def _receive(self, side: Side, data: bytes) -> None:
        if side is UP and self._upstream is not _Upstream.CONNECTED:
            return
        try:
            preface, frames = (self._down if side is DOWN else self._up).reader.feed(data)
            if preface:
                self._to(UP, preface)
            handle = self._from_client if side is DOWN else self._from_server
            for f in frames:
                if f.type != fr.DATA:  # DATA's one rule is checked where it is handled
                    fr.check(f)
                handle(f)
                # Sides only close at the flush: one being closed ignores the rest of the read.
                if self._closing and side in self._closing:
                    return
        except FrameError as exc:
            self._protocol_error(side, exc.code, str(exc))
        except BlockError as exc:
            self._protocol_error(side, fr.COMPRESSION_ERROR, str(exc))
        except MalformedBlock as exc:
            self._protocol_error(side, fr.PROTOCOL_ERROR, str(exc))

    # --- frames from the client -------------------------------------------------------------

    def _from_client(self, f: Frame) -> None:
        t = f.type
        if self._down.partial is not None and t != fr.CONTINUATION:
            raise FrameError(fr.PROTOCOL_ERROR, "a frame inside a header block")
        if t == fr.DATA:
            self._data(DOWN, f)
        elif t == fr.HEADERS:
            self._headers(DOWN, f)
        elif t == fr.CONTINUATION:
            self._continuation(DOWN, f)
        elif t == fr.RST_STREAM:
            self._rst(DOWN, f)
        elif t == fr.SETTINGS:
            self._client_settings(f)
        elif t == fr.GOAWAY:
            self._client_goaway(f)
        elif t == fr.PUSH_PROMISE:
            raise FrameError(fr.PROTOCOL_ERROR, "a client sent PUSH_PROMISE")
        elif t == fr.PING and self._upstream is _Upstream.GONE:
            if not f.flags & fr.ACK:
                self._speak_first()
                self._to(DOWN, fr.frame(fr.PING, fr.ACK, 0, f.payload))
        else:  # WINDOW_UPDATE, PING, PRIORITY, extensions: end to end
            self._to(UP, f.raw)

    def _client_settings(self, f: Frame) -> None:
        if f.flags & fr.ACK:
            if self._settings_origin and self._settings_origin.popleft():
                return  # it acknowledges ours
            self._to(UP, f.raw)
            return
        raw = f.raw
        pairs = fr.settings_pairs(f.payload)
        self._apply_settings(DOWN, pairs)
        push = [v for k, v in pairs if k == fr.SETTINGS_ENABLE_PUSH]
        if not push or push == [1]:  # the relay relays no pushed streams
            rest = [(k, v) for k, v in pairs if k != fr.SETTINGS_ENABLE_PUSH]
            raw = fr.settings([*rest, (fr.SETTINGS_ENABLE_PUSH, 0)])
        if self._upstream is _Upstream.GONE:
            self._speak_first()
            self._to(DOWN, fr.settings(ack=True))
            return
        if self._upstream is not _Upstream.CONNECTED:
            self._pending_settings += 1
        self._to(UP, raw)

    def _apply_settings(self, sender: Side, pairs: list[tuple[int, int]]) -> None:
        """What a peer's SETTINGS mean for the frames and blocks it receives."""
        toward = self._up if sender is DOWN else self._down  # the peer whose frames it limits
        for key, value in pairs:
            if key == fr.SETTINGS_MAX_FRAME_SIZE and fr.DEFAULT_MAX_FRAME_SIZE <= value < 1 << 24:
                toward.reader.max_size = value
            elif key == fr.SETTINGS_HEADER_TABLE_SIZE:
                toward.blocks.allow_table_size(value)

    def _client_goaway(self, f: Frame) -> None:
        self._to(UP, f.raw)
        code = fr.u32(f.payload, 4)
        if code != fr.NO_ERROR:
            self._abort_all("downstream_reset", f"client sent GOAWAY with error code {code}")
            return
        self._draining = True
        self._maybe_close()

    # --- frames from the server -------------------------------------------------------------

    def _from_server(self, f: Frame) -> None:
        t = f.type
        if self._up.partial is not None and t != fr.CONTINUATION:
            raise FrameError(fr.PROTOCOL_ERROR, "a frame inside a header block")
        if t == fr.DATA:
            self._data(UP, f)
        elif t == fr.HEADERS:
            self._headers(UP, f)
        elif t == fr.CONTINUATION:
            self._continuation(UP, f)
        elif t == fr.RST_STREAM:
            self._rst(UP, f)
        elif t == fr.GOAWAY:
            self._server_goaway(f)
        elif t == fr.PUSH_PROMISE:
            raise FrameError(fr.PROTOCOL_ERROR, "PUSH_PROMISE though push is disabled")
        else:
            if t == fr.SETTINGS and not f.flags & fr.ACK:
                self._server_spoke = True
                self._settings_origin.append(False)
                self._apply_settings(UP, fr.settings_pairs(f.payload))
            self._to(DOWN, f.raw)

    def _server_goaway(self, f: Frame) -> None:
        last, code = fr.u32(f.payload), fr.u32(f.payload, 4)
        if self._goaway_last is not None and last > self._goaway_last:
            last = self._goaway_last  # a later GOAWAY never raises the last stream id
            self._to(DOWN, fr.goaway(last, code, f.payload[8:]))
        else:
            self._to(DOWN, f.raw)
        self._goaway_last = last
        self._upstream_goaway = last
        for stream in list(self._streams.values()):
            if stream.sid > last:
                self._refuse(stream)
        if code != fr.NO_ERROR:
            self._fail_all("upstream_reset", f"upstream sent GOAWAY with error code {code}")
        self._draining = True
        self._maybe_close()

    # --- frames of both -------------------------------------------------------------------

    def _data(self, side: Side, f: Frame) -> None:
        sid = f.sid
        if not sid:
            raise FrameError(fr.PROTOCOL_ERROR, "DATA on stream 0")
        stream = self._streams.get(sid)
        if stream is None and sid in self._dropped:
            if f.payload:  # swallowed: the sender gets its connection window back
                self._to(side, fr.window_update(0, len(f.payload)))
            return
        if stream is not None:
            if side is UP and not stream.response_started:
                raise FrameError(fr.PROTOCOL_ERROR, f"DATA before a response head on {sid}")
            size = len(f.payload)
            if f.flags & fr.PADDED:  # the padding is a connection error before any length check
                size = len(fr.unpadded(f))
            if side is DOWN:
                stream.record.add_request_bytes(size)
                if stream.req_left is not None:
                    stream.req_left -= size
                    if stream.req_left < 0 or (stream.req_left and f.flags & fr.END_STREAM):
                        self._malformed(stream, "request DATA disagrees with its content-length")
                        if f.payload:  # swallowed: the client gets its connection window back
                            self._to(DOWN, fr.window_update(0, len(f.payload)))
                        return
            else:
                stream.record.add_response_bytes(size)
        self._to(UP if side is DOWN else DOWN, f.raw)
        if stream is not None and f.flags & fr.END_STREAM:
            self._ended(stream, side)

    def _ended(self, stream: Stream, side: Side) -> None:
        if side is DOWN:
            stream.req_end = True
        else:
            stream.resp_end = True
        if stream.req_end and stream.resp_end:
            self._finish(stream)

    def _headers(self, side: Side, f: Frame) -> None:
        priority, fragment = fr.headers_fragment(f)
        end_stream = bool(f.flags & fr.END_STREAM)
        if f.flags & fr.END_HEADERS:
            self._block(side, f.sid, end_stream, priority, fragment)
        else:
            (self._down if side is DOWN else self._up).partial = _Partial(
                f.sid, end_stream, priority, fragment
            )

    def _continuation(self, side: Side, f: Frame) -> None:
        peer = self._down if side is DOWN else self._up
        partial = peer.partial
        if partial is None or partial.sid != f.sid:
            raise FrameError(fr.PROTOCOL_ERROR, "CONTINUATION outside its header block")
        partial.fragments.append(f.payload)
        partial.size += len(f.payload)
        if partial.size > MAX_BLOCK_BYTES:
            raise FrameError(fr.PROTOCOL_ERROR, f"header block over {MAX_BLOCK_BYTES} bytes")
        if f.flags & fr.END_HEADERS:
            peer.partial = None
            block = b"".join(partial.fragments)
            self._block(side, partial.sid, partial.end_stream, partial.priority, block)

    def _block(self, side: Side, sid: int, end: bool, priority: bytes, block: bytes) -> None:
        relay = (self._down if side is DOWN else self._up).blocks
        fields = relay.decode(block)
        toward = UP if side is DOWN else DOWN
        stream = self._streams.get(sid)
        edit: Edit = (None, [])
        if stream is None and sid in self._dropped:
            relay.skip()
            return
        if side is DOWN:
            if stream is None and sid % 2 and sid > self._highest:
                self._highest = sid
                opened = self._new_stream(sid, fields, end)
                if opened is None:
                    relay.skip()
                    return
                stream, edit = opened
                stream.forwarded = True
            elif stream is not None:
                if end and stream.req_left:  # trailers end a body shorter than announced
                    self._malformed(stream, f"request body {stream.req_left} bytes short")
                    relay.skip()
                    return
                edit = trailer_edit(stream, fields)
            else:  # a stream already over: the peer will refuse it, but no identity goes by
                edit = informational_edit(fields)
        elif stream is None:
            edit = informational_edit(fields)
        else:
            code = status(fields) if not stream.response_started else b""
            if code[:1] == b"1":
                edit = informational_edit(fields)
            elif code:
                edit = response_edit(self._ctx, stream, fields)
                stream.response_started = True
                stream.record.response_head(int(code) if code.isdigit() else 0)
                self._cancel_timer(stream)
                if end:  # Trailers-Only or a bodiless response
                    self._grpc_status(stream, fields)
            elif not stream.response_started:
                raise FrameError(fr.PROTOCOL_ERROR, f"a response head without :status on {sid}")
            else:
                edit = trailer_edit(stream, fields)
                self._grpc_status(stream, fields)
        out = relay.forward(block, fields, *edit)
        if end and not out and kept_count(fields, edit) == 0:
            self._to(toward, fr.frame(fr.DATA, fr.END_STREAM, sid))  # no trailer left
        else:
            self._to(toward, fr.header_frames(sid, out, end, priority))
        if stream is not None and end:
            self._ended(stream, side)

    def _grpc_status(self, stream: Stream, fields: Sequence[Field]) -> None:
        code = grpc_status(fields)
        if code is not None:
            stream.record.grpc_status(code)

    def _new_stream(
        self, sid: int, fields: Sequence[Field], end: bool
    ) -> tuple[Stream, Edit] | None:
        """A request opened a stream (with the edit its head gets upstream); None when the proxy
        answers it itself."""
        if self._goaway_last is not None and sid > self._goaway_last:
            # After a GOAWAY: not processed, the client retries it elsewhere (RFC 9113 §6.8);
            # no event, as for any request that never reached the proxy.
            self._speak_first()
            self._to(DOWN, fr.rst_stream(sid, fr.REFUSED_STREAM))
            self._remember_dropped(sid)
            return None
        try:  # a malformed request is a stream error and never goes upstream (RFC 9113 §8.1.1)
            edit = request_edit(self._ctx, fields)
            expected = check_request(fields, end)
        except (MalformedBlock, MalformedRequest) as exc:
            stream = new_stream(self._ctx, sid, fields, self._templates)
            stream.req_end = end
            self._streams[sid] = stream
            self._malformed(stream, str(exc))
            return None
        if self._upstream is _Upstream.IDLE:
            head = request_head(list(fields))
            try:
                target = split_authority(head.authority, 443 if head.scheme == "https" else 80)
            except ParseError as exc:
                self._failure = ("bad_request", f":authority {head.authority!r}: {exc}")
            else:
                self._connect(Address(*target))
        stream = new_stream(self._ctx, sid, fields, self._templates)
        stream.req_end = end
        stream.req_left = expected
        self._streams[sid] = stream
        if self._failure is not None or self._upstream is _Upstream.GONE:
            kind, message = self._failure or ("upstream_reset", "the upstream is gone")
            self._fail(stream, kind, message)
            self._goaway_downstream(fr.NO_ERROR)  # later requests: a new connection
            return None
        self._arm_timer(stream)
        return stream, edit

    def _rst(self, side: Side, f: Frame) -> None:
        sid = f.sid
        stream = self._streams.get(sid)
        if stream is None and sid in self._dropped:
            return
        self._to(UP if side is DOWN else DOWN, f.raw)
        if stream is None:
            return
        answered = stream.resp_end
        if not answered:
            stream.record.reset(fr.u32(f.payload))
        self._finish(stream)

    # --- the proxy's own answers ---------------------------------------------------------------

    def _drop(self, stream: Stream) -> None:
        """The proxy ends the stream: its late frames are swallowed."""
        self._remember_dropped(stream.sid)
        if stream.forwarded and self._upstream is not _Upstream.GONE:  # queued if connecting
            self._to(UP, fr.rst_stream(stream.sid, fr.CANCEL))

    def _remember_dropped(self, sid: int) -> None:
        self._dropped.add(sid)
        self._dropped_order.append(sid)
        if len(self._dropped_order) > DROPPED_KEPT:  # frames in flight come within a round trip
            self._dropped.discard(self._dropped_order.popleft())

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

    def _malformed(self, stream: Stream, message: str) -> None:
        """A malformed request (RFC 9113 §8.1.1): a stream error of type PROTOCOL_ERROR to the
        client, RST_STREAM upstream if its head went there; the event says protocol_error."""
        self._log("info", f"HTTP/2 malformed request on stream {stream.sid}: {message}")
        stream.record.error("protocol_error", message)
        self._speak_first()
        self._to(DOWN, fr.rst_stream(stream.sid, fr.PROTOCOL_ERROR))
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

    # --- connection-wide ends ----------------------------------------------------------------

    def _goaway_downstream(self, code: int) -> None:
        if self._goaway_last is None:
            self._goaway_last = self._highest
            self._speak_first()
            self._to(DOWN, fr.goaway(self._highest, code))
        self._draining = True
        self._maybe_close()

    def _maybe_close(self) -> None:
        """Once draining and no stream is left: close the upstream now, the client after a grace."""
        if not self._draining or self._streams:
            return
        self._gone()
        self._closing.append(UP)
        if self._goaway_last is None:  # the client said GOAWAY first: it is leaving anyway
            self._closing.append(DOWN)
        elif not self._close_armed:
            self._close_armed = True
            self._out.append(StartTimer(CLOSE_TIMER, CLOSE_GRACE_S))

    def _gone(self) -> None:
        self._upstream = _Upstream.GONE
        self._pending.clear()
        self._pending_size = 0

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
        if self._upstream is _Upstream.CONNECTING:
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
        upstream = self._upstream is _Upstream.CONNECTED and UP in self._open_sides
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

    def _log(self, level: str, message: str) -> None:
        self._out.append(Log(level, message))
