"""Success classification of a RequestEvent with Linkerd's rules, so success rates compare.

Order of the rules, first match wins:
1. a proxy error fails: `error=<kind>`;
2. an HTTP/2 RST_STREAM fails: `reset=<NAME>` (RFC 9113 §7 codes) or `reset_code=<n>` for others;
3. gRPC (protocol GRPC, a `grpc_status`, or a request content-type application/grpc…) with a
   status: fails on Unknown(2), DeadlineExceeded(4), PermissionDenied(7), Internal(13),
   Unavailable(14), DataLoss(15) as `grpc_status=<n>`, else succeeds with `ok`;
4. an HTTP status 5xx fails: `http_status=<n>`;
5. gRPC without a status fails: `grpc_status_missing`;
6. HTTP (HTTP1/HTTP2) without a response head fails: `http_status_missing`;
7. everything else succeeds: `ok`.
"""

from __future__ import annotations

from typing import NamedTuple

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.h2errors import H2_ERROR_NAMES

GRPC_FAILURE_CODES = frozenset({2, 4, 7, 13, 14, 15})
_HTTP_PROTOCOLS = frozenset({meshpipe_pb2.HTTP1, meshpipe_pb2.HTTP2})
OK = "ok"


class Verdict(NamedTuple):
    """A classification and the reason for it."""

    classification: meshpipe_pb2.Classification.ValueType
    reason: str


def _success() -> Verdict:
    return Verdict(meshpipe_pb2.SUCCESS, OK)


def _failure(reason: str) -> Verdict:
    return Verdict(meshpipe_pb2.FAILURE, reason)


def reset_reason(code: int) -> str:
    """`reset=<NAME>` for a known HTTP/2 error code, else `reset_code=<n>`."""
    if 0 <= code < len(H2_ERROR_NAMES):
        return f"reset={H2_ERROR_NAMES[code]}"
    return f"reset_code={code}"


def is_grpc(event: meshpipe_pb2.RequestEvent) -> bool:
    """Whether the exchange is gRPC, by protocol, end reason or request content-type."""
    if event.protocol == meshpipe_pb2.GRPC or event.WhichOneof("end") == "grpc_status":
        return True
    return any(
        header.name == "content-type" and header.value.lower().startswith("application/grpc")
        for header in event.request_headers
    )


def classify(event: meshpipe_pb2.RequestEvent) -> Verdict:
    """Classify a finished exchange; see the module docstring for the rules."""
    end = event.WhichOneof("end")
    if end == "error":
        return _failure(f"error={event.error.kind or 'unknown'}")
    if end == "reset_code":
        return _failure(reset_reason(event.reset_code))
    grpc = is_grpc(event)
    if end == "grpc_status":
        status = event.grpc_status
        return _failure(f"grpc_status={status}") if status in GRPC_FAILURE_CODES else _success()
    if 500 <= event.http_status <= 599:
        return _failure(f"http_status={event.http_status}")
    if grpc:
        return _failure("grpc_status_missing")
    if event.protocol in _HTTP_PROTOCOLS and event.http_status == 0:
        return _failure("http_status_missing")
    return _success()


def is_success(event: meshpipe_pb2.RequestEvent) -> bool:
    """The proxy's classification, or these rules when the event carries none."""
    if event.classification == meshpipe_pb2.CLASSIFICATION_UNKNOWN:
        return classify(event).classification == meshpipe_pb2.SUCCESS
    return event.classification == meshpipe_pb2.SUCCESS


def apply_classification(event: meshpipe_pb2.RequestEvent) -> None:
    """Fill `classification` and `classification_reason` of the event in place."""
    verdict = classify(event)
    event.classification = verdict.classification
    event.classification_reason = verdict.reason
