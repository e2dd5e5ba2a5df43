"""The contract between the asyncio module and a sans-IO protocol layer, and what a layer knows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from meshpipe.proxy.commands import Command, Event
from meshpipe.proxy.events import SeqAllocator
from meshpipe.schemas.clock import Clock
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import WorkloadInstance


class Layer(Protocol):
    """A sans-IO protocol state machine for one downstream connection.

    The asyncio module (proxy.server) feeds it events in order, one at a time, and executes the
    returned commands in order. The first event is always ConnectionAccepted. handle must not
    raise: unexpected input is answered with protocol-level commands (an error response, a
    close); proxy.server still catches anything that escapes and closes the connection.
    After the layer closed both sides, further events may be ignored.
    """

    def handle(self, event: Event) -> list[Command]: ...


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Limits:
    """Protocol limits and time-outs shared by all layers of a listener."""

    max_header_bytes: int = 32 * 1024  # request/response head; larger requests get 431
    max_buffer_bytes: int = 256 * 1024  # queued bytes per direction before PauseReading
    detect_timeout_s: float = 10.0  # no decision by then: relay as opaque TCP
    response_timeout_s: float = 60.0  # request sent, no response head by then: 504


@dataclass(frozen=True)
class LayerContext:
    """Everything a layer knows about its connection; built once per accepted connection.

    target is where the upstream connection goes: the app for inbound, the original destination
    in transparent outbound mode, None in explicit outbound mode (the request names it: an
    absolute-form URL, a CONNECT authority, or an HTTP/2 :authority).
    """

    direction: meshpipe_pb2.Direction.ValueType
    local: WorkloadInstance  # this sidecar's workload and pod
    proxy_id: str
    downstream: Address  # the connecting client's address
    target: Address | None
    clock: Clock
    seq: SeqAllocator
    limits: Limits = field(default_factory=Limits)
    tls: bool = False

    def with_target(self, target: Address) -> LayerContext:
        """The same connection with its upstream decided (CONNECT, absolute-form)."""
        return LayerContext(
            direction=self.direction,
            local=self.local,
            proxy_id=self.proxy_id,
            downstream=self.downstream,
            target=target,
            clock=self.clock,
            seq=self.seq,
            limits=self.limits,
            tls=self.tls,
        )
