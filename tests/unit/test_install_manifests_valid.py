"""Every manifest meshctl writes validates offline: core kinds against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict, a pinned version), Strimzi resources against the CRDs of
the Strimzi release in deploy/operators.py (`meshctl dev fetch` generates them from its Maven
Central jars into the cache; this test fetches them when absent and fails when it cannot)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from golden import GOLDEN, INSTALL_VARIANTS

from meshpipe.cli.install import install
from meshpipe.deploy.dev.crds import fetch_strimzi_crds, load_strimzi_crds, version_schema
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.deploy.dev.stack import DevStackSettings
from meshpipe.deploy.kafka.strimzi import generated_files
from meshpipe.deploy.mesh.yamlio import load_documents
from meshpipe.deploy.operators import ALTINITY, STRIMZI

KUBERNETES_VERSION = "1.33.0"
Schemas = dict[tuple[str, str], dict[str, Any]]

# Stand-in for the Altinity CRD, which no registry reachable here serves (the Go module proxy
# refuses github.com/altinity/clickhouse-operator): the shape of what meshpipe writes, no more.
_CONFIG = {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}}
ALTINITY_STAND_IN = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "spec": {
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
    },
}


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with unknown fields as errors, as the API server treats them under `kubectl
    apply`'s default --validate=strict: every object with properties that neither preserves
    unknown fields nor is a map gets additionalProperties false."""
    out = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                close(item)
        elif isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)

    close(out)
    return out


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    cache = DevStackSettings.from_env().cache_dir
    try:
        fetch_strimzi_crds(cache)
        crds = load_strimzi_crds(cache)
    except DevStackError as exc:
        pytest.fail(f"no Strimzi {STRIMZI.version} CRDs to validate against: {exc}", pytrace=False)
    version = STRIMZI.api_version.partition("/")[2]
    found = {(STRIMZI.api_version, k): strict(version_schema(c, version)) for k, c in crds.items()}
    return {**found, (ALTINITY.api_version, "ClickHouseInstallation"): ALTINITY_STAND_IN}


def validate(doc: dict[str, Any], schemas: Schemas) -> None:
    """Custom resources against their operator's schema (LookupError: a version it does not
    serve), their metadata as ObjectMeta; everything else with kubernetes-validate."""
    group = doc["apiVersion"].partition("/")[0]
    if group not in (STRIMZI.group, ALTINITY.group):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        return
    schema = schemas.get((doc["apiVersion"], doc["kind"]))
    if schema is None:
        raise LookupError(f"no CRD schema for {doc['apiVersion']} {doc['kind']}")
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in jsonschema.Draft4Validator(schema).iter_errors(doc)
    ]
    if errors:
        raise jsonschema.ValidationError("; ".join(sorted(errors)))
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]}
    kubernetes_validate.validate(carrier, KUBERNETES_VERSION, strict=True)


def _install_docs(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(install, list(args), obj=lambda: "pw")
    assert result.exit_code == 0, result.output
    return list(yaml.safe_load_all(result.stdout))


def _generated() -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for variant, args in INSTALL_VARIANTS.items():
        docs += [(f"install[{variant}]", d) for d in _install_docs(*args)]
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


def _first(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for _, d in DOCS if d["kind"] == kind))


@pytest.mark.parametrize("entry", DOCS, ids=[_id(e) for e in DOCS])
def test_manifest_validates_offline(entry: tuple[str, dict[str, Any]], schemas: Schemas) -> None:
    validate(entry[1], schemas)


def test_validation_catches_a_misspelled_field() -> None:
    broken = _first("Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_strimzi_resources_are_written_in_v1_only() -> None:
    versions = {d["apiVersion"] for _, d in DOCS if d["apiVersion"].startswith("kafka.strimzi.io")}
    assert versions == {"kafka.strimzi.io/v1"}


def test_a_v1beta2_resource_has_no_schema(schemas: Schemas) -> None:
    topic = _first("KafkaTopic")
    topic["apiVersion"] = "kafka.strimzi.io/v1beta2"
    with pytest.raises(LookupError, match="v1beta2 KafkaTopic"):
        validate(topic, schemas)


def test_crd_rejects_a_topic_with_string_partitions(schemas: Schemas) -> None:
    topic = _first("KafkaTopic")
    topic["spec"]["partitions"] = "6"
    with pytest.raises(jsonschema.ValidationError, match="'6' is not of type 'integer'"):
        validate(topic, schemas)


def test_crd_rejects_a_misspelled_topic_field(schemas: Schemas) -> None:
    topic = _first("KafkaTopic")
    topic["spec"]["partiton"] = 3
    with pytest.raises(jsonschema.ValidationError, match="'partiton' was unexpected"):
        validate(topic, schemas)


def _kafka_user(rule: dict[str, Any]) -> dict[str, Any]:
    acl = {"resource": {"type": "topic", "name": "meshpipe.requests.v1"}, **rule}
    return {
        "apiVersion": STRIMZI.api_version,
        "kind": "KafkaUser",
        "metadata": {"name": "meshstreams", "labels": {"strimzi.io/cluster": "meshpipe"}},
        "spec": {
            "authentication": {"type": "tls"},
            "authorization": {"type": "simple", "acls": [acl]},
        },
    }


def test_crd_accepts_a_kafka_user_acl_with_operations(schemas: Schemas) -> None:
    validate(_kafka_user({"operations": ["Read", "Describe"]}), schemas)


def test_crd_rejects_a_kafka_user_acl_with_the_v1beta2_operation_field(schemas: Schemas) -> None:
    with pytest.raises(jsonschema.ValidationError, match="'operations' is a required property"):
        validate(_kafka_user({"operation": "Read"}), schemas)


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
