"""Helpers for protocol-trace tests of sans-IO proxy layers: a fake clock, contexts, a driver."""

from __future__ import annotations

from dataclasses import dataclass

from meshpipe.proxy.commands import (
    Command,
    ConnectionAccepted,
    ConnectionClosed,
    DataReceived,
    Event,
    FinishRequestEvent,
    PublishRequestEvent,
    SendData,
    Side,
    UpstreamConnected,
)
from meshpipe.proxy.events import SeqAllocator
from meshpipe.proxy.layer import Address, Layer, LayerContext, Limits
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import WorkloadId, WorkloadInstance

APP = Address("127.0.0.1", 8080)
CLIENT = Address("10.0.0.7", 51000)
LOCAL = WorkloadInstance(WorkloadId("emojivoto", "deployment", "web"), "web-5d8f-abcde")


@dataclass
class FakeClock:
    now: float = 1000.0
    epoch: float = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def context(
    direction: meshpipe_pb2.Direction.ValueType = meshpipe_pb2.INBOUND,
    target: Address | None = APP,
    limits: Limits | None = None,
    clock: FakeClock | None = None,
) -> LayerContext:
    return LayerContext(
        direction=direction,
        local=LOCAL,
        proxy_id="proxy-1",
        downstream=CLIENT,
        target=target,
        clock=clock or FakeClock(),
        seq=SeqAllocator(),
        limits=limits or Limits(),
    )


def _sealed(command: Command) -> Command:
    return command.record.finish() if isinstance(command, FinishRequestEvent) else command


class Trace:
    """Feeds events to a layer and keeps every command it returned."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.commands: list[Command] = []
        self.feed(ConnectionAccepted())

    def feed(self, event: Event) -> list[Command]:
        out = self.layer.handle(event)
        # As the server does once the step's data is written: each ended request's event sealed.
        self.commands += [_sealed(c) for c in out]
        return out

    def down(self, data: bytes) -> list[Command]:
        return self.feed(DataReceived(Side.DOWNSTREAM, data))

    def up(self, data: bytes) -> list[Command]:
        return self.feed(DataReceived(Side.UPSTREAM, data))

    def connected(self) -> list[Command]:
        return self.feed(UpstreamConnected())

    def closed(self, side: Side, reason: str = "") -> list[Command]:
        return self.feed(ConnectionClosed(side, reason))

    def sent(self, side: Side) -> bytes:
        return b"".join(c.data for c in self.commands if isinstance(c, SendData) and c.side == side)

    def events(self) -> list[meshpipe_pb2.RequestEvent]:
        return [c.event for c in self.commands if isinstance(c, PublishRequestEvent)]

    def of(self, kind: type) -> list[Command]:
        return [c for c in self.commands if isinstance(c, kind)]
