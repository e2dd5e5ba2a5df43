"""The in-cluster dashboard: `meshctl dashboard` from the meshstreams image, reading ClickHouse
as the read-only user and Kafka at the install's bootstrap, behind a ClusterIP Service that
`meshctl dashboard --kubeconfig/--context` port-forwards to (as `linkerd viz dashboard`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshpipe.deploy.mesh.clickhouse import CREDENTIALS_SECRET, NATIVE_PORT
from meshpipe.deploy.mesh.k8s import (
    http_probe,
    restricted_security_context,
    secret_env,
    service,
    service_account,
    workload,
)
from meshpipe.sinks.users import DATABASE, READER_USER

COMPONENT = "dashboard"
PORT = 50750  # meshctl dashboard's default, linkerd viz dashboard's
_UID = 2103  # the meshstreams image's user
_MESHCTL = "/opt/meshpipe/bin/meshctl"


@dataclass(frozen=True)
class DashboardConfig:
    namespace: str
    image: str  # the meshstreams image: it carries meshctl, aiohttp and the assets
    clickhouse_host: str
    kafka_bootstrap: str


def dashboard(config: DashboardConfig) -> list[dict[str, Any]]:
    ns = config.namespace
    pod_spec = {
        "containers": [_container(config)],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    return [
        service_account(COMPONENT, ns),
        service(COMPONENT, ns, COMPONENT, {"http": PORT}),
        workload("Deployment", COMPONENT, ns, 1, pod_spec),
    ]


def _container(config: DashboardConfig) -> dict[str, Any]:
    return {
        "name": COMPONENT,
        "image": config.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [_MESHCTL],
        # Beyond loopback so the Service and the kubelet's probes reach it; ClusterIP only.
        "args": ["dashboard", "--listen", "0.0.0.0", "--port", str(PORT)],  # noqa: S104
        "env": [
            {"name": "MESHPIPE_KAFKA", "value": config.kafka_bootstrap},
            {"name": "MESHPIPE_CLICKHOUSE_USER", "value": READER_USER},
            secret_env("MESHPIPE_CLICKHOUSE_PASSWORD", CREDENTIALS_SECRET, "reader-password"),
            {
                # Kubernetes expands $(VAR) from the variables above: the password stays in the
                # Secret. Generated passwords are URL-safe.
                "name": "MESHPIPE_CLICKHOUSE",
                "value": "clickhouse://$(MESHPIPE_CLICKHOUSE_USER):$(MESHPIPE_CLICKHOUSE_PASSWORD)"
                f"@{config.clickhouse_host}:{NATIVE_PORT}/{DATABASE}",
            },
        ],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        # /api/config answers from memory (the Grafana links): no ClickHouse round trip.
        "readinessProbe": http_probe("/api/config", "http", 5),
        "livenessProbe": http_probe("/api/config", "http", 30),
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": restricted_security_context(_UID),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 (pod-private)
    }
