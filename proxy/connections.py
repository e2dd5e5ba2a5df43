"""Open connections per edge as connections come, learn their peer and go, and their reports.

Sans-IO: proxy.server calls `opened` when it accepts a connection, `requested` with every
request event the connection publishes, `closed` when it is gone, and `report` on its timer;
`report` returns the connection reports to publish (RequestEvents with `connections` set, keyed
like the edge's requests). A connection counts on the edge its addresses show until a request
names the peer, then on the edge of its latest request. An edge is reported while it has
connections and IDLE_REPORTS times more, so readers see 0 rather than nothing for an edge that
was busy a minute ago; then it is forgotten, which keeps memory to the edges in use.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from meshpipe.proxy.events import fill_endpoints
from meshpipe.proxy.layer import LayerContext
from meshpipe.schemas.edgekey import Edge, edge_of
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import (
    IdentityError,
    Peer,
    WorkloadId,
    WorkloadInstance,
    to_workload,
    unmeshed_workload,
)

IDLE_REPORTS = 6  # reports of an edge without connections or changes before it is forgotten


@dataclass(slots=True)
class _Conn:
    edge: Edge
    last: meshpipe_pb2.RequestEvent  # the event its edge comes from: compared, not re-parsed


@dataclass(slots=True)
class _Gauge:
    open: int = 0
    opened: int = 0  # since the last report
    closed: int = 0  # since the last report
    idle: int = 0  # reports in a row with nothing open and nothing opened or closed

    @property
    def quiet(self) -> bool:
        return not (self.open or self.opened or self.closed)


class ConnectionGauges:
    """Which edge each open connection of one proxy counts on, and the counts per edge."""

    def __init__(self, proxy_id: str, local: WorkloadInstance) -> None:
        self._proxy_id = proxy_id
        self._local = local
        self._conns: dict[Hashable, _Conn] = {}
        self._gauges: dict[Edge, _Gauge] = {}

    def open_on(self, edge: Edge) -> int:
        """Connections counted on edge now."""
        gauge = self._gauges.get(edge)
        return 0 if gauge is None else gauge.open

    def opened(self, conn: Hashable, ctx: LayerContext) -> None:
        """A connection was accepted; ctx says its direction and addresses."""
        event = meshpipe_pb2.RequestEvent(direction=ctx.direction)
        fill_endpoints(event, ctx)
        edge = edge_of(event)  # the proxy's own identity and plain addresses: always valid
        self._conns[conn] = _Conn(edge, event)
        gauge = self._gauge(edge)
        gauge.open += 1
        gauge.opened += 1

    def requested(self, conn: Hashable, event: meshpipe_pb2.RequestEvent) -> None:
        """conn published event: it counts on that request's edge from now on."""
        found = self._conns.get(conn)
        if found is None or (
            event.source == found.last.source and event.destination == found.last.destination
        ):
            return  # the common case, a connection's next request: no edge to compute
        try:
            edge = edge_of(event)
        except IdentityError:
            return  # a malformed identity names no edge: keep the one it has
        found.last = event
        if edge != found.edge:
            self._gauge(found.edge).open -= 1
            self._gauge(edge).open += 1
            found.edge = edge

    def closed(self, conn: Hashable) -> None:
        """conn is gone (both sides closed, or aborted)."""
        found = self._conns.pop(conn, None)
        if found is not None:
            gauge = self._gauge(found.edge)
            gauge.open -= 1
            gauge.closed += 1

    def report(self, now_s: float) -> list[meshpipe_pb2.RequestEvent]:
        """One report per edge still reported, as of now_s (Unix seconds); counts start over."""
        reports = []
        for edge, gauge in list(self._gauges.items()):
            gauge.idle = gauge.idle + 1 if gauge.quiet else 0
            if gauge.idle > IDLE_REPORTS:
                del self._gauges[edge]
                continue
            reports.append(self._report(edge, gauge, now_s))
            gauge.opened = gauge.closed = 0
        return reports

    def _gauge(self, edge: Edge) -> _Gauge:
        gauge = self._gauges.get(edge)
        if gauge is None:
            gauge = self._gauges[edge] = _Gauge()
        return gauge

    def _report(self, edge: Edge, gauge: _Gauge, now_s: float) -> meshpipe_pb2.RequestEvent:
        event = meshpipe_pb2.RequestEvent(proxy_id=self._proxy_id, direction=edge.direction)
        event.start.FromNanoseconds(int(now_s * 1_000_000_000))
        own = to_workload(self._local)
        if edge.direction == meshpipe_pb2.INBOUND:
            event.source.CopyFrom(_peer_workload(edge.source))
            event.destination.CopyFrom(own)
        else:
            event.source.CopyFrom(own)
            event.destination.CopyFrom(_peer_workload(edge.destination))
        event.connections.open = gauge.open
        event.connections.opened = gauge.opened
        event.connections.closed = gauge.closed
        return event


def _peer_workload(peer: Peer) -> meshpipe_pb2.Workload:
    """The peer side of a report: only what the edge keeps (no pod, no client port)."""
    if isinstance(peer, WorkloadId):
        return to_workload(WorkloadInstance(peer, ""))
    return unmeshed_workload(peer)
