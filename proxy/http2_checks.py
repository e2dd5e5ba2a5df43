"""The request checks of the HTTP/2 relay that end one stream, not the connection (RFC 9113
§8.1.1): required pseudo-header fields present once each, and the content-length a request
announces matched by the DATA it sends."""

from __future__ import annotations

from collections.abc import Sequence

from meshpipe.proxy.hpack_decode import Field


class MalformedRequest(Exception):
    """A request HTTP/2 calls malformed: a stream error of type PROTOCOL_ERROR (§8.1.1)."""


_CONNECT = b"CONNECT"


def check_request(fields: Sequence[Field], end_stream: bool) -> int | None:
    """The content-length the request announces (None without one); raises MalformedRequest for
    a pseudo-header field repeated, a required one missing (§8.3.1: :method, :scheme and a
    non-empty :path, or :authority and neither :scheme nor :path for CONNECT), an invalid or
    conflicting content-length, or a non-zero one on a head that ends the stream."""
    pseudo: dict[bytes, bytes] = {}
    length: bytes | None = None
    for name, value in fields:
        if name[:1] == b":":
            if name in pseudo:
                raise MalformedRequest(f"pseudo-header {name!r} repeated (RFC 9113 §8.3)")
            pseudo[name] = value
        elif name == b"content-length":
            if length is not None and value != length:
                raise MalformedRequest("conflicting content-length values (RFC 9110 §8.6)")
            length = value
    method = pseudo.get(b":method")
    if method is None:
        raise MalformedRequest("a request without :method (RFC 9113 §8.3.1)")
    if method == _CONNECT and b":protocol" not in pseudo:
        if b":scheme" in pseudo or b":path" in pseudo or b":authority" not in pseudo:
            raise MalformedRequest("CONNECT takes :authority only (RFC 9113 §8.5)")
    elif b":scheme" not in pseudo or not pseudo.get(b":path"):
        raise MalformedRequest("a request without :scheme or :path (RFC 9113 §8.3.1)")
    if length is None:
        return None
    if not length.isdigit() or len(length) > 18:
        raise MalformedRequest(f"content-length {length!r} is not a length (RFC 9110 §8.6)")
    expected = int(length)
    if end_stream and expected:
        raise MalformedRequest(f"content-length {expected} but no DATA (RFC 9113 §8.1.1)")
    return expected
