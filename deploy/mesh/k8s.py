"""Small builders for the Kubernetes objects every control-plane component repeats."""

from __future__ import annotations

from typing import Any

PART_OF = "meshpipe"
COMPONENT_LABEL = "app.kubernetes.io/component"


def labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/part-of": PART_OF,
        COMPONENT_LABEL: component,
    }


def selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": PART_OF}


def metadata(name: str, namespace: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(component)}


def config_map(name: str, namespace: str, component: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name, namespace, component),
        "data": data,
    }


def service_account(name: str, namespace: str) -> dict[str, Any]:
    """An identity without an API token: none of the control plane talks to the API server."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(name, namespace, name),
        "automountServiceAccountToken": False,
    }


def service(name: str, namespace: str, component: str, ports: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, namespace, component),
        "spec": {
            "selector": selector(component),
            "ports": [
                {"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}
                for port_name, port in ports.items()
            ],
        },
    }


def restricted_security_context(uid: int) -> dict[str, Any]:
    """The Pod Security Standards' `restricted` profile for one container."""
    return {
        "runAsUser": uid,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, port: str, initial_delay_s: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": 10,
        "failureThreshold": 3,
    }


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def workload(
    kind: str,
    component: str,
    namespace: str,
    replicas: int,
    pod_spec: dict[str, Any],
    extra_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Deployment or StatefulSet of one control-plane component: never meshed, no API token."""
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": selector(component)},
        "template": {
            "metadata": {
                "labels": labels(component),
                "annotations": {"meshpipe.io/inject": "disabled"},
            },
            "spec": {
                "serviceAccountName": component,
                "automountServiceAccountToken": False,
                **pod_spec,
            },
        },
        **(extra_spec or {}),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": metadata(component, namespace, component),
        "spec": spec,
    }
