"""The tap filter: which requests a tap session selects, shared by the workers (live tap) and
meshtap (`--since` replays).

Direction follows Linkerd's tap: tapping a resource R shows the requests R's proxies see, that is
outbound events whose source is R and inbound events whose destination is R. With a `to`
resource T only R's outbound events towards T match. A `service` resource matches by the
request's authority (its first DNS label), since events name workloads, not services.

The status selection (HTTP status ranges, gRPC statuses, `failed`) is known only at end of
stream, which is when events are emitted, so the workers select on it as on the request fields,
before a match spends the session's max rps. Between kinds every given one must match; within a
kind any value does. An empty kind selects everything.
"""

from __future__ import annotations

from meshpipe.schemas.classify import is_success
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.kinds import canonical
from meshpipe.schemas.resources import canonical_kind


def _has_ref(ref: meshpipe_pb2.ResourceRef) -> bool:
    return bool(ref.namespace or ref.kind or ref.name)


def _service_name(authority: str) -> str:
    host = authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
    return host.split(".", 1)[0]


def resource_matches(
    ref: meshpipe_pb2.ResourceRef, workload: meshpipe_pb2.Workload, authority: str = ""
) -> bool:
    """Whether a workload (called by `authority`, if a destination) is in the selection."""
    kind = canonical_kind(ref.kind) if ref.kind else ""
    if kind == "namespace":
        return bool(workload.namespace) and ref.name in ("", workload.namespace)
    if ref.namespace and ref.namespace != workload.namespace:
        return False
    if kind in ("", "all"):
        return True
    if kind == "service":
        service = _service_name(authority)
        return bool(service) and ref.name in ("", service)
    if kind == "pod":
        return bool(workload.pod) and ref.name in ("", workload.pod)
    same_kind = (canonical(workload.kind) or workload.kind) == kind  # replays of older events
    return same_kind and ref.name in ("", workload.name)


def _side_matches(tap: meshpipe_pb2.TapFilter, event: meshpipe_pb2.RequestEvent) -> bool:
    outbound = event.direction == meshpipe_pb2.OUTBOUND
    if _has_ref(tap.to):
        return (
            outbound
            and resource_matches(tap.resource, event.source)
            and resource_matches(tap.to, event.destination, event.authority)
        )
    if outbound:
        return resource_matches(tap.resource, event.source)
    return event.direction == meshpipe_pb2.INBOUND and resource_matches(
        tap.resource, event.destination, event.authority
    )


def status_matches(tap: meshpipe_pb2.TapFilter, event: meshpipe_pb2.RequestEvent) -> bool:
    """Whether the end of the exchange is in the filter's status selection."""
    if tap.http_statuses and not any(
        r.low <= event.http_status <= r.high for r in tap.http_statuses
    ):
        return False
    if tap.grpc_statuses and not (
        event.WhichOneof("end") == "grpc_status" and event.grpc_status in tap.grpc_statuses
    ):
        return False
    return not tap.failed or not is_success(event)


def filter_matches(tap: meshpipe_pb2.TapFilter, event: meshpipe_pb2.RequestEvent) -> bool:
    """Whether an event matches a filter: request-start fields, side, and status selection."""
    return _request_matches(tap, event) and status_matches(tap, event)


def _request_matches(tap: meshpipe_pb2.TapFilter, event: meshpipe_pb2.RequestEvent) -> bool:
    if tap.method and tap.method.upper() != event.method.upper():
        return False
    if tap.path_prefix and not event.path.startswith(tap.path_prefix):
        return False
    if tap.authority and tap.authority.lower() != event.authority.lower():
        return False
    if tap.scheme and tap.scheme.lower() != event.scheme.lower():
        return False
    return _side_matches(tap, event)
