"""ClickHouse for the control plane: a StatefulSet with a volume, or an Altinity installation."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from meshpipe.deploy.mesh.k8s import (
    config_map,
    http_probe,
    metadata,
    secret_env,
    service,
    service_account,
    workload,
)
from meshpipe.deploy.operators import ALTINITY
from meshpipe.sinks.query import READ_BUFFER_BYTES
from meshpipe.sinks.users import DATABASE, READER_USER, WRITER_USER

COMPONENT = "clickhouse"
CREDENTIALS_SECRET = "clickhouse-credentials"  # noqa: S105 (a Secret's name)
HTTP_PORT = 8123
NATIVE_PORT = 9000
_UID = 101  # the clickhouse user of the official image


@dataclass(frozen=True)
class ClickHouseConfig:
    """Where ClickHouse runs; storage_size is a Kubernetes quantity (bytes)."""

    namespace: str
    image: str
    storage_size: str = "50Gi"
    storage_class: str | None = None
    operator: bool = False

    @property
    def service_name(self) -> str:
        # The operator names the Service of installation X `clickhouse-X`.
        return f"clickhouse-{DATABASE}" if self.operator else COMPONENT

    @property
    def host(self) -> str:
        return f"{self.service_name}.{self.namespace}.svc"


def _data(name: str) -> str:
    return resources.files("meshpipe.deploy.mesh").joinpath("clickhouse", name).read_text()


def clickhouse(config: ClickHouseConfig) -> list[dict[str, Any]]:
    if config.operator:
        return [_installation(config)]
    return [
        service_account(COMPONENT, config.namespace),
        config_map(
            "clickhouse-config",
            config.namespace,
            COMPONENT,
            {"meshpipe.xml": _data("config.xml")},
        ),
        config_map(
            "clickhouse-users", config.namespace, COMPONENT, {"meshpipe.xml": _data("users.xml")}
        ),
        service(COMPONENT, config.namespace, COMPONENT, {"http": HTTP_PORT, "native": NATIVE_PORT}),
        _statefulset(config),
    ]


def _claim(config: ClickHouseConfig) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": config.storage_size}},
    }
    if config.storage_class:
        spec["storageClassName"] = config.storage_class
    return spec


def _container(config: ClickHouseConfig) -> dict[str, Any]:
    return {
        "name": COMPONENT,
        "image": config.image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "CLICKHOUSE_SKIP_USER_SETUP", "value": "1"},
            secret_env("CLICKHOUSE_READER_PASSWORD", CREDENTIALS_SECRET, "reader-password"),
            secret_env("CLICKHOUSE_WRITER_PASSWORD", CREDENTIALS_SECRET, "writer-password"),
        ],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "native", "containerPort": NATIVE_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": http_probe("/ping", "http", 5),
        "livenessProbe": http_probe("/ping", "http", 30),
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        "securityContext": {
            "runAsUser": _UID,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/clickhouse"},
            {
                "name": "config",
                "mountPath": "/etc/clickhouse-server/config.d/meshpipe.xml",
                "subPath": "meshpipe.xml",
            },
            {
                "name": "users",
                "mountPath": "/etc/clickhouse-server/users.d/meshpipe.xml",
                "subPath": "meshpipe.xml",
            },
        ],
    }


def _statefulset(config: ClickHouseConfig) -> dict[str, Any]:
    pod_spec = {
        "securityContext": {"fsGroup": _UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(config)],
        "volumes": [
            {"name": "config", "configMap": {"name": "clickhouse-config"}},
            {"name": "users", "configMap": {"name": "clickhouse-users"}},
        ],
    }
    extra = {
        "serviceName": COMPONENT,
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": _claim(config)}],
    }
    return workload("StatefulSet", COMPONENT, config.namespace, 1, pod_spec, extra)


def _installation(config: ClickHouseConfig) -> dict[str, Any]:
    """An Altinity ClickHouseInstallation with the same users, passwords from the same Secret."""
    ns = config.namespace
    secret = f"{ns}/{CREDENTIALS_SECRET}"
    return {
        "apiVersion": ALTINITY.api_version,
        "kind": "ClickHouseInstallation",
        "metadata": metadata(DATABASE, ns, COMPONENT),
        "spec": {
            "defaults": {
                "templates": {"dataVolumeClaimTemplate": "data", "podTemplate": "clickhouse"}
            },
            "configuration": {
                "profiles": {
                    "meshpipe_readonly/readonly": 1,
                    "meshpipe_readonly/max_read_buffer_size": READ_BUFFER_BYTES,
                },
                "users": {
                    f"{WRITER_USER}/k8s_secret_password": f"{secret}/writer-password",
                    f"{WRITER_USER}/networks/ip": "::/0",
                    f"{READER_USER}/k8s_secret_password": f"{secret}/reader-password",
                    f"{READER_USER}/profile": "meshpipe_readonly",
                    f"{READER_USER}/networks/ip": "::/0",
                },
                "clusters": [{"name": DATABASE, "layout": {"shardsCount": 1, "replicasCount": 1}}],
            },
            "templates": {
                "podTemplates": [
                    {
                        "name": "clickhouse",
                        "metadata": {"annotations": {"meshpipe.io/inject": "disabled"}},
                        "spec": {"containers": [{"name": "clickhouse", "image": config.image}]},
                    }
                ],
                "volumeClaimTemplates": [{"name": "data", "spec": _claim(config)}],
            },
        },
    }
