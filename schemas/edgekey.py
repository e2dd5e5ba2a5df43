"""The Kafka key of a RequestEvent: its edge (direction, source, destination) as stable bytes.

Format (UTF-8): `DIRECTION|SOURCE|DESTINATION`, e.g. `in|emojivoto/deployment/web|emojivoto/
deployment/emoji`. DIRECTION is `in`, `out` or `unknown`. A peer with a workload identity is
`ns/kind/name` (pods are not part of the edge). An unmeshed peer is the text of an
`UnmeshedPeer` reduced to what is stable across the events of one edge: its authority when
known, else its ip, plus the port only for the destination (a client's port is ephemeral).
Neither form contains '|', so the key splits unambiguously.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import (
    IdentityError,
    Peer,
    UnmeshedPeer,
    WorkloadId,
    parse_peer,
    peer_of,
)

_SEP = "|"
_DIRECTION_TOKENS: dict[meshpipe_pb2.Direction.ValueType, str] = {
    meshpipe_pb2.DIRECTION_UNKNOWN: "unknown",
    meshpipe_pb2.INBOUND: "in",
    meshpipe_pb2.OUTBOUND: "out",
}
_TOKEN_DIRECTIONS = {token: direction for direction, token in _DIRECTION_TOKENS.items()}


class EdgeKeyError(ValueError):
    """Bytes that are not an edge key."""


@dataclass(frozen=True, slots=True)
class Edge:
    """One edge of the traffic graph, as its Kafka key describes it."""

    direction: meshpipe_pb2.Direction.ValueType
    source: Peer
    destination: Peer

    def __str__(self) -> str:
        return _SEP.join(
            (_direction_token(self.direction), str(self.source), str(self.destination))
        )

    def to_key(self) -> bytes:
        """The Kafka key bytes of this edge."""
        return str(self).encode()


def _direction_token(direction: meshpipe_pb2.Direction.ValueType) -> str:
    # Unknown enum numbers from a newer producer share the key space of "unknown".
    return _DIRECTION_TOKENS.get(direction, "unknown")


def _stable_peer(msg: meshpipe_pb2.Workload, *, keep_port: bool) -> Peer:
    peer = peer_of(msg)
    if isinstance(peer, WorkloadId):
        return peer
    if peer.authority:
        return UnmeshedPeer(authority=peer.authority)
    return UnmeshedPeer(ip=peer.ip, port=peer.port if keep_port and peer.ip else 0)


def edge_of(event: meshpipe_pb2.RequestEvent) -> Edge:
    """The edge an event belongs to; raises IdentityError for a malformed workload identity."""
    return Edge(
        direction=event.direction,
        source=_stable_peer(event.source, keep_port=False),
        destination=_stable_peer(event.destination, keep_port=True),
    )


def edge_key(event: meshpipe_pb2.RequestEvent) -> bytes:
    """The Kafka key of an event: equal for all events of one edge."""
    return edge_of(event).to_key()


def _peer_fields(workload: meshpipe_pb2.Workload) -> tuple[object, ...]:
    """What `identity.peer_of` reads of a Workload (so what its part of the edge comes from)."""
    if workload.namespace or workload.kind or workload.name:
        return (workload.namespace, workload.kind, workload.name)
    return (workload.ip, workload.port, workload.authority, None)


class EdgeKeys:
    """`edge_key` remembered by the identity fields an edge depends on: a proxy's events name few
    edges, so each is parsed once instead of once per event. Cleared when full."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max_entries = max_entries
        self._keys: dict[tuple[object, ...], bytes] = {}

    def __call__(self, event: meshpipe_pb2.RequestEvent) -> bytes:
        fields = (event.direction, _peer_fields(event.source), _peer_fields(event.destination))
        key = self._keys.get(fields)
        if key is None:
            key = edge_key(event)  # raises IdentityError as edge_key does; nothing is remembered
            if len(self._keys) >= self._max_entries:
                self._keys.clear()
            self._keys[fields] = key
        return key


def parse_edge_key(key: bytes) -> Edge:
    """The edge a key was made from (for display and debugging)."""
    try:
        text = key.decode()
    except UnicodeDecodeError as exc:
        raise EdgeKeyError(f"edge key is not UTF-8: {key!r}") from exc
    parts = text.split(_SEP)
    if len(parts) != 3 or parts[0] not in _TOKEN_DIRECTIONS:
        raise EdgeKeyError(f"invalid edge key {text!r}: want DIRECTION|SOURCE|DESTINATION")
    try:
        return Edge(_TOKEN_DIRECTIONS[parts[0]], parse_peer(parts[1]), parse_peer(parts[2]))
    except IdentityError as err:  # one name per type (mypyc)
        raise EdgeKeyError(f"invalid edge key {text!r}: {err}") from err
