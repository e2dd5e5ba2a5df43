"""The whole control plane as Kubernetes objects, from one frozen install configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshpipe.deploy.kafka.strimzi import KafkaClusterConfig, kafka_cluster, kafka_topics
from meshpipe.deploy.kafka.topics import TopicSet, load_spec
from meshpipe.deploy.mesh.clickhouse import (
    CREDENTIALS_SECRET,
    NATIVE_PORT,
    ClickHouseConfig,
    clickhouse,
)
from meshpipe.deploy.mesh.dashboard import COMPONENT as DASHBOARD
from meshpipe.deploy.mesh.dashboard import DashboardConfig, dashboard
from meshpipe.deploy.mesh.grafana import GrafanaConfig, grafana
from meshpipe.deploy.mesh.injector import INJECTOR, InjectorConfig, InjectorTls, injector
from meshpipe.deploy.mesh.k8s import (
    PART_OF,
    config_map,
    http_probe,
    metadata,
    restricted_security_context,
    secret_env,
    service_account,
    workload,
)
from meshpipe.deploy.mesh.kafkabroker import BrokerConfig, kafka_broker
from meshpipe.deploy.mesh.proxyspec import IMAGE_REPOSITORY
from meshpipe.deploy.mesh.rbac import rbac
from meshpipe.deploy.operators import ALTINITY, STRIMZI, Operator
from meshpipe.sinks.users import DATABASE, WRITER_USER

CONFIG_MAP = "meshpipe-config"
STREAMS = "meshstreams"
STREAMS_ADMIN_PORT = 6066
_STREAMS_UID = 2103


@dataclass(frozen=True)
class Passwords:
    """Generated at the CLI boundary; kept out of ConfigMaps (they go into one Secret)."""

    clickhouse_reader: str
    clickhouse_writer: str
    grafana_admin: str


@dataclass(frozen=True)
class InstallConfig:
    """What `meshctl install` renders. Kafka: kafka_bootstrap (an existing cluster), else one
    broker of our own (kafka_broker), else Strimzi custom resources in the namespace."""

    passwords: Passwords
    namespace: str = "meshpipe"
    image_tag: str = "latest"
    image_repository: str = IMAGE_REPOSITORY
    kafka_bootstrap: str | None = None
    with_kafka_cluster: bool = False
    clickhouse_operator: bool = False
    clickhouse_image: str = "clickhouse/clickhouse-server:25.8"
    grafana_image: str = "grafana/grafana:12.2.0"
    streams_replicas: int = 2
    kafka_broker: bool = False
    with_grafana: bool = True
    with_dashboard: bool = True
    injector_tls: InjectorTls | None = None  # None: no proxy injector

    @property
    def proxy_image(self) -> str:
        return f"{self.image_repository}/meshproxy:{self.image_tag}"

    @property
    def kafka(self) -> KafkaClusterConfig:
        return KafkaClusterConfig(namespace=self.namespace)

    @property
    def streams_image(self) -> str:
        return f"{self.image_repository}/{STREAMS}:{self.image_tag}"

    @property
    def broker(self) -> BrokerConfig:
        repository, tag = self.image_repository, self.image_tag
        return BrokerConfig(
            namespace=self.namespace,
            image=f"{repository}/kafka:{tag}",
            streams_image=f"{repository}/{STREAMS}:{tag}",
        )

    @property
    def bootstrap(self) -> str:
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        return self.broker.bootstrap if self.kafka_broker else self.kafka.bootstrap

    @property
    def topics_by(self) -> str:
        """Who creates the topics: `external` (the user), `job` (ours) or `strimzi`."""
        if self.kafka_bootstrap:
            return "external"
        return "job" if self.kafka_broker else "strimzi"

    @property
    def components(self) -> tuple[str, ...]:
        """The control plane's long-running components, as their pods' name label."""
        kafka = ("kafka",) if self.topics_by == "job" else ()
        injector = (INJECTOR,) if self.injector_tls is not None else ()
        grafana = ("grafana",) if self.with_grafana else ()
        board = (DASHBOARD,) if self.with_dashboard else ()
        return (STREAMS, "clickhouse", *kafka, *grafana, *board, *injector)

    @property
    def clickhouse(self) -> ClickHouseConfig:
        return ClickHouseConfig(
            namespace=self.namespace,
            image=self.clickhouse_image,
            operator=self.clickhouse_operator,
        )


def render(config: InstallConfig, topics: TopicSet | None = None) -> list[dict[str, Any]]:
    """Every object in apply order: namespace, identity and access, config, data, workloads."""
    ch = config.clickhouse
    objects = [
        _namespace(config.namespace),
        *rbac(config.namespace, ch.service_name, CREDENTIALS_SECRET),
        _settings(config),
        _secret(config),
    ]
    if config.topics_by == "job":
        objects.extend(kafka_broker(config.broker))
    elif config.topics_by == "strimzi":
        if config.with_kafka_cluster:
            objects.extend(kafka_cluster(config.kafka))
        objects.extend(kafka_topics(topics if topics is not None else load_spec(), config.kafka))
    objects.extend(clickhouse(ch))
    objects.extend(_streams(config))
    if config.with_grafana:
        objects.extend(grafana(GrafanaConfig(config.namespace, config.grafana_image, ch.host)))
    if config.with_dashboard:
        board = DashboardConfig(config.namespace, config.streams_image, ch.host, config.bootstrap)
        objects.extend(dashboard(board))
    if config.injector_tls is not None:
        tls = config.injector_tls
        objects.extend(
            injector(InjectorConfig(config.namespace, config.proxy_image, config.bootstrap, tls))
        )
    return objects


def operators(config: InstallConfig) -> list[Operator]:
    """The operator releases whose custom resources render(config) writes (they must run)."""
    needed = [STRIMZI] if config.topics_by == "strimzi" else []
    return [*needed, ALTINITY] if config.clickhouse_operator else needed


def _namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/part-of": PART_OF,
                "pod-security.kubernetes.io/enforce": "baseline",
            },
            # The control plane is not meshed: its own traffic would feed back into Kafka.
            "annotations": {"meshpipe.io/inject": "disabled"},
        },
    }


def _settings(config: InstallConfig) -> dict[str, Any]:
    """What `meshctl check` reads to know what this installation should look like."""
    ch = config.clickhouse
    return config_map(
        CONFIG_MAP,
        config.namespace,
        "config",
        {
            "kafka-bootstrap": config.bootstrap,
            "kafka-topics": config.topics_by,
            "kafka-cluster": config.kafka.name if config.topics_by == "strimzi" else "",
            "components": ",".join(config.components),
            "clickhouse-service": ch.service_name,
            "clickhouse-database": DATABASE,
            "image-tag": config.image_tag,
        },
    )


def _secret(config: InstallConfig) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(CREDENTIALS_SECRET, config.namespace, "clickhouse"),
        "type": "Opaque",
        "stringData": {
            "reader-password": config.passwords.clickhouse_reader,
            "writer-password": config.passwords.clickhouse_writer,
            "grafana-admin-password": config.passwords.grafana_admin,
        },
    }


def _clickhouse_env(config: InstallConfig) -> list[dict[str, Any]]:
    """MESHPIPE_CLICKHOUSE as the writer. Kubernetes expands $(VAR) from variables defined above
    it, so the password stays in the Secret. Generated passwords are URL-safe."""
    return [
        {"name": "MESHPIPE_CLICKHOUSE_USER", "value": WRITER_USER},
        secret_env("MESHPIPE_CLICKHOUSE_PASSWORD", CREDENTIALS_SECRET, "writer-password"),
        {
            "name": "MESHPIPE_CLICKHOUSE",
            "value": "clickhouse://$(MESHPIPE_CLICKHOUSE_USER):$(MESHPIPE_CLICKHOUSE_PASSWORD)"
            f"@{config.clickhouse.host}:{NATIVE_PORT}/{DATABASE}",
        },
    ]


def _migrate(config: InstallConfig, image: str) -> dict[str, Any]:
    """The init container that creates the database and applies the schema migrations before
    the worker starts (idempotent; a ClickHouse not ready yet fails it and the kubelet retries)."""
    return {
        "name": "migrate",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["migrate"],
        "env": _clickhouse_env(config),
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": restricted_security_context(_STREAMS_UID),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 (pod-private)
    }


def _streams(config: InstallConfig) -> list[dict[str, Any]]:
    ns = config.namespace
    image = config.streams_image
    container = {
        "name": STREAMS,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["worker"],
        "env": [
            {"name": "MESHPIPE_KAFKA", "value": config.bootstrap},
            *_clickhouse_env(config),
            {"name": "MESHPIPE_STREAMS_DATA_DIR", "value": "/var/lib/meshstreams"},
            {"name": "MESHPIPE_WEB_PORT", "value": str(STREAMS_ADMIN_PORT)},
            # Bound beyond loopback so the kubelet's probes reach /ready and /live.
            {"name": "MESHPIPE_WEB_BIND", "value": "0.0.0.0"},  # noqa: S104 - pod network only
        ],
        "ports": [{"name": "admin", "containerPort": STREAMS_ADMIN_PORT, "protocol": "TCP"}],
        "readinessProbe": http_probe("/ready", "admin", 5),
        "livenessProbe": http_probe("/live", "admin", 30),
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": restricted_security_context(_STREAMS_UID),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/meshstreams"},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (a pod-private emptyDir)
        ],
    }
    pod_spec = {
        "initContainers": [_migrate(config, image)],
        "containers": [container],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    deployment = workload("Deployment", STREAMS, ns, config.streams_replicas, pod_spec)
    return [service_account(STREAMS, ns), deployment]
