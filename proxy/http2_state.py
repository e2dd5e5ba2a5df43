"""The state of one HTTP/2 frame relay connection and its way out: what each peer sent and is
sent, the commands a step produces, and the GOAWAY and closing of a connection left to drain.

The relay is one class built in layers, each module one responsibility: this state (and the
output) at the bottom, then the ends of streams (`http2_stream_ends`), the ends of connections
(`http2_connection`) and the frame routing on top (`http2`); each layer calls only what is below.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from enum import Enum

from meshpipe.proxy import h2_frames as fr
from meshpipe.proxy.commands import (
    CloseConnection,
    Command,
    Log,
    PauseReading,
    SendData,
    Side,
    StartTimer,
)
from meshpipe.proxy.events import PeerIdentities
from meshpipe.proxy.h2_frames import Frame
from meshpipe.proxy.h2_hpack import BlockRelay
from meshpipe.proxy.hpack_decode import Field
from meshpipe.proxy.http2_streams import CheckedFields, Edit, RequestRead, Stream
from meshpipe.proxy.layer import LayerContext
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

CLOSE_TIMER = "h2-close"
RESPONSE_TIMER = "h2-response"
CLOSE_GRACE_S = 1.0  # after our GOAWAY, time the client gets to close first (avoids TCP RST)
MAX_HEADER_LIST_SIZE = 65_536  # decoded size of one header block (hpack's default)
MAX_BLOCK_BYTES = 256 * 1024  # one header block as received, HEADERS and CONTINUATIONs
DROPPED_KEPT = 1024  # ids of streams the proxy ended whose late frames it swallows
HEADS_KEPT = 64  # request heads remembered with what they say (see H2Relay._check_request)
DOWN, UP = Side.DOWNSTREAM, Side.UPSTREAM


class Upstream(Enum):
    """Where the upstream connection stands."""

    IDLE = "idle"  # not asked for yet (explicit outbound: waits for the first :authority)
    CONNECTING = "connecting"
    CONNECTED = "connected"
    GONE = "gone"  # failed or closed: nothing goes there any more


class Partial:
    """A header block still waiting for its CONTINUATION frames."""

    __slots__ = ("end_stream", "fragments", "priority", "sid", "size")

    def __init__(self, sid: int, end_stream: bool, priority: bytes, fragment: bytes) -> None:
        self.sid, self.end_stream, self.priority = sid, end_stream, priority
        self.fragments = [fragment]
        self.size = len(fragment)


class Peer:
    """One side as the relay sees it: the frames and header blocks it sends, the bytes waiting
    to go to it."""

    __slots__ = ("blocks", "outbox", "partial", "reader", "side")

    def __init__(self, side: Side, reader: fr.FrameReader) -> None:
        self.side = side
        self.reader = reader
        self.blocks = BlockRelay(MAX_HEADER_LIST_SIZE)
        self.partial: Partial | None = None  # a header block waiting for CONTINUATION
        self.outbox: list[bytes] = []


class RelayState:
    """The relay's connection-wide state; commands collected in a step and flushed in order."""

    def __init__(self, ctx: LayerContext) -> None:
        self._ctx = ctx
        self._down = Peer(DOWN, fr.FrameReader(expect_preface=True))
        self._up = Peer(UP, fr.FrameReader(expect_preface=False))
        self._streams: dict[int, Stream] = {}
        # By id of a decoded field list (the decoder returns the same list for a repeated
        # block): (fields, END_STREAM, edit, content-length, what the fields say).
        self._heads: dict[int, tuple[Sequence[Field], bool, Edit, int | None, RequestRead]] = {}
        self._checked = CheckedFields()  # response heads and trailers, likewise
        self._templates: dict[int, meshpipe_pb2.RequestEvent] = {}  # per protocol
        self._peers = PeerIdentities()  # the other sidecar's identity header, parsed once
        self._timer_at: float | None = None  # when the armed response timer fires (monotonic)
        self._dropped: set[int] = set()  # streams the proxy ended: late frames swallowed
        self._dropped_order: deque[int] = deque()
        self._pending: list[bytes] = []  # for the upstream, until it is connected
        self._pending_size = 0
        self._pending_settings = 0  # client SETTINGS among them (acknowledged by us if it fails)
        self._paused = False
        self._out: list[Command] = []
        self._upstream = Upstream.IDLE
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

    def _give_back(self, side: Side, swallowed: Frame) -> None:
        """DATA the relay swallowed: its sender gets the connection window back."""
        if swallowed.size:
            self._to(side, fr.window_update(0, swallowed.size))

    def _to(self, side: Side, data: bytes) -> None:
        if side is DOWN:
            self._down.outbox.append(data)
        elif self._upstream is Upstream.CONNECTED:
            self._up.outbox.append(data)
        elif self._upstream is not Upstream.GONE:
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

    def _remember_dropped(self, sid: int) -> None:
        self._dropped.add(sid)
        self._dropped_order.append(sid)
        if len(self._dropped_order) > DROPPED_KEPT:  # frames in flight come within a round trip
            self._dropped.discard(self._dropped_order.popleft())

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
        self._upstream = Upstream.GONE
        self._pending.clear()
        self._pending_size = 0

    def _log(self, level: str, message: str) -> None:
        self._out.append(Log(level, message))
