"""Events keep only allow-listed request headers, and secrets in them are redacted."""

from __future__ import annotations

from proxy_trace import context

from meshpipe.proxy.events import RequestRecord
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


def _recorded(headers: list[tuple[str, str]]) -> dict[str, str]:
    record = RequestRecord(context(), meshpipe_pb2.HTTP1)
    record.request_head("GET", "http", "api:8080", "/x", headers)
    return {h.name: h.value for h in record.event.request_headers}


def test_authorization_is_kept_only_as_redacted() -> None:
    kept = _recorded([("authorization", "Bearer s3cret"), ("user-agent", "curl/8")])
    assert kept == {"authorization": "REDACTED", "user-agent": "curl/8"}


def test_headers_outside_the_allow_list_never_reach_the_event() -> None:
    kept = _recorded([("cookie", "session=s3cret"), ("x-api-key", "k"), ("x-request-id", "r1")])
    assert kept == {"x-request-id": "r1"}


def test_no_secret_value_survives_anywhere_in_the_serialized_event() -> None:
    record = RequestRecord(context(), meshpipe_pb2.HTTP1)
    headers = [
        ("authorization", "Basic c2VjcmV0"),
        ("cookie", "c2VjcmV0"),
        ("x-api-key", "c2VjcmV0"),
    ]
    record.request_head("GET", "http", "api:8080", "/x", headers)
    assert b"c2VjcmV0" not in record.event.SerializeToString()
