"""Unit tests for schemas.classify: Linkerd's success classification of request events."""

from __future__ import annotations

import pytest

from meshpipe.schemas.classify import (
    GRPC_FAILURE_CODES,
    apply_classification,
    classify,
    reset_reason,
)
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

FAIL = meshpipe_pb2.FAILURE
OK = meshpipe_pb2.SUCCESS


def _http(status: int) -> meshpipe_pb2.RequestEvent:
    return meshpipe_pb2.RequestEvent(protocol=meshpipe_pb2.HTTP1, http_status=status)


def _grpc(status: int | None, http_status: int = 200) -> meshpipe_pb2.RequestEvent:
    event = meshpipe_pb2.RequestEvent(protocol=meshpipe_pb2.GRPC, http_status=http_status)
    if status is not None:
        event.grpc_status = status
    return event


@pytest.mark.parametrize("status", [200, 204, 301, 400, 404, 499])
def test_http_below_500_succeeds(status: int) -> None:
    assert classify(_http(status)) == (OK, "ok")


@pytest.mark.parametrize("status", [500, 503, 599])
def test_http_5xx_fails_with_status_reason(status: int) -> None:
    assert classify(_http(status)) == (FAIL, f"http_status={status}")


def test_http_without_response_head_fails() -> None:
    assert classify(_http(0)) == (FAIL, "http_status_missing")


@pytest.mark.parametrize("status", range(17))
def test_grpc_status_fails_exactly_on_linkerd_codes(status: int) -> None:
    expected = (FAIL, f"grpc_status={status}") if status in {2, 4, 7, 13, 14, 15} else (OK, "ok")
    assert classify(_grpc(status)) == expected


def test_grpc_failure_codes_are_linkerds() -> None:
    assert frozenset({2, 4, 7, 13, 14, 15}) == GRPC_FAILURE_CODES


def test_grpc_without_status_fails() -> None:
    assert classify(_grpc(None)) == (FAIL, "grpc_status_missing")


def test_grpc_without_status_and_5xx_reports_the_http_status() -> None:
    assert classify(_grpc(None, http_status=503)) == (FAIL, "http_status=503")


def test_grpc_status_decides_over_http_status() -> None:
    assert classify(_grpc(0, http_status=503)) == (OK, "ok")


def test_grpc_content_type_over_http2_makes_missing_status_fail() -> None:
    event = meshpipe_pb2.RequestEvent(protocol=meshpipe_pb2.HTTP2, http_status=200)
    event.request_headers.add(name="content-type", value="application/grpc+proto")
    assert classify(event) == (FAIL, "grpc_status_missing")


def test_plain_http2_without_grpc_content_type_succeeds() -> None:
    event = meshpipe_pb2.RequestEvent(protocol=meshpipe_pb2.HTTP2, http_status=200)
    event.request_headers.add(name="content-type", value="application/json")
    assert classify(event) == (OK, "ok")


def test_reset_fails_with_error_name() -> None:
    event = _http(200)
    event.reset_code = 8
    assert classify(event) == (FAIL, "reset=CANCEL")


def test_unknown_reset_code_is_reported_by_number() -> None:
    assert reset_reason(0x42) == "reset_code=66"


def test_proxy_error_fails_with_its_kind() -> None:
    event = meshpipe_pb2.RequestEvent(protocol=meshpipe_pb2.HTTP1)
    event.error.kind = "connect_refused"
    assert classify(event) == (FAIL, "error=connect_refused")


def test_opaque_tcp_without_error_succeeds() -> None:
    assert classify(meshpipe_pb2.RequestEvent(protocol=meshpipe_pb2.OPAQUE_TCP)) == (OK, "ok")


def test_apply_classification_fills_the_event_in_place() -> None:
    event = _grpc(14)
    apply_classification(event)
    assert event.classification == FAIL
    assert event.classification_reason == "grpc_status=14"
