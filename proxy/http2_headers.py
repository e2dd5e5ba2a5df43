"""HTTP/2 header fields as the relay reads them: request heads, deadlines, statuses, and the
replies the proxy makes up."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

Headers = list[tuple[bytes, bytes]]

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


def text(value: bytes) -> str:
    """Header bytes as text for the event; latin-1 never fails and keeps every byte."""
    return value.decode("latin-1")


class RequestHead(NamedTuple):
    """What the relay and the event need from a request's header block (a NamedTuple: one is
    made per request, and a frozen dataclass costs a setattr per field)."""

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


def grpc_status(fields: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The grpc-status of a trailer block (or Trailers-Only response), or None."""
    for name, value in fields:
        if name == b"grpc-status":
            value = value.strip()
            return int(value) if value.isdigit() else None
    return None


def status(fields: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The :status of a response block, as sent (b"" when there is none)."""
    for name, value in fields:
        if name == b":status":
            return value
    return b""


def grpc_timeout(value: bytes | None) -> float | None:
    """Seconds of a grpc-timeout value like `100m`, or None when absent or malformed."""
    if value is None:
        return None
    match = _GRPC_TIMEOUT.match(value.strip())
    if match is None:
        return None
    return int(match.group(1)) * _GRPC_TIMEOUT_UNIT_S[match.group(2)]


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
