"""Which trailer fields the proxy forwards, for HTTP/1 and HTTP/2 alike, in both directions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

# RFC 9110 §6.5.1: fields whose meaning is needed before the content is processed must not be
# in trailers. A recipient that applied one late (merging trailers into the head, as some
# frameworks do) could be steered past the checks made on the head, so the proxy drops them
# and relays the rest of the message. Grouped by the RFC's categories; names in lower case.
# Pseudo-header fields (`:authority`, ...) are routing and control data too: see
# forbidden_in_trailer. grpc-status and grpc-message are deliberately absent: gRPC ends every
# call with them in trailers.
FORBIDDEN_TRAILERS = frozenset(
    {
        # message framing
        "content-length",
        "transfer-encoding",
        "trailer",
        # routing
        "host",
        # request modifiers: controls and conditionals
        "cache-control",
        "expect",
        "max-forwards",
        "pragma",
        "range",
        "te",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        # authentication (cookies carry credentials too)
        "authorization",
        "proxy-authorization",
        "www-authenticate",
        "proxy-authenticate",
        "authentication-info",
        "proxy-authentication-info",
        "cookie",
        "set-cookie",
        # response controls
        "age",
        "date",
        "expires",
        "location",
        "retry-after",
        "vary",
        # content format
        "content-encoding",
        "content-type",
        "content-range",
        "content-language",
        "content-location",
        # connection-specific (RFC 9110 §7.6.1, RFC 9113 §8.2.2): never forwarded anywhere
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "http2-settings",
    }
)

Field = TypeVar("Field", tuple[str, str], tuple[bytes, bytes])


def forbidden_in_trailer(name: str | bytes) -> bool:
    """Whether a field of that name (any case) must not be forwarded in a trailer section."""
    text = (name.decode("latin-1") if isinstance(name, bytes) else name).lower()
    return text.startswith(":") or text in FORBIDDEN_TRAILERS


def forwardable_trailers(fields: Iterable[Field]) -> tuple[list[Field], int]:
    """The trailer fields to forward, in order and as given, and how many were dropped."""
    kept: list[Field] = []
    dropped = 0
    for pair in fields:
        if forbidden_in_trailer(pair[0]):
            dropped += 1
        else:
            kept.append(pair)
    return kept, dropped
