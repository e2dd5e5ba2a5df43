"""Least-privilege access for operators running meshctl check, meshstat and meshtap."""

from __future__ import annotations

from typing import Any

from meshpipe.deploy.mesh.k8s import metadata

CHECK_ROLE = "meshpipe-check"
OPERATORS_GROUP = "meshpipe:operators"


def _rule(
    groups: list[str], kinds: list[str], verbs: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": groups, "resources": kinds, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


def _binding(kind: str, namespace: str | None) -> dict[str, Any]:
    meta = metadata(CHECK_ROLE, namespace or "", CHECK_ROLE)
    if namespace is None:
        del meta["namespace"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": CHECK_ROLE},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": OPERATORS_GROUP}
        ],
    }


def rbac(namespace: str, clickhouse_service: str, credentials_secret: str) -> list[dict[str, Any]]:
    """Read-only rights in the control-plane namespace, and listing pods cluster-wide (for the
    injection check); bound to one group that cluster admins put operators in."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(CHECK_ROLE, namespace, CHECK_ROLE),
        "rules": [
            _rule([""], ["pods", "services", "endpoints"], ["get", "list"]),
            _rule([""], ["configmaps"], ["get"], ["meshpipe-config"]),
            _rule([""], ["secrets"], ["get"], [credentials_secret]),
            _rule([""], ["services/proxy"], ["get"], [f"{clickhouse_service}:http"]),
            # The workers' /health (lag, dead letters); the CLIs' port-forwards.
            _rule([""], ["pods/proxy"], ["get"]),
            _rule([""], ["pods/portforward"], ["create"]),
            _rule(["apps"], ["statefulsets"], ["get"]),
            _rule(["batch"], ["jobs"], ["get"]),
            _rule(["kafka.strimzi.io"], ["kafkas", "kafkatopics"], ["get", "list"]),
        ],
    }
    cluster_role_meta = metadata(CHECK_ROLE, "", CHECK_ROLE)
    del cluster_role_meta["namespace"]
    cluster_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": cluster_role_meta,
        "rules": [_rule([""], ["namespaces", "pods"], ["list"])],
    }
    return [role, _binding("Role", namespace), cluster_role, _binding("ClusterRole", None)]
