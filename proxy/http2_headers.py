"""HTTP/2 header blocks as the relay sees them: request heads, identity headers, made-up replies."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from hpack import NeverIndexedHeaderTuple

from meshpipe.proxy.events import IDENTITY_HEADERS
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

Headers = list[tuple[bytes, bytes]]

_IDENTITY = frozenset(name.encode() for name in IDENTITY_HEADERS)
# Never entered into hpack's table, whoever sends them (what h2's outbound normalisation did).
_CREDENTIALS = frozenset((b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"))
_GRPC_TIMEOUT = re.compile(rb"^([0-9]{1,8})([HMSmun])$")
_GRPC_TIMEOUT_UNIT_S = {
    b"H": 3600.0,
    b"M": 60.0,
    b"S": 1.0,
    b"m": 1e-3,
    b"u": 1e-6,
    b"n": 1e-9,
}
# gRPC status codes the proxy itself answers with (grpc/doc/statuscodes.md).
GRPC_DEADLINE_EXCEEDED = 4
GRPC_UNAVAILABLE = 14
# grpc-message is percent-encoded except for printable ASCII other than '%' (gRPC over HTTP/2).
_GRPC_MESSAGE_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "%")


def normalize(headers: Iterable[tuple[bytes | str, bytes | str]]) -> Headers:
    """The header block as (name, value) bytes pairs, whatever h2 handed over.

    Byte pairs are kept as they are: h2 hands over hpack's HeaderTuple objects, and a field the
    sender marked never-indexed must be relayed never-indexed (RFC 7541 §7.1.3), which the
    relay's connections, sending without h2's outbound normalisation, then do.
    """
    return [
        pair  # type: ignore[misc]
        if isinstance(pair[0], bytes) and isinstance(pair[1], bytes)
        else (_encoded(pair[0]), _encoded(pair[1]))
        for pair in headers
    ]


def _encoded(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def text(value: bytes) -> str:
    """Header bytes as text for the event; latin-1 never fails and keeps every byte."""
    return value.decode("latin-1")


def first(headers: Headers, name: bytes) -> bytes | None:
    """The value of the first header called name, or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


@dataclass(frozen=True)
class RequestHead:
    """What the relay and the event need from a request's header block."""

    method: str
    scheme: str
    authority: str
    path: str
    grpc: bool
    grpc_timeout_s: float | None  # the caller's deadline from grpc-timeout, if any

    @property
    def protocol(self) -> meshpipe_pb2.Protocol.ValueType:
        return meshpipe_pb2.GRPC if self.grpc else meshpipe_pb2.HTTP2


_HEAD_FIELDS = frozenset(
    (b":method", b":scheme", b":authority", b":path", b"host", b"content-type", b"grpc-timeout")
)


def request_head(headers: Iterable[tuple[bytes, bytes]]) -> RequestHead:
    """Read the pseudo-headers, content-type and grpc-timeout of a request (first of each)."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in _HEAD_FIELDS and name not in found:
            found[name] = value
    get = found.get
    content_type = get(b"content-type", b"")
    return RequestHead(
        method=text(get(b":method", b"")),
        scheme=text(get(b":scheme", b"")),
        authority=text(get(b":authority") or get(b"host") or b""),
        path=text(get(b":path", b"")),
        grpc=content_type.lower().startswith(b"application/grpc"),
        grpc_timeout_s=grpc_timeout(get(b"grpc-timeout")),
    )


def grpc_timeout(value: bytes | None) -> float | None:
    """Seconds of a grpc-timeout value like `100m`, or None when absent or malformed."""
    if value is None:
        return None
    match = _GRPC_TIMEOUT.match(value.strip())
    if match is None:
        return None
    return int(match.group(1)) * _GRPC_TIMEOUT_UNIT_S[match.group(2)]


def grpc_status(headers: Headers) -> int | None:
    """The grpc-status of a trailer block (or Trailers-Only response), or None."""
    value = first(headers, b"grpc-status")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def http_status(headers: Headers) -> int:
    """The :status of a response block; 0 when missing (h2 validates it is there)."""
    value = first(headers, b":status") or b""
    return int(value) if value.isdigit() else 0


def without_identity(headers: Headers) -> Headers:
    """The block minus both identity headers (applications never see them), credentials marked
    never-indexed as h2 would (fields the sender marked so stay so)."""
    return [_protected(pair) for pair in headers if pair[0] not in _IDENTITY]


def _protected(pair: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    if pair[0] in _CREDENTIALS and not isinstance(pair, NeverIndexedHeaderTuple):
        return NeverIndexedHeaderTuple(*pair)
    return pair


def with_identity(headers: Headers, name: str, value: str) -> Headers:
    """The block minus identity headers, plus this sidecar's one."""
    return [*without_identity(headers), (name.encode(), value.encode())]


@dataclass(frozen=True)
class ErrorReply:
    """A response the proxy makes up when the upstream cannot answer."""

    headers: Headers
    http_status: int


def error_reply(grpc: bool, kind: str, message: str) -> ErrorReply:
    """gRPC: a Trailers-Only response with UNAVAILABLE or DEADLINE_EXCEEDED; HTTP: 502/503/504
    (400 when the request itself names no usable upstream)."""
    timeout = kind.endswith("_timeout")
    if grpc:
        code = GRPC_DEADLINE_EXCEEDED if timeout else GRPC_UNAVAILABLE
        headers: Headers = [
            (b":status", b"200"),
            (b"content-type", b"application/grpc"),
            (b"grpc-status", str(code).encode()),
            (b"grpc-message", quote(message, safe=_GRPC_MESSAGE_SAFE).encode()),
        ]
        return ErrorReply(headers, 200)
    status = 504 if timeout else 502 if kind in _BAD_GATEWAY else 503
    status = 400 if kind == "bad_request" else status
    headers = [(b":status", str(status).encode()), (b"content-length", b"0")]
    return ErrorReply(headers, status)


# The upstream answered wrongly or went away mid-request: 502; otherwise it was not there: 503.
_BAD_GATEWAY = frozenset({"connect_refused", "upstream_reset", "protocol_error"})
