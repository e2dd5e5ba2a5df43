"""`meshctl install` output matches its golden files, and the Strimzi files are up to date."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from golden import GOLDEN, INSTALL_VARIANTS, check_golden

from meshpipe.cli.install import SecretFactories, install
from meshpipe.deploy.kafka.strimzi import GENERATED_DIR, generated_files
from meshpipe.deploy.kafka.topics import load_spec
from meshpipe.deploy.mesh.injector import InjectorTls
from meshpipe.schemas.exits import CliError, ExitStatus
from meshpipe.schemas.topics import REQUESTS
from meshpipe.sinks.users import READER_USER

FIXED_TLS = InjectorTls("-- ca certificate --\n", "-- serving certificate --\n", "-- key --\n")
FIXED = SecretFactories(lambda: "secret", lambda _namespace: FIXED_TLS)


def _install(*args: str) -> str:
    result = CliRunner().invoke(install, ["--image-tag", "golden", *args], obj=FIXED)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("variant", INSTALL_VARIANTS)
def test_install_output_matches_golden(variant: str) -> None:
    check_golden(GOLDEN / "install" / f"{variant}.yaml", _install(*INSTALL_VARIANTS[variant]))


def test_default_install_has_a_kafka_topic_per_spec_topic() -> None:
    docs = list(yaml.safe_load_all(_install()))
    names = {d["spec"]["topicName"] for d in docs if d["kind"] == "KafkaTopic"}
    assert names == {t.name for t in load_spec().topics}


def test_requests_partitions_flag_sets_only_the_requests_topic() -> None:
    docs = list(yaml.safe_load_all(_install("--requests-partitions", "48")))
    partitions = {
        d["spec"]["topicName"]: d["spec"]["partitions"] for d in docs if d["kind"] == "KafkaTopic"
    }
    assert partitions == {
        t.name: (48 if t.name == REQUESTS else t.partitions) for t in load_spec().topics
    }


def test_external_kafka_install_has_no_strimzi_resources() -> None:
    docs = list(yaml.safe_load_all(_install("--kafka-bootstrap", "kafka:9092")))
    assert not [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io")]
    streams = next(
        d for d in docs if d["metadata"]["name"] == "meshstreams" and d["kind"] == "Deployment"
    )
    env = {
        e["name"]: e.get("value")
        for e in streams["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MESHPIPE_KAFKA"] == "kafka:9092"


def test_clickhouse_operator_install_replaces_the_statefulset() -> None:
    docs = list(yaml.safe_load_all(_install("--clickhouse-operator")))
    kinds = [d["kind"] for d in docs]
    assert "ClickHouseInstallation" in kinds
    assert "StatefulSet" not in kinds


def test_no_workload_of_the_control_plane_gets_an_api_token() -> None:
    docs = list(yaml.safe_load_all(_install()))
    accounts = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert accounts
    assert all(a["automountServiceAccountToken"] is False for a in accounts)


def test_reader_user_has_the_readonly_profile() -> None:
    docs = list(yaml.safe_load_all(_install()))
    users = next(d for d in docs if d["metadata"]["name"] == "clickhouse-users")
    xml = users["data"]["meshpipe.xml"]
    reader = xml[xml.index(f"<{READER_USER}>") : xml.index(f"</{READER_USER}>")]
    assert "<profile>meshpipe_readonly</profile>" in reader
    profile = xml[xml.index("<meshpipe_readonly>") : xml.index("</meshpipe_readonly>")]
    assert "<readonly>1</readonly>" in profile


def test_passwords_are_only_in_the_secret() -> None:
    result = CliRunner().invoke(install, [], obj=lambda: "pw-8f3a1c")
    holders = [d["kind"] for d in yaml.safe_load_all(result.stdout) if "pw-8f3a1c" in str(d)]
    assert holders == ["Secret"]


@pytest.mark.parametrize(
    "args",
    [
        ["--namespace", "Mesh_Pipe"],
        ["--image-tag", "bad tag"],
        ["--kafka-bootstrap", "kafka"],
        ["--kafka-bootstrap", "k:9092", "--with-kafka-cluster"],
        ["--streams-replicas", "0"],
        ["--requests-partitions", "0"],
    ],
)
def test_invalid_flags_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(install, args)
    if result.exit_code == ExitStatus.USAGE:  # click's own range check (IntRange)
        return
    assert isinstance(result.exception, CliError)
    assert result.exception.status is ExitStatus.USAGE


@pytest.mark.parametrize("name", sorted(generated_files()))
def test_checked_in_strimzi_file_is_up_to_date(name: str) -> None:
    path = GENERATED_DIR / name
    assert path.read_text() == generated_files()[name], (
        "run: python -m meshpipe.deploy.kafka.strimzi"
    )


def test_dev_cluster_writes_our_broker_and_debian_clickhouse_and_no_strimzi_or_grafana() -> None:
    docs = list(yaml.safe_load_all(_install("--dev-cluster")))
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {
        ("StatefulSet", "kafka"),
        ("Job", "kafka-topics"),
        ("StatefulSet", "clickhouse"),
    } <= kinds
    assert not [d for d in docs if d["kind"] in ("KafkaTopic", "Kafka")]
    assert not [name for _, name in kinds if name.startswith("grafana")]
    [config] = [d for d in docs if d["metadata"]["name"] == "meshpipe-config"]
    assert config["data"]["kafka-bootstrap"] == "kafka.meshpipe.svc:9092"
    assert config["data"]["components"] == (
        "meshstreams,clickhouse,kafka,dashboard,meshpipe-injector"
    )
    images = {c["image"] for d in docs for c in _containers(d)}
    assert "ghcr.io/meshpipe/clickhouse-debian:golden" in images


def _dashboard(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    named = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    return named["Deployment", "dashboard"], named["Service", "dashboard"]


def test_the_dashboard_runs_meshctl_from_the_streams_image_as_the_reader() -> None:
    docs = list(yaml.safe_load_all(_install("--dev-cluster")))
    deployment, svc = _dashboard(docs)
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(50750, "http")]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "ghcr.io/meshpipe/meshstreams:golden"
    assert container["command"] == ["/opt/meshpipe/bin/meshctl"]
    assert container["args"][:3] == ["dashboard", "--listen", "0.0.0.0"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MESHPIPE_KAFKA"]["value"] == "kafka.meshpipe.svc:9092"
    assert env["MESHPIPE_CLICKHOUSE_USER"]["value"] == READER_USER
    assert env["MESHPIPE_CLICKHOUSE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "clickhouse-credentials",
        "key": "reader-password",
    }
    assert env["MESHPIPE_CLICKHOUSE"]["value"].startswith(
        "clickhouse://$(MESHPIPE_CLICKHOUSE_USER):$(MESHPIPE_CLICKHOUSE_PASSWORD)@clickhouse."
    )
    assert container["readinessProbe"]["httpGet"] == {"path": "/api/config", "port": "http"}
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["automountServiceAccountToken"] is False


def test_no_dashboard_leaves_it_out_of_the_objects_and_the_component_list() -> None:
    docs = list(yaml.safe_load_all(_install("--dev-cluster", "--no-dashboard")))
    assert not [d for d in docs if d["metadata"]["name"] == "dashboard"]
    [config] = [d for d in docs if d["metadata"]["name"] == "meshpipe-config"]
    assert "dashboard" not in config["data"]["components"].split(",")


def test_dev_cluster_keeps_an_explicit_clickhouse_image() -> None:
    docs = yaml.safe_load_all(_install("--dev-cluster", "--clickhouse-image", "ch:1"))
    assert "ch:1" in {c["image"] for d in docs for c in _containers(d)}


def test_kafka_broker_excludes_an_external_kafka() -> None:
    result = CliRunner().invoke(install, ["--kafka-broker", "--kafka-bootstrap", "k:9092"])
    assert isinstance(result.exception, CliError)
    assert result.exception.status is ExitStatus.USAGE


def _containers(doc: dict[str, object]) -> list[dict[str, str]]:
    spec = doc.get("spec") or {}
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = (template or {}).get("spec") or {}
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
