"""Grafana with the ClickHouse data source provisioned and meshpipe's dashboards mounted."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from meshpipe.deploy.mesh.clickhouse import CREDENTIALS_SECRET, NATIVE_PORT
from meshpipe.deploy.mesh.k8s import (
    config_map,
    http_probe,
    restricted_security_context,
    secret_env,
    service,
    service_account,
    workload,
)
from meshpipe.sinks.users import DATABASE, READER_USER

COMPONENT = "grafana"
PLUGIN = "grafana-clickhouse-datasource"
# Pinned: tests/grafana_sql.py models this plugin line's macros; 4.15+ needs Grafana 11.6+.
PLUGIN_VERSION = "4.20.0"
DATASOURCE_UID = "meshpipe-clickhouse"
PORT = 3000
_DASHBOARD_DIR = "/var/lib/grafana/dashboards/meshpipe"
_UID = 472  # the grafana user of the official image


@dataclass(frozen=True)
class GrafanaConfig:
    namespace: str
    image: str
    clickhouse_host: str


def dashboards(directory: Traversable | None = None) -> dict[str, str]:
    """Every dashboard JSON under deploy/mesh/grafana/, by file name (none yet is fine)."""
    root = (
        directory if directory is not None else resources.files("meshpipe.deploy.mesh") / "grafana"
    )
    if not root.is_dir():
        return {}
    files = sorted((f for f in root.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    return {f.name: f.read_text(encoding="utf-8") for f in files}


def datasource(config: GrafanaConfig) -> dict[str, Any]:
    """Provisioning for the plugin; Grafana expands $VARS from its environment at start."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "meshpipe",
                "uid": DATASOURCE_UID,
                "type": PLUGIN,
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "host": config.clickhouse_host,
                    "port": NATIVE_PORT,
                    "protocol": "native",
                    "secure": False,
                    "username": READER_USER,
                    "defaultDatabase": DATABASE,
                },
                "secureJsonData": {"password": "$CLICKHOUSE_READER_PASSWORD"},
            }
        ],
    }


def _provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "meshpipe",
                "folder": "meshpipe",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": _DASHBOARD_DIR},
            }
        ],
    }


def grafana(config: GrafanaConfig) -> list[dict[str, Any]]:
    ns = config.namespace
    provisioning = {
        "datasources.yaml": yaml.safe_dump(datasource(config), sort_keys=False),
        "dashboards.yaml": yaml.safe_dump(_provider(), sort_keys=False),
    }
    return [
        service_account(COMPONENT, ns),
        config_map("grafana-provisioning", ns, COMPONENT, provisioning),
        config_map("grafana-dashboards", ns, COMPONENT, dashboards()),
        service(COMPONENT, ns, COMPONENT, {"http": PORT}),
        _deployment(config),
    ]


def _container(config: GrafanaConfig) -> dict[str, Any]:
    return {
        "name": COMPONENT,
        "image": config.image,
        "env": [
            {"name": "GF_PLUGINS_PREINSTALL_SYNC", "value": f"{PLUGIN}@{PLUGIN_VERSION}"},
            {"name": "GF_PATHS_PROVISIONING", "value": "/etc/grafana/provisioning"},
            {"name": "GF_ANALYTICS_REPORTING_ENABLED", "value": "false"},
            secret_env("GF_SECURITY_ADMIN_PASSWORD", CREDENTIALS_SECRET, "grafana-admin-password"),
            secret_env("CLICKHOUSE_READER_PASSWORD", CREDENTIALS_SECRET, "reader-password"),
        ],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": http_probe("/api/health", "http", 5),
        "livenessProbe": http_probe("/api/health", "http", 60),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": restricted_security_context(_UID),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/grafana"},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (a pod-private emptyDir)
            {"name": "datasources", "mountPath": "/etc/grafana/provisioning/datasources"},
            {"name": "providers", "mountPath": "/etc/grafana/provisioning/dashboards"},
            {"name": "dashboards", "mountPath": _DASHBOARD_DIR},
        ],
    }


def _item(key: str) -> list[dict[str, str]]:
    return [{"key": key, "path": key}]


def _deployment(config: GrafanaConfig) -> dict[str, Any]:
    volumes = [
        {"name": "data", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
        {
            "name": "datasources",
            "configMap": {"name": "grafana-provisioning", "items": _item("datasources.yaml")},
        },
        {
            "name": "providers",
            "configMap": {"name": "grafana-provisioning", "items": _item("dashboards.yaml")},
        },
        {"name": "dashboards", "configMap": {"name": "grafana-dashboards"}},
    ]
    pod_spec = {
        "securityContext": {"fsGroup": _UID},
        "containers": [_container(config)],
        "volumes": volumes,
    }
    return workload("Deployment", COMPONENT, config.namespace, 1, pod_spec)
