"""The one table of Kubernetes kinds meshpipe knows: each canonical kind with the kubectl short
names, singulars and plurals that mean it, in any case (`deploy`, `Deployment`, `deployments`)."""

from __future__ import annotations

ALL = "all"

# Short name first: it is what error messages suggest.
ALIASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("deployment", ("deploy", "deploys", "deployment", "deployments")),
    ("statefulset", ("sts", "statefulset", "statefulsets")),
    ("daemonset", ("ds", "daemonset", "daemonsets")),
    ("replicaset", ("rs", "replicaset", "replicasets")),
    ("replicationcontroller", ("rc", "replicationcontroller", "replicationcontrollers")),
    ("job", ("job", "jobs")),
    ("cronjob", ("cj", "cronjob", "cronjobs")),
    ("pod", ("po", "pod", "pods")),
    ("namespace", ("ns", "namespace", "namespaces")),
    ("service", ("svc", "service", "services")),
)
CANONICAL_KINDS: tuple[str, ...] = tuple(kind for kind, _ in ALIASES)
# Kinds a proxy's workload can be: what owns pods (a bare pod is its own workload).
WORKLOAD_KINDS: tuple[str, ...] = tuple(
    k for k in CANONICAL_KINDS if k not in ("namespace", "service")
)
_CANONICAL = {alias: kind for kind, aliases in ALIASES for alias in aliases}


def canonical(text: str) -> str | None:
    """The canonical kind for a kind, alias or plural in any case; None when unknown."""
    return _CANONICAL.get(text.lower())


def aliases_of(kind: str) -> tuple[str, ...]:
    """Every lower-case spelling of a canonical kind (stored rows may hold any of them)."""
    return next((aliases for k, aliases in ALIASES if k == kind), (kind,))
