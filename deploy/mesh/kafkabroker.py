"""One Apache Kafka broker (KRaft, broker and controller in one pod) and a Job that creates the
topics: the install's Kafka where no Strimzi operator runs (`meshctl install --kafka-broker`).

It has no replication and no rolling upgrades; Strimzi stays the default for real clusters. The
broker has a second listener bound to the pod's loopback and advertised as 127.0.0.1:HOST_PORT:
`kubectl port-forward` reaches exactly that address from the operator's machine, which is how
`meshtap --kubeconfig` consumes. That works because there is one broker; with several, each
would have to advertise its own forwarded address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshpipe.deploy.mesh.k8s import (
    config_map,
    metadata,
    service,
    service_account,
    workload,
)

COMPONENT = "kafka"
PORT = 9092  # the pods' listener (PLAINTEXT)
HOST_PORT = 19092  # the port-forward listener, on the pod's loopback, same number on the host
_CONTROLLER_PORT = 9093
_UID = 1001
_DATA = "/var/lib/kafka"
_CONFIG = "/etc/kafka"

_PROPERTIES = """# One KRaft node (broker and controller), from `meshctl install --kafka-broker`.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://0.0.0.0:{port},CONTROLLER://127.0.0.1:{controller},HOST://127.0.0.1:{host}
advertised.listeners=PLAINTEXT://{service}:{port},HOST://127.0.0.1:{host}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,HOST:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
background.threads=4
"""


@dataclass(frozen=True)
class BrokerConfig:
    """The broker's place and image; storage_size is a Kubernetes quantity (bytes)."""

    namespace: str
    image: str
    streams_image: str  # runs `meshstreams topics` in the Job
    storage_size: str = "10Gi"
    heap_mb: int = 512

    @property
    def bootstrap(self) -> str:
        return f"{COMPONENT}.{self.namespace}.svc:{PORT}"


def kafka_broker(config: BrokerConfig) -> list[dict[str, Any]]:
    """The broker's ServiceAccount, ConfigMap, Service and StatefulSet, and the topics Job."""
    ns = config.namespace
    properties = _PROPERTIES.format(
        port=PORT,
        controller=_CONTROLLER_PORT,
        host=HOST_PORT,
        service=f"{COMPONENT}.{ns}.svc",
        data=_DATA,
    )
    broker_service = service(COMPONENT, ns, COMPONENT, {"kafka": PORT})
    # The broker's own advertised name must resolve while it starts, before it is Ready.
    broker_service["spec"]["publishNotReadyAddresses"] = True
    return [
        service_account(COMPONENT, ns),
        config_map("kafka-config", ns, COMPONENT, {"server.properties": properties}),
        broker_service,
        _statefulset(config),
        _topics_job(config),
    ]


def _statefulset(config: BrokerConfig) -> dict[str, Any]:
    container = {
        "name": COMPONENT,
        "image": config.image,
        "imagePullPolicy": "IfNotPresent",
        "args": [f"{_CONFIG}/server.properties"],
        "env": [{"name": "KAFKA_HEAP_MB", "value": str(config.heap_mb)}],
        "ports": [
            {"name": "kafka", "containerPort": PORT, "protocol": "TCP"},
            {"name": "host", "containerPort": HOST_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "tcpSocket": {"port": "kafka"},
            "initialDelaySeconds": 5,
            "periodSeconds": 5,
        },
        "livenessProbe": {
            "tcpSocket": {"port": "kafka"},
            "initialDelaySeconds": 60,
            "periodSeconds": 20,
        },
        "resources": {
            "requests": {"cpu": "250m", "memory": f"{config.heap_mb + 256}Mi"},
            "limits": {"memory": f"{config.heap_mb * 2 + 256}Mi"},
        },
        "securityContext": {
            "runAsUser": _UID,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": _DATA},
            {"name": "config", "mountPath": _CONFIG},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (a pod-private emptyDir)
        ],
    }
    pod_spec = {
        "securityContext": {"fsGroup": _UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": "kafka-config"}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    claim = {
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": config.storage_size}},
        },
    }
    extra = {"serviceName": COMPONENT, "volumeClaimTemplates": [claim]}
    return workload("StatefulSet", COMPONENT, config.namespace, 1, pod_spec, extra)


def _topics_job(config: BrokerConfig) -> dict[str, Any]:
    """Creates the topics of deploy/kafka/topics.yaml (the image's copy) once the broker
    answers; retried by the Job controller until it does."""
    name = "kafka-topics"
    container = {
        "name": "topics",
        "image": config.streams_image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["topics", "--timeout", "120"],
        "env": [{"name": "MESHPIPE_KAFKA", "value": config.bootstrap}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "runAsUser": 2103,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(name, config.namespace, name),
        "spec": {
            "backoffLimit": 10,
            "template": {
                "metadata": {
                    "labels": metadata(name, config.namespace, name)["labels"],
                    "annotations": {"meshpipe.io/inject": "disabled"},
                },
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "serviceAccountName": COMPONENT,
                    "containers": [container],
                },
            },
        },
    }
