"""Active tap sessions: matching events (schemas.tapfilter), enforcing each session's max rps.

An event is admitted in two steps: first the whole filter, status selection included (events
are emitted at end of stream, so their status is known), then the rate budget. Only matches
spend the budget, so a session after rare failures among many successes still gets the failures.

A session's `max_rps` is shared by the workers: each may pass `max(1, max_rps * owned // total)`
matches per wall-clock second, where owned/total is its share of the request partitions.
`max_rps = 0` means no limit. A session without an expiry or past it matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from meshpipe.schemas.clock import WallClock
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.resources import ResourceError, canonical_kind
from meshpipe.schemas.tapfilter import filter_matches

NANOS = 1_000_000_000


class InvalidSessionError(ValueError):
    """A tap-session record that cannot be understood."""


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

    def __init__(self, clock: WallClock) -> None:
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
            if not filter_matches(active.session.filter, event):
                continue
            if not self._admit(active, now):  # only a full match spends the budget
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
