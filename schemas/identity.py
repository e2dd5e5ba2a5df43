"""Workload identity: the `ns/kind/name` text form, the `meshpipe-src` header value, unmeshed peers
and their conversion to and from the protobuf `Workload` message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.kinds import WORKLOAD_KINDS, canonical

# Kubernetes object names are DNS-1123 subdomains: lower-case alphanumerics, '-' and '.'.
_NAME_RE = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
# Characters kept verbatim in unmeshed peer text; everything else (notably '/', ',', '=', '|', '%')
# is percent-encoded so the text form never contains the separators used around it.
_PEER_SAFE = ":[]._-~@!$&'()*+;"
UNKNOWN_PEER = "unknown"


class IdentityError(ValueError):
    """A workload identity, header value or peer text is malformed."""


def check_name(name: str, what: str = "name") -> str:
    """Return name when it is a valid Kubernetes object name, else raise IdentityError."""
    if not _NAME_RE.fullmatch(name):
        raise IdentityError(
            f"invalid {what} {name!r}: want lower-case letters, digits, '-' or '.' "
            "(a Kubernetes object name)"
        )
    return name


@dataclass(frozen=True, slots=True, order=True)
class WorkloadId:
    """A meshed workload. kind is always canonical (schemas.kinds): `deploy`, `Deployment` and
    `deployments` become `deployment`, so every place that takes a workload agrees with meshstat's
    resource grammar; a kind that is not a workload kind is refused."""

    namespace: str
    kind: str
    name: str

    def __post_init__(self) -> None:
        check_name(self.namespace, "namespace")
        kind = canonical(self.kind)
        if kind not in WORKLOAD_KINDS:
            raise IdentityError(
                f"invalid workload kind {self.kind!r}: want one of {', '.join(WORKLOAD_KINDS)}"
                " (or a kubectl alias such as deploy, sts, ds)"
            )
        object.__setattr__(self, "kind", kind)
        check_name(self.name, "name")

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> WorkloadId:
        """Parse `ns/kind/name`."""
        parts = text.split("/")
        if len(parts) != 3:
            raise IdentityError(f"invalid workload {text!r}: want namespace/kind/name")
        return cls(*parts)


@dataclass(frozen=True, slots=True)
class WorkloadInstance:
    """One pod of a workload: the value of the `meshpipe-src`/`meshpipe-dst` headers."""

    workload: WorkloadId
    pod: str = ""

    def __post_init__(self) -> None:
        if self.pod:
            check_name(self.pod, "pod")

    def __str__(self) -> str:
        return f"{self.workload}/{self.pod}" if self.pod else str(self.workload)

    @classmethod
    def parse(cls, value: str) -> WorkloadInstance:
        """Parse a header value `ns/kind/name/pod` or `ns/kind/name` (outer spaces allowed)."""
        parts = value.strip(" \t").split("/")
        if len(parts) == 4 and parts[3]:
            return cls(WorkloadId(*parts[:3]), parts[3])
        if len(parts) == 3:
            return cls(WorkloadId(*parts))
        raise IdentityError(f"invalid workload header {value!r}: want namespace/kind/name[/pod]")


@dataclass(frozen=True, slots=True)
class UnmeshedPeer:
    """What is known about a peer without a proxy: its address and the authority it was called by.

    Text form: comma-separated `authority=…`, `ip=…`, `port=…` for the known fields in that order
    (values percent-encoded), or `unknown` when nothing is known. It never contains '/' or '|'.
    """

    ip: str = ""
    port: int = 0
    authority: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise IdentityError(f"invalid port {self.port}: want 0..65535")

    def __str__(self) -> str:
        fields = [
            f"{key}={quote(value, safe=_PEER_SAFE)}"
            for key, value in (("authority", self.authority), ("ip", self.ip))
            if value
        ]
        if self.port:
            fields.append(f"port={self.port}")
        return ",".join(fields) or UNKNOWN_PEER

    @classmethod
    def parse(cls, text: str) -> UnmeshedPeer:
        """Parse the text form produced by str()."""
        if text == UNKNOWN_PEER:
            return cls()
        values: dict[str, str] = {}
        for field in text.split(","):
            key, sep, value = field.partition("=")
            if not sep or key not in ("authority", "ip", "port") or key in values or not value:
                raise IdentityError(f"invalid unmeshed peer {text!r}: bad field {field!r}")
            values[key] = unquote(value)
        port = values.get("port", "0")
        if not port.isdigit():
            raise IdentityError(f"invalid unmeshed peer {text!r}: port is not a number")
        return cls(ip=values.get("ip", ""), port=int(port), authority=values.get("authority", ""))


Peer = WorkloadId | UnmeshedPeer


def parse_peer(text: str) -> Peer:
    """Parse the text of either kind of peer: `ns/kind/name` or an unmeshed peer's text form."""
    return WorkloadId.parse(text) if "/" in text else UnmeshedPeer.parse(text)


def to_workload(
    instance: WorkloadInstance,
    *,
    ip: str = "",
    port: int = 0,
    labels: Mapping[str, str] | None = None,
    authority: str = "",
) -> meshpipe_pb2.Workload:
    """Build the protobuf Workload of a meshed pod."""
    wid = instance.workload
    return meshpipe_pb2.Workload(
        namespace=wid.namespace,
        kind=wid.kind,
        name=wid.name,
        pod=instance.pod,
        ip=ip,
        port=port,
        meshed=True,
        labels=dict(labels or {}),
        authority=authority,
    )


def unmeshed_workload(peer: UnmeshedPeer) -> meshpipe_pb2.Workload:
    """Build the protobuf Workload of an unmeshed peer (meshed = false, no identity)."""
    return meshpipe_pb2.Workload(ip=peer.ip, port=peer.port, authority=peer.authority, meshed=False)


def workload_id(msg: meshpipe_pb2.Workload) -> WorkloadId | None:
    """The identity in a Workload message, or None when it names no workload (unmeshed peer)."""
    if not (msg.namespace or msg.kind or msg.name):
        return None
    return WorkloadId(msg.namespace, msg.kind, msg.name)


def workload_instance(msg: meshpipe_pb2.Workload) -> WorkloadInstance | None:
    """The workload and pod in a Workload message, or None for an unmeshed peer."""
    wid = workload_id(msg)
    return None if wid is None else WorkloadInstance(wid, msg.pod)


def peer_of(msg: meshpipe_pb2.Workload) -> Peer:
    """The workload identity when the message has one, else everything known about the peer."""
    wid = workload_id(msg)
    if wid is not None:
        return wid
    return UnmeshedPeer(ip=msg.ip, port=msg.port, authority=msg.authority)
