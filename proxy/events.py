"""Building the one RequestEvent per request that every protocol layer publishes."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from meshpipe.proxy.commands import PublishRequestEvent
from meshpipe.schemas.classify import apply_classification
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import IdentityError, WorkloadInstance

if TYPE_CHECKING:
    from meshpipe.proxy.layer import LayerContext

SRC_HEADER = "meshpipe-src"  # added by outbound to requests, read and stripped by inbound
DST_HEADER = "meshpipe-dst"  # added by inbound to responses, read and stripped by outbound
IDENTITY_HEADERS = frozenset({SRC_HEADER.encode(), DST_HEADER.encode()})  # as on the wire

# Request headers copied into the event for `meshtap -o json`; values of the sensitive ones are
# replaced. Everything else is left out.
ALLOWED_HEADERS = frozenset({"user-agent", "content-type", "x-request-id", "authorization"})
REDACTED_HEADERS = frozenset({"authorization"})

ID_BYTES = 16
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


class SeqAllocator:
    """The per-process proxy_seq: 1, 2, 3, ... handed out only when an event is finished; and
    the events' random ids, read from the OS 256 at a time instead of one syscall per event."""

    def __init__(self) -> None:
        self._last = 0
        self._ids = b""
        self._id_at = 0

    def new_id(self) -> bytes:
        """16 random bytes (os.urandom) for one event's id."""
        at = self._id_at
        if at >= len(self._ids):
            self._ids, at = os.urandom(ID_BYTES * 256), 0
        self._id_at = at + ID_BYTES
        return self._ids[at : at + ID_BYTES]

    def next(self) -> int:
        self._last += 1
        return self._last

    @property
    def issued(self) -> int:
        """How many sequence numbers were handed out so far."""
        return self._last


class PeerIdentities:
    """The identity header value a connection's requests last carried, parsed once.

    A connection's requests come from one peer, so they repeat one value; parsing and checking
    it (4-5 us) cost more than the rest of the event. A different value is parsed afresh.
    """

    __slots__ = ("_identity", "_value")

    def __init__(self) -> None:
        self._value: str | None = None
        self._identity: WorkloadInstance | None = None

    def parse(self, header_value: str) -> WorkloadInstance | None:
        """The pod the header names, None when it is malformed."""
        if header_value != self._value:
            try:
                identity: WorkloadInstance | None = WorkloadInstance.parse(header_value)
            except IdentityError:
                identity = None
            self._value, self._identity = header_value, identity
        return self._identity


