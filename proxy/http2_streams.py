"""The streams of the HTTP/2 frame relay: what each header block means for a stream's request
event, and which fields of it the proxy drops, protects or adds (DESIGN.md §4)."""

from __future__ import annotations

from collections.abc import Sequence

from hpack import NeverIndexedHeaderTuple

from meshpipe.proxy.events import (
    ALLOWED_HEADERS,
    DST_HEADER,
    IDENTITY_HEADERS,
    SRC_HEADER,
    PeerIdentities,
    RequestRecord,
    event_template,
)
from meshpipe.proxy.h2_hpack import DROP, KEEP, PROTECT
from meshpipe.proxy.hpack_decode import Field
from meshpipe.proxy.http2_headers import RequestHead, request_head, text
from meshpipe.proxy.layer import LayerContext
from meshpipe.proxy.trailers import forbidden_in_trailer
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

_SRC = SRC_HEADER.encode()
_DST = DST_HEADER.encode()
_IDENTITY = IDENTITY_HEADERS
_EVENT_FIELDS = frozenset({*(n.encode() for n in ALLOWED_HEADERS), b"traceparent", _SRC})
# Never entered into a table when the proxy forwards them (RFC 7541 §7.1.3).
_CREDENTIALS = frozenset((b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"))


class Stream:
    """One relayed stream (the same id on both connections) and its request record."""

    __slots__ = (
        "caller_meshed",
        "deadline",
        "forwarded",
        "head",
        "record",
        "req_end",
        "req_left",
        "resp_end",
        "response_started",
        "sid",
    )

    def __init__(self, sid: int, head: RequestHead, record: RequestRecord) -> None:
        self.sid = sid
        self.head = head
        self.record = record
        self.caller_meshed = False  # the request carried the caller's sidecar identity
        self.forwarded = False  # its HEADERS went upstream
        self.req_end = False  # the client ended its side (END_STREAM seen)
        self.req_left: int | None = None  # request DATA bytes its content-length still expects
        self.resp_end = False  # the server ended its side
        self.response_started = False  # a final response head went downstream
        self.deadline: float | None = None  # monotonic time the response head is due by


class RequestRead:
    """What a request head's fields say for its stream and event; the same for every request
    whose head decodes to the same fields."""

    __slots__ = ("head", "meshed", "pairs")

    def __init__(self, fields: Sequence[Field]) -> None:
        self.head = request_head(fields)
        # Only the fields the event reads become text.
        self.pairs = [(text(name), text(value)) for name, value in fields if name in _EVENT_FIELDS]
        self.meshed = any(name == SRC_HEADER for name, _ in self.pairs)  # the caller's sidecar


def new_stream(
    ctx: LayerContext,
    sid: int,
    read: RequestRead,
    templates: dict[int, meshpipe_pb2.RequestEvent],
    peers: PeerIdentities,
) -> Stream:
    """A stream for a request head: its record filled from what the fields say (and from the
    connection's event template for its protocol, made on first use, and its peer's parsed
    identity header)."""
    head = read.head
    template = templates.get(head.protocol)
    if template is None:
        template = templates[head.protocol] = event_template(ctx, head.protocol)
    record = RequestRecord(ctx, head.protocol, template, peers)
    record.request_head(head.method, head.scheme, head.authority, head.path, read.pairs)
    stream = Stream(sid, head, record)
    stream.caller_meshed = read.meshed
    return stream


_REQUEST_PSEUDO = frozenset((b":method", b":scheme", b":authority", b":path", b":protocol"))
_RESPONSE_PSEUDO = frozenset((b":status",))
_ANY_PSEUDO = _REQUEST_PSEUDO | _RESPONSE_PSEUDO


class MalformedBlock(Exception):
    """A header block HTTP/2 forbids (RFC 9113 §8.2): the sender broke the protocol."""


# RFC 9113 §8.2.2: connection-specific fields make a message malformed.
_CONNECTION_SPECIFIC = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade")
)


# Names that may need more than the checks every field gets (outside trailer sections).
_SPECIAL = _CONNECTION_SPECIFIC | _IDENTITY | _CREDENTIALS | {b"te"}


def _actions(
    fields: Sequence[Field], pseudo: frozenset[bytes], trailer: bool = False
) -> tuple[list[int] | None, int]:
    """Per field: identity headers dropped, credentials protected (and, in a trailer section,
    the fields RFC 9110 forbids dropped); None when nothing changes. Also the forbidden count.
    Raises MalformedBlock for upper-case names, connection-specific fields, and pseudo-header
    fields not in `pseudo` or after a regular field (§8.2, §8.3)."""
    actions: list[int] | None = None
    forbidden = 0
    regular = False
    for i, field in enumerate(fields):
        name = field[0]
        if name.startswith(b":"):
            if regular or name not in pseudo:
                raise MalformedBlock(f"pseudo-header {name!r} misplaced (RFC 9113 §8.3)")
        else:
            regular = True
        # islower() is false for names without letters too: only those are lowered to compare.
        if not name.islower() and name != name.lower():
            raise MalformedBlock(f"{name!r} in an HTTP/2 header block (RFC 9113 §8.2)")
        if not trailer and name not in _SPECIAL:
            continue  # the usual field: nothing to check or change
        if name in _CONNECTION_SPECIFIC:
            raise MalformedBlock(f"{name!r} in an HTTP/2 header block (RFC 9113 §8.2)")
        if name == b"te" and field[1] != b"trailers":
            raise MalformedBlock(f"te: {field[1]!r} in an HTTP/2 header block (RFC 9113 §8.2.2)")
        action = KEEP
        if name in _IDENTITY:
            action = DROP
        elif trailer and forbidden_in_trailer(name):
            action = DROP
            forbidden += 1
        # fields[i], not field: compiled, a tuple-typed local loses its class (see architecture.md)
        elif name in _CREDENTIALS and not isinstance(fields[i], NeverIndexedHeaderTuple):
            action = PROTECT
        if action != KEEP:
            if actions is None:
                actions = [KEEP] * len(fields)
            actions[i] = action
    return actions, forbidden


_NO_PSEUDO: frozenset[bytes] = frozenset()
CHECKED_KEPT = 64  # field lists remembered with what _actions found in them


class CheckedFields:
    """What _actions found in field lists the decoder hands back again (a repeated block
    decodes to the same list while it means the same), by list identity; the entry holds the
    list, so its id is not reused while remembered."""

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[
            int, tuple[Sequence[Field], frozenset[bytes], tuple[list[int] | None, int]]
        ] = {}

    def actions(
        self, fields: Sequence[Field], pseudo: frozenset[bytes], trailer: bool = False
    ) -> tuple[list[int] | None, int]:
        known = self._known.get(id(fields))
        if known is not None and known[0] is fields and known[1] is pseudo:
            return known[2]
        found = _actions(fields, pseudo, trailer)
        if len(self._known) >= CHECKED_KEPT:
            self._known.clear()
        self._known[id(fields)] = (fields, pseudo, found)
        return found


Edit = tuple[list[int] | None, list[tuple[bytes, bytes]]]


def request_edit(ctx: LayerContext, fields: Sequence[Field]) -> Edit:
    """Outbound adds this sidecar's identity; both directions drop what the caller sent."""
    actions, _ = _actions(fields, _REQUEST_PSEUDO)
    if ctx.direction == meshpipe_pb2.OUTBOUND:
        return actions, [(_SRC, str(ctx.local).encode())]
    return actions, []


def response_edit(
    ctx: LayerContext, stream: Stream, fields: Sequence[Field], checked: CheckedFields
) -> Edit:
    """Outbound reads and drops the destination's identity; inbound adds its own for a meshed
    caller (whose sidecar reads and drops it) and hides it from an unmeshed one."""
    actions, _ = checked.actions(fields, _RESPONSE_PSEUDO)
    if ctx.direction == meshpipe_pb2.OUTBOUND:
        for name, value in fields:
            if name == _DST:
                stream.record.peer_identity(text(value))
                break
        return actions, []
    if stream.caller_meshed:
        return actions, [(_DST, str(ctx.local).encode())]
    return actions, []


def informational_edit(fields: Sequence[Field]) -> Edit:
    """A 1xx head, or a head on a stream already over (its kind unknown)."""
    return _actions(fields, _ANY_PSEUDO)[0], []


def trailer_edit(stream: Stream | None, fields: Sequence[Field], checked: CheckedFields) -> Edit:
    """Forbidden trailer fields and identity headers dropped (the forbidden ones counted)."""
    actions, forbidden = checked.actions(fields, _NO_PSEUDO, trailer=True)
    if stream is not None and forbidden:
        stream.record.add_trailer_fields_dropped(forbidden)
    return actions, []


def kept_count(fields: Sequence[Field], edit: Edit) -> int:
    """How many fields the edited block still carries."""
    actions, add = edit
    kept = len(fields) if actions is None else sum(1 for a in actions if a != DROP)
    return kept + len(add)
