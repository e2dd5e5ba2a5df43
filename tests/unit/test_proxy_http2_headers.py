"""The HTTP/2 relay's header helpers: deadlines, protocol, identity headers, made-up replies."""

from __future__ import annotations

import pytest

from meshpipe.proxy.http2_headers import (
    error_reply,
    grpc_status,
    grpc_timeout,
    request_head,
    status,
)
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(b"1H", 3600.0), (b"2M", 120.0), (b"3S", 3.0), (b"250m", 0.25), (b"7u", 7e-6), (b"9n", 9e-9)],
)
def test_grpc_timeout_units_become_seconds(value: bytes, seconds: float) -> None:
    assert grpc_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [b"", b"10", b"1s", b"123456789S", b"-1S", b"1.5S"])
def test_malformed_grpc_timeout_is_no_deadline(value: bytes) -> None:
    assert grpc_timeout(value) is None


def test_request_head_tells_grpc_by_content_type_prefix() -> None:
    head = request_head([(b":method", b"POST"), (b"content-type", b"application/grpc+proto")])
    assert head.protocol == meshpipe_pb2.GRPC
    plain = request_head([(b":method", b"POST"), (b"content-type", b"application/json")])
    assert plain.protocol == meshpipe_pb2.HTTP2


def test_statuses_are_read_from_a_block() -> None:
    fields = [(b":status", b"200"), (b"grpc-status", b" 7 "), (b"grpc-status", b"0")]
    assert (status(fields), grpc_status(fields)) == (b"200", 7)
    assert (status([]), grpc_status([(b"grpc-status", b"x")])) == (b"", None)


@pytest.mark.parametrize(
    ("kind", "http", "grpc"),
    [
        ("connect_refused", b"502", b"14"),
        ("upstream_reset", b"502", b"14"),
        ("connect_timeout", b"504", b"4"),
        ("upstream_timeout", b"504", b"4"),
        ("no_route", b"503", b"14"),
        ("bad_request", b"400", b"14"),
    ],
)
def test_error_replies_map_the_failure_kind(kind: str, http: bytes, grpc: bytes) -> None:
    assert (b":status", http) in error_reply(False, kind, "why").headers
    reply = error_reply(True, kind, "why 100%")
    assert (b"grpc-status", grpc) in reply.headers
    assert (b"grpc-message", b"why 100%25") in reply.headers
    assert reply.http_status == 200
