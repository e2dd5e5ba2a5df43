"""Every manifest meshctl writes validates offline: core kinds against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict, a pinned version), CRDs against their shapes here."""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from golden import GOLDEN

from meshpipe.cli.install import install
from meshpipe.deploy.kafka.strimzi import generated_files
from meshpipe.deploy.mesh.yamlio import load_documents

KUBERNETES_VERSION = "1.33.0"

_META = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}},
}
_CONFIG = {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}}


def _crd(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"metadata": _META, "spec": spec, **extra},
    }


CRD_SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): _crd(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "topicName": {"type": "string"},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": _CONFIG,
            },
        }
    ),
    ("kafka.strimzi.io/v1beta2", "Kafka"): _crd(
        {
            "type": "object",
            "required": ["kafka"],
            "properties": {
                "kafka": {
                    "type": "object",
                    "required": ["listeners"],
                    "properties": {
                        "version": {"type": "string"},
                        "listeners": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name", "port", "type", "tls"],
                                "properties": {
                                    "name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
                                    "port": {"type": "integer", "minimum": 9092},
                                    "type": {
                                        "enum": [
                                            "internal",
                                            "route",
                                            "loadbalancer",
                                            "nodeport",
                                            "ingress",
                                            "cluster-ip",
                                        ]
                                    },
                                    "tls": {"type": "boolean"},
                                },
                            },
                        },
                        "config": _CONFIG,
                    },
                },
                "entityOperator": {"type": "object"},
            },
        }
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): _crd(
        {
            "type": "object",
            "required": ["replicas", "roles", "storage"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 0},
                "roles": {"type": "array", "items": {"enum": ["controller", "broker"]}},
                "storage": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"enum": ["jbod", "ephemeral", "persistent-claim"]},
                        "volumes": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "type"],
                                "properties": {
                                    "id": {"type": "integer"},
                                    "type": {"enum": ["ephemeral", "persistent-claim"]},
                                    "size": {"type": "string"},
                                    "deleteClaim": {"type": "boolean"},
                                    "kraftMetadata": {"enum": ["shared"]},
                                },
                            },
                        },
                    },
                },
            },
        },
        metadata={
            **_META,
            "properties": {
                **_META["properties"],
                "labels": {"type": "object", "required": ["strimzi.io/cluster"]},
            },
            "required": ["name", "labels"],
        },
    ),
    ("clickhouse.altinity.com/v1", "ClickHouseInstallation"): _crd(
        {
            "type": "object",
            "required": ["configuration"],
            "properties": {
                "defaults": {"type": "object"},
                "configuration": {
                    "type": "object",
                    "properties": {
                        "users": _CONFIG,
                        "profiles": _CONFIG,
                        "clusters": {
                            "type": "array",
                            "items": {"type": "object", "required": ["name"]},
                        },
                    },
                },
                "templates": {"type": "object"},
            },
        }
    ),
}


def _install_docs(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(install, list(args), obj=lambda: "pw")
    assert result.exit_code == 0, result.output
    return list(yaml.safe_load_all(result.stdout))


def _generated() -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    variants = [
        (),
        ("--clickhouse-operator",),
        ("--kafka-bootstrap", "k:9092"),
        ("--with-kafka-cluster",),
    ]
    for args in variants:
        docs += [(f"install {' '.join(args)}", d) for d in _install_docs(*args)]
    for path in sorted((GOLDEN / "inject" / "injected").glob("*.yaml")):
        for doc in load_documents(path.read_text()):
            items = doc["items"] if doc["kind"] == "List" else [doc]
            docs += [(path.name, item) for item in items]
    for name, text in generated_files().items():
        docs += [(f"strimzi/{name}", d) for d in load_documents(text)]
    return docs


DOCS = _generated()


def _id(entry: tuple[str, dict[str, Any]]) -> str:
    source, doc = entry
    name = doc["metadata"].get("name") or doc["metadata"].get("generateName")
    return f"{source}:{doc['kind']}/{name}"


@pytest.mark.parametrize("entry", DOCS, ids=[_id(e) for e in DOCS])
def test_manifest_validates_offline(entry: tuple[str, dict[str, Any]]) -> None:
    _, doc = entry
    shape = CRD_SHAPES.get((doc["apiVersion"], doc["kind"]))
    if shape is not None:
        jsonschema.validate(doc, shape)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validation_catches_a_misspelled_field() -> None:
    [deployment] = [d for _, d in DOCS if d["kind"] == "Deployment"][:1]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_crd_shape_catches_a_misspelled_topic_field() -> None:
    topic = next(d for _, d in DOCS if d["kind"] == "KafkaTopic")
    broken = {**topic, "spec": {**topic["spec"], "partiton": 3}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, CRD_SHAPES[("kafka.strimzi.io/v1beta2", "KafkaTopic")])


def test_every_kind_written_is_covered() -> None:
    kinds = {d["kind"] for _, d in DOCS}
    assert {
        "KafkaTopic",
        "Kafka",
        "KafkaNodePool",
        "ClickHouseInstallation",
        "StatefulSet",
        "CronJob",
        "Pod",
        "Role",
        "ClusterRoleBinding",
    } <= kinds
