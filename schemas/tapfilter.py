"""The tap filter: which requests a tap session selects, shared by the workers (live tap) and
meshtap (`--since` replays).

Direction follows Linkerd's tap: tapping a resource R shows the requests R's proxies see, that is
outbound events whose source is R and inbound events whose destination is R. With a `to`
resource T only R's outbound events towards T match. A `service` resource matches by the
request's authority (its first DNS label), since events name workloads, not services.
"""

from __future__ import annotations

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


def filter_matches(tap: meshpipe_pb2.TapFilter, event: meshpipe_pb2.RequestEvent) -> bool:
    """Whether an event matches a filter at its request-start fields."""
    if tap.method and tap.method.upper() != event.method.upper():
        return False
    if tap.path_prefix and not event.path.startswith(tap.path_prefix):
        return False
    if tap.authority and tap.authority.lower() != event.authority.lower():
        return False
    if tap.scheme and tap.scheme.lower() != event.scheme.lower():
        return False
    return _side_matches(tap, event)