class RequestRecord:
    """One request's facts as a layer learns them; finish() makes the event to publish."""

    def __init__(
        self,
        ctx: LayerContext,
        protocol: meshpipe_pb2.Protocol.ValueType,
        template: meshpipe_pb2.RequestEvent | None = None,
        peers: PeerIdentities | None = None,
    ) -> None:
        """template: event_template(ctx, protocol), when the layer keeps one per connection;
        peers: the connection's PeerIdentities, when it keeps one."""
        self._ctx = ctx
        self._peers = peers
        self._start = ctx.clock.monotonic()
        self._finished = False
        if template is None:
            ev = event_template(ctx, protocol)
        else:
            ev = meshpipe_pb2.RequestEvent()
            ev.CopyFrom(template)
        ev.id = ctx.seq.new_id()
        now = ctx.clock.time()
        start, seconds = ev.start, int(now)
        start.seconds, start.nanos = seconds, int((now - seconds) * 1_000_000_000)
        self.event = ev

    def set_target(self, host: str, port: int) -> None:
        """The upstream address, once a request named it (explicit outbound mode)."""
        self.event.destination.ip, self.event.destination.port = host, port

    @property
    def finished(self) -> bool:
        return self._finished

    def request_head(
        self,
        method: str,
        scheme: str,
        authority: str,
        path: str,
        headers: Iterable[tuple[str, str]],
    ) -> None:
        """Record the request line and the headers the event keeps (lower-case names)."""
        ev = self.event
        ev.method, ev.scheme, ev.authority, ev.path = method, scheme, authority, path
        if ev.direction == meshpipe_pb2.OUTBOUND:
            ev.destination.authority = authority
        for name, value in headers:
            if name == "traceparent":
                match = _TRACEPARENT.match(value.strip().lower())
                ev.trace_id = match.group(1) if match else ""
            elif name == SRC_HEADER and ev.direction == meshpipe_pb2.INBOUND:
                self.peer_identity(value)
            elif name in ALLOWED_HEADERS:
                shown = "REDACTED" if name in REDACTED_HEADERS else value
                ev.request_headers.add(name=name, value=shown)

    def peer_identity(self, header_value: str) -> None:
        """Apply the other sidecar's identity header (src on inbound, dst on outbound)."""
        peers = self._peers if self._peers is not None else PeerIdentities()
        identity = peers.parse(header_value)
        if identity is None:
            return  # a malformed header names nobody: keep the peer as unmeshed
        inbound = self.event.direction == meshpipe_pb2.INBOUND
        fill_identity(self.event.source if inbound else self.event.destination, identity)

    def response_head(self, status: int) -> None:
        """The response head arrived (or was generated): latency is measured here."""
        self.event.http_status = status
        self.event.latency_us = self._elapsed_us()

    def first_byte(self) -> None:
        """Latency for protocols without a response head (opaque TCP: upstream connected)."""
        self.event.latency_us = self._elapsed_us()

    def add_request_bytes(self, n: int) -> None:
        self.event.request_bytes += n

    def add_response_bytes(self, n: int) -> None:
        self.event.response_bytes += n

    def add_trailer_fields_dropped(self, n: int) -> None:
        self.event.trailer_fields_dropped += n

    def grpc_status(self, code: int) -> None:
        self.event.grpc_status = code

    def reset(self, code: int) -> None:
        self.event.reset_code = code

    def error(self, kind: str, message: str) -> None:
        self.event.error.CopyFrom(meshpipe_pb2.ProxyError(kind=kind, message=message))

    def finish(self) -> PublishRequestEvent:
        """Seal the event: sequence number, duration and classification; call exactly once."""
        if self._finished:
            raise RuntimeError("request event finished twice")
        self._finished = True
        ev = self.event
        ev.duration_us = self._elapsed_us()
        apply_classification(ev)
        ev.proxy_seq = self._ctx.seq.next()
        return PublishRequestEvent(event=ev)

    def _elapsed_us(self) -> int:
        return max(0, round((self._ctx.clock.monotonic() - self._start) * 1_000_000))


def event_template(
    ctx: LayerContext, protocol: meshpipe_pb2.Protocol.ValueType
) -> meshpipe_pb2.RequestEvent:
    """What every event of a connection starts with: proxy, direction, protocol, endpoints.
    Copying it (C) is cheaper than filling each event's fields again."""
    ev = meshpipe_pb2.RequestEvent(
        proxy_id=ctx.proxy_id, direction=ctx.direction, protocol=protocol, tls=ctx.tls
    )
    fill_endpoints(ev, ctx)
    return ev


def fill_endpoints(event: meshpipe_pb2.RequestEvent, ctx: LayerContext) -> None:
    """Source and destination as the connection shows them before a request names the peer."""
    down = meshpipe_pb2.Workload(ip=ctx.downstream.host, port=ctx.downstream.port)
    up = meshpipe_pb2.Workload()
    if ctx.target is not None:
        up.ip, up.port = ctx.target.host, ctx.target.port
    if ctx.direction == meshpipe_pb2.INBOUND:
        fill_identity(up, ctx.local)
    else:
        fill_identity(down, ctx.local)
        down.port = 0  # the app's ephemeral port says nothing about the workload
    event.source.CopyFrom(down)
    event.destination.CopyFrom(up)


def fill_identity(workload: meshpipe_pb2.Workload, identity: WorkloadInstance) -> None:
    """Mark workload as that meshed pod, keeping what it already knows (ip, port, authority)."""
    workload.namespace = identity.workload.namespace
    workload.kind = identity.workload.kind
    workload.name = identity.workload.name
    workload.pod = identity.pod
    workload.meshed = True
