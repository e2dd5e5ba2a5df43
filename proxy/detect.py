"""Protocol detection from the first bytes of a connection, and the layer that switches on it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import Enum

from meshpipe.proxy.commands import (
    CancelTimer,
    CloseConnection,
    Command,
    ConnectionAccepted,
    ConnectionClosed,
    DataReceived,
    DrainStarted,
    Event,
    Redetect,
    Side,
    StartTimer,
    TimerFired,
)
from meshpipe.proxy.layer import Address, Layer, LayerContext

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DETECT_TIMER = "detect"
MAX_PEEK = 8192  # an HTTP/1 request line longer than this is treated as opaque

# A complete first line that opens with a method token and closes with an HTTP/1 version is
# HTTP, well-formed or not: the HTTP/1 layer answers a malformed one (`GET  /a  HTTP/1.1`) with
# 400 and an event instead of it reaching the app as opaque bytes.
_REQUEST_LINE = re.compile(
    rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t](?:[^\r\n]*[ \t])?HTTP/1\.[01][ \t]*\r?\n"
)
_REQUEST_PREFIX = re.compile(
    rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}( [^ \r\n]*( [HTP/1.01]{0,8})?)?$"
)


class Detected(Enum):
    HTTP2 = "http2"
    HTTP1 = "http1"
    OPAQUE = "opaque"


def detect(data: bytes, final: bool) -> Detected | None:
    """The protocol the first bytes show, or None while they could still be either.

    final: no more bytes will come before deciding (EOF or time-out): undecided means opaque.
    """
    if data.startswith(H2_PREFACE):
        return Detected.HTTP2
    if _REQUEST_LINE.fullmatch(_first_line(data)):
        return Detected.HTTP1
    undecided = H2_PREFACE.startswith(data) or (
        len(data) < MAX_PEEK and bool(_REQUEST_PREFIX.match(data))
    )
    return None if undecided and not final else Detected.OPAQUE


def _first_line(data: bytes) -> bytes:
    """The first line with its line feed, or b"" while it is incomplete."""
    end = data.find(b"\n")
    return data[: end + 1] if end >= 0 else b""


LayerFactory = Callable[[LayerContext], Layer]


class DetectLayer:
    """Buffers the first bytes, picks the protocol layer, then delegates everything to it.

    It also serves Redetect from its child (CONNECT tunnels): detection starts over for the
    rest of the connection with the tunnel's destination as target.
    """

    def __init__(self, ctx: LayerContext, factories: Mapping[Detected, LayerFactory]) -> None:
        self._ctx = ctx
        self._factories = factories
        self._child: Layer | None = None
        self._buffer = bytearray()
        self._draining = False

    def handle(self, event: Event) -> list[Command]:
        child = self._child
        if child is not None:  # decided: every later event of the connection goes this way
            commands = child.handle(event)
            for command in commands:
                if command.__class__ is Redetect:
                    return self._from_child(commands)
            return commands
        if isinstance(event, ConnectionAccepted):
            return [StartTimer(DETECT_TIMER, self._ctx.limits.detect_timeout_s)]
        if isinstance(event, DataReceived) and event.side == Side.DOWNSTREAM:
            self._buffer += event.data
            return self._decide(final=False)
        if isinstance(event, TimerFired) and event.name == DETECT_TIMER:
            return self._decide(final=True)
        if isinstance(event, DrainStarted):
            self._draining = True
            if not self._buffer:
                return [CancelTimer(DETECT_TIMER), CloseConnection(Side.DOWNSTREAM)]
        if isinstance(event, ConnectionClosed) and event.side == Side.DOWNSTREAM:
            if not self._buffer:
                return [CancelTimer(DETECT_TIMER), CloseConnection(Side.DOWNSTREAM)]
            cmds = self._decide(final=True)
            return cmds + self.handle(event)
        return []

    def _decide(self, final: bool) -> list[Command]:
        detected = detect(bytes(self._buffer), final)
        if detected is None:
            return []
        child = self._factories[detected](self._ctx)
        self._child = child
        data = bytes(self._buffer)
        self._buffer.clear()
        cmds: list[Command] = [CancelTimer(DETECT_TIMER)]
        cmds += self._from_child(child.handle(ConnectionAccepted()))
        if self._child is child:
            cmds += self._from_child(child.handle(DataReceived(Side.DOWNSTREAM, data)))
        if self._draining and self._child is child:
            cmds += self._from_child(child.handle(DrainStarted()))
        return cmds

    def _from_child(self, commands: list[Command]) -> list[Command]:
        """Pass the child's commands on, serving a Redetect by starting detection over."""
        for i, command in enumerate(commands):
            if isinstance(command, Redetect):
                self._ctx = self._ctx.with_target(Address(command.host, command.port))
                self._child = None
                self._buffer = bytearray(command.data)
                cmds = [*commands[:i], StartTimer(DETECT_TIMER, self._ctx.limits.detect_timeout_s)]
                return cmds + (self._decide(final=False) if self._buffer else [])
        return commands


def connection_layer(ctx: LayerContext) -> Layer:
    """The layer stack every accepted connection starts with: detection, then the protocol."""
    from meshpipe.proxy.http1 import Http1Relay
    from meshpipe.proxy.http2 import H2Relay
    from meshpipe.proxy.tcp import TcpRelay

    return DetectLayer(
        ctx, {Detected.HTTP2: H2Relay, Detected.HTTP1: Http1Relay, Detected.OPAQUE: TcpRelay}
    )
