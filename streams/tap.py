"""Active tap sessions: matching events at request-start fields, enforcing each session's max rps.

Direction follows Linkerd's tap: tapping a resource R shows the requests R's proxies see, that is
outbound events whose source is R and inbound events whose destination is R. With a `to`
resource T only R's outbound events towards T match. A `service` resource matches by the
request's authority (its first DNS label), since events name workloads, not services.

A session's `max_rps` is shared by the workers: each may pass `max(1, max_rps * owned // total)`
matches per wall-clock second, where owned/total is its share of the request partitions.
`max_rps = 0` means no limit. A session without an expiry or past it matches nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.resources import ResourceError, canonical_kind

Clock = Callable[[], float]  # Unix seconds
NANOS = 1_000_000_000


class InvalidSessionError(ValueError):
    """A tap-session record that cannot be understood."""


def _has_ref(ref: meshpipe_pb2.ResourceRef) -> bool:
    return bool(ref.namespace or ref.kind or ref.name)


def _service_name(authority: str) -> str:
    host = authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
    return host.split(".", 1)[0]


def resource_matches(
    ref: meshpipe_pb2.ResourceRef, workload: meshpipe_pb2.Workload, authority: str = ""
) -> bool:
    """Whether a workload (called by `authority`, if a destination) is in the selection."""
    kind = canonical_kind(ref.kind) if ref.kind else ""
    if kind == "namespace":
        return bool(workload.namespace) and ref.name in ("", workload.namespace)
    if ref.namespace and ref.namespace != workload.namespace:
        return False
    if kind in ("", "all"):
        return True
    if kind == "service":
        service = _service_name(authority)
        return bool(service) and ref.name in ("", service)
    if kind == "pod":
        return bool(workload.pod) and ref.name in ("", workload.pod)
    return workload.kind == kind and ref.name in ("", workload.name)


def _side_matches(tap: meshpipe_pb2.TapFilter, event: meshpipe_pb2.RequestEvent) -> bool:
    outbound = event.direction == meshpipe_pb2.OUTBOUND
    if _has_ref(tap.to):
        return (
            outbound
            and resource_matches(tap.resource, event.source)
            and resource_matches(tap.to, event.destination, event.authority)
        )
    if outbound:
        return resource_matches(tap.resource, event.source)
    return event.direction == meshpipe_pb2.INBOUND and resource_matches(
        tap.resource, event.destination, event.authority
    )


def filter_matches(tap: meshpipe_pb2.TapFilter, event: meshpipe_pb2.RequestEvent) -> bool:
    """Whether an event matches a filter at its request-start fields."""
    if tap.method and tap.method.upper() != event.method.upper():
        return False
    if tap.path_prefix and not event.path.startswith(tap.path_prefix):
        return False
    if tap.authority and tap.authority.lower() != event.authority.lower():
        return False
    if tap.scheme and tap.scheme.lower() != event.scheme.lower():
        return False
    return _side_matches(tap, event)


@dataclass(slots=True)
class _Active:
    session: meshpipe_pb2.TapSession
    expires_s: float
    second: int = -1
    sent: int = 0


def parse_session(key: bytes | None, value: bytes) -> meshpipe_pb2.TapSession:
    """Decode a tap-session record; the record key, when present, is the session id."""
    session = meshpipe_pb2.TapSession()
    try:
        session.ParseFromString(value)
    except DecodeError as exc:
        raise InvalidSessionError(f"undecodable tap session: {exc}") from exc
    if key:
        session.id = key.decode(errors="replace")
    if not session.id:
        raise InvalidSessionError("tap session without id")
    try:
        for ref in (session.filter.resource, session.filter.to):
            if ref.kind:
                canonical_kind(ref.kind)
    except ResourceError as exc:
        raise InvalidSessionError(f"tap session {session.id}: {exc}") from exc
    return session


class TapSessions:
    """The sessions this worker knows, matching and rate limiting."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._active: dict[str, _Active] = {}
        self._owned = 0
        self._total = 0

    def __len__(self) -> int:
        return len(self._active)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply a record of the session topic: an upsert, or a tombstone (empty value)."""
        if not value:
            if key:
                self._active.pop(key.decode(errors="replace"), None)
            return
        session = parse_session(key, value)
        expires_s = session.expires.ToNanoseconds() / NANOS if session.HasField("expires") else 0
        previous = self._active.get(session.id)
        active = _Active(session, expires_s)
        if previous is not None:  # a renewal keeps the current second's budget
            active.second, active.sent = previous.second, previous.sent
        self._active[session.id] = active

    def set_share(self, owned: int, total: int) -> None:
        """This worker owns `owned` of the `total` request partitions."""
        self._owned, self._total = owned, total

    def budget(self, max_rps: int) -> int | None:
        """Matches per second this worker may pass for a session; None for unlimited."""
        if max_rps <= 0:
            return None
        if self._total <= 0:
            return 1
        return max(1, max_rps * self._owned // self._total)

    def match(self, event: meshpipe_pb2.RequestEvent) -> list[meshpipe_pb2.TapEvent]:
        """TapEvents for the active sessions the event matches, within their rate budgets."""
        now = self._clock()
        out: list[meshpipe_pb2.TapEvent] = []
        for session_id, active in list(self._active.items()):
            if active.expires_s <= now:
                del self._active[session_id]
                continue
            if not filter_matches(active.session.filter, event) or not self._admit(active, now):
                continue
            tap_event = meshpipe_pb2.TapEvent(session_id=session_id, event=event)
            tap_event.matched.FromNanoseconds(int(now * NANOS))
            out.append(tap_event)
        return out

    def _admit(self, active: _Active, now: float) -> bool:
        second = int(now)
        if second != active.second:
            active.second, active.sent = second, 0
        limit = self.budget(active.session.max_rps)
        if limit is not None and active.sent >= limit:
            return False
        active.sent += 1
        return True
