"""Which trailer fields the proxy forwards (RFC 9110 §6.5.1), on names as each protocol has them."""

from __future__ import annotations

import pytest

from meshpipe.proxy.trailers import forbidden_in_trailer, forwardable_trailers

FORBIDDEN = [
    "Content-Length",
    "transfer-encoding",
    "Trailer",
    "host",
    b":authority",
    b":status",
    "te",
    "expect",
    "max-forwards",
    "range",
    "cache-control",
    "if-none-match",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    b"www-authenticate",
    "age",
    "location",
    "retry-after",
    "content-type",
    b"content-encoding",
    "content-range",
    "connection",
    "keep-alive",
    "upgrade",
]
FORWARDED = [
    b"grpc-status",
    b"grpc-message",
    b"grpc-status-details-bin",
    "x-checksum",
    "server-timing",
    "content-md5-trailer",
    "x-content-length",
]


@pytest.mark.parametrize("name", FORBIDDEN)
def test_framing_routing_auth_control_and_format_fields_are_not_forwarded(
    name: str | bytes,
) -> None:
    assert forbidden_in_trailer(name)


@pytest.mark.parametrize("name", FORWARDED)
def test_grpc_status_and_other_fields_are_forwarded(name: str | bytes) -> None:
    assert not forbidden_in_trailer(name)


def test_kept_fields_stay_in_order_and_the_dropped_ones_are_counted() -> None:
    fields = [("X-A", "1"), ("Content-Length", "50"), ("x-b", "2"), ("HOST", "evil")]
    assert forwardable_trailers(fields) == ([("X-A", "1"), ("x-b", "2")], 2)
