"""The meshproxy sidecar and its iptables init container, as Kubernetes container specs."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any

PROXY_CONTAINER = "meshproxy"
INIT_CONTAINER = "meshproxy-init"
INJECT_ANNOTATION = "meshpipe.io/inject"
VERSION_ANNOTATION = "meshpipe.io/proxy-version"
DEFAULT_KAFKA_BOOTSTRAP = "meshpipe-kafka-bootstrap.meshpipe.svc:9092"
IMAGE_REPOSITORY = "ghcr.io/meshpipe"

_INBOUND_CHAIN = "MESHPIPE_PROXY_INBOUND"
_OUTBOUND_CHAIN = "MESHPIPE_PROXY_OUTBOUND"


def package_version() -> str:
    """The installed meshpipe version: the default tag of every image meshctl writes."""
    try:
        return importlib.metadata.version("meshpipe")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def default_proxy_image() -> str:
    return f"{IMAGE_REPOSITORY}/meshproxy:{package_version()}"


@dataclass(frozen=True)
class ProxyConfig:
    """Everything that shapes the injected containers; ports are TCP ports, uid a Linux user id."""

    image: str
    kafka_bootstrap: str = DEFAULT_KAFKA_BOOTSTRAP
    inbound_port: int = 4143
    outbound_port: int = 4140
    admin_port: int = 4191
    proxy_uid: int = 2102
    transparent: bool = True
    cpu_request: str = "10m"
    memory_request: str = "32Mi"
    memory_limit: str = "256Mi"

    def __post_init__(self) -> None:
        ports = (self.inbound_port, self.outbound_port, self.admin_port)
        if len(set(ports)) != 3 or not all(0 < p < 65536 for p in ports):
            raise ValueError(f"proxy ports must be three distinct TCP ports, got {ports}")
        if self.proxy_uid <= 0:
            raise ValueError("the proxy must not run as root (uid 0)")

    @property
    def version_label(self) -> str:
        """The image tag (what the version annotation records), or `latest` without one."""
        last = self.image.rsplit("/", 1)[-1]
        _name, sep, tag = last.partition(":")
        return tag.split("@", 1)[0] if sep and tag else "latest"


def iptables_rules(config: ProxyConfig) -> list[str]:
    """linkerd-init's redirect: inbound TCP to the inbound port except the admin port; outbound
    TCP to the outbound port except the proxy's own traffic (by uid) and loopback."""
    nat = "iptables -w -t nat"
    return [
        f"{nat} -N {_INBOUND_CHAIN}",
        f"{nat} -A {_INBOUND_CHAIN} -p tcp --dport {config.admin_port} -j RETURN",
        f"{nat} -A {_INBOUND_CHAIN} -p tcp --dport {config.inbound_port} -j RETURN",
        f"{nat} -A {_INBOUND_CHAIN} -p tcp -j REDIRECT --to-ports {config.inbound_port}",
        f"{nat} -A PREROUTING -j {_INBOUND_CHAIN}",
        f"{nat} -N {_OUTBOUND_CHAIN}",
        f"{nat} -A {_OUTBOUND_CHAIN} -m owner --uid-owner {config.proxy_uid} -j RETURN",
        f"{nat} -A {_OUTBOUND_CHAIN} -o lo -j RETURN",
        f"{nat} -A {_OUTBOUND_CHAIN} -p tcp -j REDIRECT --to-ports {config.outbound_port}",
        f"{nat} -A OUTPUT -j {_OUTBOUND_CHAIN}",
    ]


def init_container(config: ProxyConfig) -> dict[str, Any]:
    """Runs once before the app: installs the redirect (needs NET_ADMIN and NET_RAW, as root)."""
    script = "set -e\n" + "\n".join(iptables_rules(config)) + "\n"
    return {
        "name": INIT_CONTAINER,
        "image": config.image,
        "command": ["/bin/sh", "-c", script],
        "resources": {
            "requests": {"cpu": config.cpu_request, "memory": "16Mi"},
            "limits": {"memory": "64Mi"},
        },
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            # iptables writes its lock file under /run.
            "readOnlyRootFilesystem": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        },
    }


def proxy_container(config: ProxyConfig, kind: str, name: str | None) -> dict[str, Any]:
    """The sidecar for one workload; name None means a bare pod whose name comes from the API.

    A native sidecar (an init container with restartPolicy Always, Kubernetes 1.29+): the
    kubelet starts the app only once the startup probe passed, so the app's first connections,
    which the iptables redirect already sends to the proxy, are never refused; it stops the
    proxy after the app, and a Job's pod completes when its app does. The app's containers
    stay as they were (kubectl logs/exec still pick the app)."""
    return {
        "name": PROXY_CONTAINER,
        "image": config.image,
        "restartPolicy": "Always",
        "args": ["--transparent"] if config.transparent else [],
        "env": _env(config, kind, name),
        "ports": [
            {"name": "meshproxy-in", "containerPort": config.inbound_port, "protocol": "TCP"},
            {"name": "meshproxy-admin", "containerPort": config.admin_port, "protocol": "TCP"},
        ],
        "startupProbe": {
            "httpGet": {"path": "/ready", "port": config.admin_port},
            "periodSeconds": 1,
            "failureThreshold": 120,
        },
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": config.admin_port},
            "periodSeconds": 10,
        },
        "livenessProbe": {
            "httpGet": {"path": "/live", "port": config.admin_port},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
        },
        "resources": {
            "requests": {"cpu": config.cpu_request, "memory": config.memory_request},
            "limits": {"memory": config.memory_limit},
        },
        "securityContext": {
            "runAsUser": config.proxy_uid,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _field(path: str) -> dict[str, Any]:
    return {"fieldRef": {"fieldPath": path}}


def _env(config: ProxyConfig, kind: str, name: str | None) -> list[dict[str, Any]]:
    workload_name: dict[str, Any] = (
        {"value": name} if name is not None else {"valueFrom": _field("metadata.name")}
    )
    # MESHPIPE_WORKLOAD refers to the variables above it: Kubernetes expands $(VAR) in order.
    return [
        {"name": "MESHPIPE_NAMESPACE", "valueFrom": _field("metadata.namespace")},
        {"name": "MESHPIPE_WORKLOAD_KIND", "value": kind},
        {"name": "MESHPIPE_WORKLOAD_NAME", **workload_name},
        {
            "name": "MESHPIPE_WORKLOAD",
            "value": "$(MESHPIPE_NAMESPACE)/$(MESHPIPE_WORKLOAD_KIND)/$(MESHPIPE_WORKLOAD_NAME)",
        },
        {"name": "MESHPIPE_POD", "valueFrom": _field("metadata.name")},
        {"name": "MESHPIPE_POD_IP", "valueFrom": _field("status.podIP")},
        {"name": "MESHPIPE_KAFKA", "value": config.kafka_bootstrap},
        # The names meshproxy reads (cli/meshproxy.py). The iptables OUTPUT redirect lands on
        # loopback; the PREROUTING (inbound) redirect delivers to the pod IP, so the inbound
        # listener and the admin port (the kubelet's probes) listen on every address. Inbound
        # has no =APP: each connection goes to 127.0.0.1 at its original port.
        {"name": "MESHPIPE_INBOUND", "value": f"0.0.0.0:{config.inbound_port}"},
        {"name": "MESHPIPE_OUTBOUND", "value": f"127.0.0.1:{config.outbound_port}"},
        {"name": "MESHPIPE_TRANSPARENT", "value": "true"},
        {"name": "MESHPIPE_ADMIN", "value": f"0.0.0.0:{config.admin_port}"},
    ]
