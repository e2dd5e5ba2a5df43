"""The HTTP/2 frame relay (sans-IO): its Layer protocol and the routing of frames. One downstream
h2c connection is forwarded frame by frame to its own upstream connection, header blocks decoded
once per direction for the events and edited only where the proxy must (identity headers,
credentials, forbidden trailers).

Stream ids, SETTINGS, flow control (DATA and WINDOW_UPDATE), PING and PRIORITY run end to end
between client and server, as through a TCP relay: the relay holds no body bytes but what arrives
before the upstream connection exists. It speaks for itself only where it must: a made-up reply
(400/502/503/504, gRPC UNAVAILABLE or DEADLINE_EXCEEDED) when the upstream cannot answer,
RST_STREAM and GOAWAY for streams and connections it ends, the window of DATA it swallows for a
stream it ended, SETTINGS and their ACK when the server is gone, and the protocol errors it finds
in the framing and HPACK.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshpipe.proxy import h2_frames as fr
from meshpipe.proxy.commands import (
    Command,
    ConnectionAccepted,
    ConnectionClosed,
    DataReceived,
    DrainStarted,
    Event,
    Side,
    TimerFired,
    UpstreamConnected,
    UpstreamFailed,
)
from meshpipe.proxy.h2_frames import Frame, FrameError
from meshpipe.proxy.h2_hpack import BlockError
from meshpipe.proxy.hpack_decode import Field
from meshpipe.proxy.http1_parse import ParseError, split_authority
from meshpipe.proxy.http2_checks import MalformedRequest, check_request
from meshpipe.proxy.http2_connection import ConnectionEnds
from meshpipe.proxy.http2_headers import grpc_status, status
from meshpipe.proxy.http2_state import DOWN, HEADS_KEPT, MAX_BLOCK_BYTES, UP, Partial, Upstream
from meshpipe.proxy.http2_streams import (
    Edit,
    MalformedBlock,
    RequestRead,
    Stream,
    informational_edit,
    kept_count,
    new_stream,
    request_edit,
    response_edit,
    trailer_edit,
)
from meshpipe.proxy.layer import Address


class H2Relay(ConnectionEnds):
    """Relays an h2c connection frame by frame; one request event per stream."""

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

    def _receive(self, side: Side, data: bytes) -> None:
        if side is UP and self._upstream is not Upstream.CONNECTED:
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
        except BlockError as undecodable:  # one name per type (mypyc)
            self._protocol_error(side, fr.COMPRESSION_ERROR, str(undecodable))
        except MalformedBlock as malformed:
            self._protocol_error(side, fr.PROTOCOL_ERROR, str(malformed))

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
        elif t == fr.PING and self._upstream is Upstream.GONE:
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
        if self._upstream is Upstream.GONE:
            self._speak_first()
            self._to(DOWN, fr.settings(ack=True))
            return
        if self._upstream is not Upstream.CONNECTED:
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

    def _data(self, side: Side, f: Frame) -> None:
        sid = f.sid
        if not sid:
            raise FrameError(fr.PROTOCOL_ERROR, "DATA on stream 0")
        stream = self._streams.get(sid)
        if stream is None and sid in self._dropped:
            self._give_back(side, f)
            return
        if stream is not None:
            if side is UP and not stream.response_started:
                raise FrameError(fr.PROTOCOL_ERROR, f"DATA before a response head on {sid}")
            size = f.size
            if f.flags & fr.PADDED:  # the padding is a connection error before any length check
                size = len(fr.unpadded(f))
            if side is DOWN:
                stream.record.add_request_bytes(size)
                if stream.req_left is not None:
                    stream.req_left -= size
                    if stream.req_left < 0 or (stream.req_left and f.flags & fr.END_STREAM):
                        self._malformed(stream, "request DATA disagrees with its content-length")
                        self._give_back(DOWN, f)
                        return
            else:
                stream.record.add_response_bytes(size)
        self._to(UP if side is DOWN else DOWN, f.raw)
        if stream is not None and f.flags & fr.END_STREAM:
            self._ended(stream, side)

    def _headers(self, side: Side, f: Frame) -> None:
        priority, fragment = fr.headers_fragment(f)
        end_stream = bool(f.flags & fr.END_STREAM)
        if f.flags & fr.END_HEADERS:
            self._block(side, f.sid, end_stream, priority, fragment, f.raw)
        else:
            (self._down if side is DOWN else self._up).partial = Partial(
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

    def _block(
        self,
        side: Side,
        sid: int,
        end: bool,
        priority: bytes,
        block: bytes,
        raw: bytes | None = None,
    ) -> None:
        """One whole header block (raw: the HEADERS frame it came in, if it came in one)."""
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
                edit = trailer_edit(stream, fields, self._checked)
            else:  # a stream already over: the peer will refuse it, but no identity goes by
                edit = informational_edit(fields)
        elif stream is None:
            edit = informational_edit(fields)
        else:
            code = status(fields) if not stream.response_started else b""
            if code[:1] == b"1":
                edit = informational_edit(fields)
            elif code:
                edit = response_edit(self._ctx, stream, fields, self._checked)
                stream.response_started = True
                stream.record.response_head(int(code) if code.isdigit() else 0)
                self._cancel_timer(stream)
                if end:  # Trailers-Only or a bodiless response
                    self._grpc_status(stream, fields)
            elif not stream.response_started:
                raise FrameError(fr.PROTOCOL_ERROR, f"a response head without :status on {sid}")
            else:
                edit = trailer_edit(stream, fields, self._checked)
                self._grpc_status(stream, fields)
        out = relay.forward(block, fields, *edit)
        if end and not out and kept_count(fields, edit) == 0:
            self._to(toward, fr.frame(fr.DATA, fr.END_STREAM, sid))  # no trailer left
        elif out is block and raw is not None:  # unedited: the frame goes on as it came
            self._to(toward, raw)
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
        checked = self._check_request(sid, fields, end)
        if checked is None:
            return None
        edit, expected, read = checked
        if self._upstream is Upstream.IDLE:
            head = read.head
            try:
                target = split_authority(head.authority, 443 if head.scheme == "https" else 80)
            except ParseError as bad:  # one name per type (mypyc)
                self._failure = ("bad_request", f":authority {head.authority!r}: {bad}")
            else:
                self._connect(Address(*target))
        stream = new_stream(self._ctx, sid, read, self._templates, self._peers)
        stream.req_end = end
        stream.req_left = expected
        self._streams[sid] = stream
        if self._failure is not None or self._upstream is Upstream.GONE:
            kind, message = self._failure or ("upstream_reset", "the upstream is gone")
            self._fail(stream, kind, message)
            self._goaway_downstream(fr.NO_ERROR)  # later requests: a new connection
            return None
        self._arm_timer(stream)
        return stream, edit

    def _check_request(
        self, sid: int, fields: Sequence[Field], end: bool
    ) -> tuple[Edit, int | None, RequestRead] | None:
        """A request head's edit, announced content-length and reading; None when it is
        malformed (a stream error, never sent upstream: RFC 9113 §8.1.1). A repeated head
        (which the decoder returns as the same list) is read once."""
        known = self._heads.get(id(fields))
        if known is not None and known[0] is fields and known[1] == end:
            return known[2], known[3], known[4]
        try:
            edit = request_edit(self._ctx, fields)
            expected = check_request(fields, end)
        except (MalformedBlock, MalformedRequest) as exc:
            stream = new_stream(self._ctx, sid, RequestRead(fields), self._templates, self._peers)
            stream.req_end = end
            self._streams[sid] = stream
            self._malformed(stream, str(exc))
            return None
        read = RequestRead(fields)
        if len(self._heads) >= HEADS_KEPT:
            self._heads.clear()
        # The entry holds the list: its id is not reused while remembered.
        self._heads[id(fields)] = (fields, end, edit, expected, read)
        return edit, expected, read

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
