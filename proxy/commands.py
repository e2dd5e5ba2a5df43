"""Events in, commands out: the vocabulary between sans-IO layers and the asyncio module."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


class Side(Enum):
    """Which connection of a proxied pair a command or event concerns."""

    DOWNSTREAM = "downstream"  # the client that connected to the proxy
    UPSTREAM = "upstream"  # the server the proxy connected to

    # Members are singletons compared by identity: hash them by identity too, in C (Enum's own
    # __hash__ is Python code, run for every dict and set lookup keyed by a side).
    __hash__ = object.__hash__


# Events: what happened, in the past tense, fed into a layer.
#
# DataReceived, SendData and PublishRequestEvent (FinishRequestEvent for HTTP/1) are made for
# every read, write and request: they are slotted and not frozen (a frozen dataclass sets each
# field through object.__setattr__, twice the cost). Nobody changes them after construction all
# the same.


@dataclass(slots=True)
class DataReceived:
    side: Side
    data: bytes


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed (EOF) or the socket failed; reason is empty for a clean EOF."""

    side: Side
    reason: str = ""


@dataclass(frozen=True)
class ConnectionAccepted:
    """The first event of every layer: the downstream connection exists; arm timers here."""


@dataclass(frozen=True)
class UpstreamConnected:
    pass


@dataclass(frozen=True)
class UpstreamFailed:
    """Connecting upstream failed; kind is a ProxyError kind such as connect_refused."""

    kind: str
    message: str


@dataclass(frozen=True)
class DrainStarted:
    """The proxy is shutting down: finish what is in flight, close idle connections."""


@dataclass(frozen=True)
class TimerFired:
    name: str


Event = (
    ConnectionAccepted
    | DataReceived
    | ConnectionClosed
    | UpstreamConnected
    | UpstreamFailed
    | TimerFired
    | DrainStarted
)


# Commands: what the layer wants done, in the imperative, executed by the asyncio module.


@dataclass(slots=True)
class SendData:
    side: Side
    data: bytes


@dataclass(frozen=True)
class CloseConnection:
    """Close one side; half=True shuts down writing only (TCP half-close)."""

    side: Side
    half: bool = False


@dataclass(frozen=True)
class OpenUpstream:
    host: str
    port: int


@dataclass(frozen=True)
class PauseReading:
    """Stop reading from side until ResumeReading: backpressure for streamed bodies."""

    side: Side


@dataclass(frozen=True)
class ResumeReading:
    side: Side


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    """Forget the timer of that name if it is armed; StartTimer with a used name re-arms it."""

    name: str


@dataclass(frozen=True)
class Redetect:
    """Detect the protocol of the rest of the connection afresh, e.g. inside a CONNECT tunnel.

    The upstream must be closed (or never opened) by the layer emitting this; data is the
    downstream bytes already received after the switch point. Consumed by proxy.detect, never
    seen by the asyncio module.
    """

    host: str
    port: int
    data: bytes = b""


@dataclass(slots=True)
class PublishRequestEvent:
    """One finished request: handed to the event publisher, never awaited by traffic."""

    event: meshpipe_pb2.RequestEvent


class Finishable(Protocol):
    """A request's record (proxy.events.RequestRecord) that seals into its event."""

    def finish(self) -> PublishRequestEvent: ...


@dataclass(slots=True)
class FinishRequestEvent:
    """One request ended: seal its event (duration, classification, proxy_seq) and publish it
    once the data before it is written, so the sealing is off the response's path."""

    record: Finishable


@dataclass(frozen=True)
class Log:
    level: str
    message: str


Command = (
    SendData
    | CloseConnection
    | OpenUpstream
    | PauseReading
    | ResumeReading
    | StartTimer
    | CancelTimer
    | Redetect
    | PublishRequestEvent
    | FinishRequestEvent
    | Log
)
