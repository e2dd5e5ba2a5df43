"""The proxy injector as Kubernetes objects: its Deployment (the meshproxy image, serving the
admission webhook over TLS), Service, identity, TLS Secret and MutatingWebhookConfiguration."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from meshpipe.deploy.mesh.k8s import metadata, restricted_security_context, service, workload

INJECTOR = "meshpipe-injector"
WEBHOOK = "meshpipe-proxy-injector"
TLS_SECRET = "meshpipe-injector-tls"  # noqa: S105 - a Secret's name
WEBHOOK_PATH = "/inject"
PORT = 8443
TLS_DIR = "/var/run/meshpipe/tls"
_PROXY_UID = 2102  # the meshproxy image's user


@dataclass(frozen=True)
class InjectorTls:
    """PEM texts: the CA the API server trusts (caBundle) and the injector's serving pair."""

    ca_cert: str
    cert: str
    key: str


@dataclass(frozen=True)
class InjectorConfig:
    """Where the injector runs, what it injects (the proxy image, the Kafka the sidecars use)."""

    namespace: str
    proxy_image: str
    kafka_bootstrap: str
    tls: InjectorTls


def service_dns_names(namespace: str) -> tuple[str, ...]:
    """The names the serving certificate must carry (the API server dials the first long one)."""
    base = f"{INJECTOR}.{namespace}"
    return (INJECTOR, base, f"{base}.svc", f"{base}.svc.cluster.local")


def injector(config: InjectorConfig) -> list[dict[str, Any]]:
    """Every object of the injector, in apply order (the webhook last: it needs the rest)."""
    ns = config.namespace
    return [
        *_access(ns),
        _secret(config),
        service(INJECTOR, ns, INJECTOR, {"https": 443}),
        _deployment(config),
        _webhook(config),
    ]


def _cluster_meta(name: str) -> dict[str, Any]:
    meta = metadata(name, "", INJECTOR)
    del meta["namespace"]
    return meta


def _access(namespace: str) -> list[dict[str, Any]]:
    """The injector reads namespaces' annotations (meshpipe.io/inject) and nothing else."""
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(INJECTOR, namespace, INJECTOR),
        "automountServiceAccountToken": False,
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _cluster_meta(INJECTOR),
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _cluster_meta(INJECTOR),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": INJECTOR,
        },
        "subjects": [{"kind": "ServiceAccount", "name": INJECTOR, "namespace": namespace}],
    }
    return [account, role, binding]


def _secret(config: InjectorConfig) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(TLS_SECRET, config.namespace, INJECTOR),
        "type": "kubernetes.io/tls",
        "stringData": {
            "tls.crt": config.tls.cert,
            "tls.key": config.tls.key,
            "ca.crt": config.tls.ca_cert,
        },
    }


def _deployment(config: InjectorConfig) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/ready", "port": "https", "scheme": "HTTPS"}, "periodSeconds": 5}
    container = {
        "name": INJECTOR,
        "image": config.proxy_image,
        # The injector's code ships in the sidecar's own image (same version, already on every
        # node that runs meshed pods); it needs the standard library only.
        "command": ["/opt/meshpipe/bin/python", "-m", "meshpipe.cli.injector"],
        "env": [
            {"name": "MESHPIPE_INJECTOR_LISTEN", "value": f"0.0.0.0:{PORT}"},
            {"name": "MESHPIPE_INJECTOR_TLS_DIR", "value": TLS_DIR},
            {"name": "MESHPIPE_PROXY_IMAGE", "value": config.proxy_image},
            {"name": "MESHPIPE_KAFKA", "value": config.kafka_bootstrap},
        ],
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": probe | {"periodSeconds": 10},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": restricted_security_context(_PROXY_UID),
        "volumeMounts": [{"name": "tls", "mountPath": TLS_DIR, "readOnly": True}],
    }
    pod_spec = {
        # The only control-plane pod with an API token: it reads namespace annotations.
        "automountServiceAccountToken": True,
        "containers": [container],
        "volumes": [{"name": "tls", "secret": {"secretName": TLS_SECRET}}],
    }
    deployment = workload("Deployment", INJECTOR, config.namespace, 1, pod_spec)
    # A new certificate (every install makes one) restarts the injector so it serves it.
    checksum = hashlib.sha256(config.tls.cert.encode()).hexdigest()[:16]
    deployment["spec"]["template"]["metadata"]["annotations"]["meshpipe.io/tls-checksum"] = checksum
    return deployment


def _webhook(config: InjectorConfig) -> dict[str, Any]:
    """Pod creations in every namespace but the control plane's and kube-system go to the
    injector, which decides by the meshpipe.io/inject annotations; a down injector never
    blocks a pod (failurePolicy Ignore: the pod starts without the sidecar)."""
    ca_bundle = base64.b64encode(config.tls.ca_cert.encode()).decode()
    excluded = [config.namespace, "kube-system"]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": _cluster_meta(WEBHOOK),
        "webhooks": [
            {
                "name": "proxy-injector.meshpipe.io",
                "clientConfig": {
                    "service": {
                        "name": INJECTOR,
                        "namespace": config.namespace,
                        "path": WEBHOOK_PATH,
                        "port": 443,
                    },
                    "caBundle": ca_bundle,
                },
                "rules": [
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "NotIn",
                            "values": excluded,
                        }
                    ]
                },
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 10,
                "reinvocationPolicy": "IfNeeded",
            }
        ],
    }
