"""The sans-IO opaque TCP relay: bytes both ways, half-closes, one connection-level event."""

from __future__ import annotations

from meshpipe.proxy.commands import (
    CloseConnection,
    Command,
    ConnectionAccepted,
    ConnectionClosed,
    DataReceived,
    Event,
    OpenUpstream,
    PauseReading,
    ResumeReading,
    SendData,
    Side,
    UpstreamConnected,
    UpstreamFailed,
)
from meshpipe.proxy.events import RequestRecord
from meshpipe.proxy.layer import LayerContext
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


class TcpRelay:
    """Relays one connection to ctx.target; the event is published when both sides are closed."""

    def __init__(self, ctx: LayerContext) -> None:
        self._ctx = ctx
        self._record = RequestRecord(ctx, meshpipe_pb2.OPAQUE_TCP)
        if ctx.target is not None:
            self._record.event.authority = str(ctx.target)
        self._state = "new"  # new, connecting, open, done
        self._pending = bytearray()
        self._paused = False
        self._closed: set[Side] = set()

    def handle(self, event: Event) -> list[Command]:
        if self._state == "done":
            return []
        if isinstance(event, ConnectionAccepted):
            return self._open()
        if isinstance(event, DataReceived):
            return self._data(event.side, event.data)
        if isinstance(event, UpstreamConnected):
            return self._connected()
        if isinstance(event, UpstreamFailed):
            return self._finish(event.kind, event.message)
        if isinstance(event, ConnectionClosed):
            return self._side_closed(event.side, event.reason)
        return []

    def _open(self) -> list[Command]:
        if self._state != "new":
            return []
        target = self._ctx.target
        if target is None:
            return self._finish("no_target", "opaque connection without a known destination")
        self._state = "connecting"
        return [OpenUpstream(target.host, target.port)]

    def _data(self, side: Side, data: bytes) -> list[Command]:
        if side == Side.UPSTREAM:
            self._record.add_response_bytes(len(data))
            return [SendData(Side.DOWNSTREAM, data)]
        self._record.add_request_bytes(len(data))
        if self._state == "open":
            return [SendData(Side.UPSTREAM, data)]
        self._pending += data
        if len(self._pending) > self._ctx.limits.max_buffer_bytes and not self._paused:
            self._paused = True
            return [PauseReading(Side.DOWNSTREAM)]
        return []

    def _connected(self) -> list[Command]:
        if self._state != "connecting":
            return []
        self._state = "open"
        self._record.first_byte()
        cmds: list[Command] = []
        if self._pending:
            cmds.append(SendData(Side.UPSTREAM, bytes(self._pending)))
            self._pending.clear()
        if Side.DOWNSTREAM in self._closed:
            cmds.append(CloseConnection(Side.UPSTREAM, half=True))
        if self._paused:
            self._paused = False
            cmds.append(ResumeReading(Side.DOWNSTREAM))
        return cmds

    def _side_closed(self, side: Side, reason: str) -> list[Command]:
        self._closed.add(side)
        if reason and side == Side.UPSTREAM:
            return self._finish("upstream_reset", reason)
        if reason:
            return self._finish("", "")
        other = Side.UPSTREAM if side == Side.DOWNSTREAM else Side.DOWNSTREAM
        if other in self._closed:
            return self._finish("", "")
        if other == Side.UPSTREAM and self._state != "open":
            return []  # the half-close is passed on once connected
        return [CloseConnection(other, half=True)]

    def _finish(self, kind: str, message: str) -> list[Command]:
        """Publish the connection's event and close whatever is still open."""
        if kind:
            self._record.error(kind, message)
        cmds: list[Command] = [self._record.finish(), CloseConnection(Side.DOWNSTREAM)]
        if self._state in ("connecting", "open"):
            cmds.append(CloseConnection(Side.UPSTREAM))
        self._state = "done"
        return cmds
