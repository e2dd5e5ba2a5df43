"""`meshctl check`'s judgement of gathered facts (in memory: the real API server is the
integration test's, tests/integration/test_install_cluster.py), and its one-line errors."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from meshpipe.cli.check import check, render
from meshpipe.deploy.kafka.topics import load_spec
from meshpipe.deploy.mesh.checks import evaluate
from meshpipe.deploy.mesh.cluster import Facts
from meshpipe.deploy.mesh.datapath import DataPath
from meshpipe.schemas.exits import CliError, ExitStatus

READY = {"conditions": [{"type": "Ready", "status": "True"}]}
TOPICS = [t.name for t in load_spec().resolved()]


def _pod(name: str, component: str | None, *, ready: bool = True, **spec: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": component} if component else {}
    status = "True" if ready else "False"
    return {
        "metadata": {"name": name, "namespace": "emojivoto", "labels": labels},
        "spec": {"containers": [{"name": "app"}], **spec},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": status}],
            "containerStatuses": [
                {"name": c["name"], "ready": ready}
                for c in spec.get("containers", [{"name": "app"}])
            ],
        },
    }


def healthy() -> Facts:
    """The facts of a cluster where every check passes."""
    meshed = [{"name": "app"}, {"name": "meshproxy"}]
    return Facts(
        server_version="v1.33.13",
        settings={
            "kafka-bootstrap": "meshpipe-kafka-bootstrap.meshpipe.svc:9092",
            "kafka-topics": "strimzi",
            "kafka-cluster": "meshpipe",
            "components": "meshstreams,clickhouse,grafana",
            "clickhouse-service": "clickhouse",
            "clickhouse-database": "meshpipe",
        },
        control_pods=[
            _pod("meshstreams-1", "meshstreams"),
            _pod("clickhouse-0", "clickhouse"),
            _pod("grafana-1", "grafana"),
        ],
        kafka={"status": READY},
        kafka_topics=[
            {"metadata": {"name": n.replace(".", "-")}, "spec": {"topicName": n}, "status": READY}
            for n in TOPICS
        ],
        clickhouse_ping="ok",
        clickhouse_tables=["edge_windows", "proxy_losses", "requests", "schema_migrations"],
        meshed_namespaces=["emojivoto"],
        meshed_pods=[
            _pod("web-1", None, containers=meshed),
            _pod("node-agent", None, hostNetwork=True),
        ],
        errors={},
        data_path=DataPath(
            events_last_day=1200,
            newest_event_age_s=3,
            losses={},
            workers={"meshstreams-1": {"lag": {"0": 4, "1": 0}, "dead_letters": 0}},
        ),
    )


def _lines(facts: Facts) -> list[str]:
    return render(evaluate(facts, "meshpipe", TOPICS)).splitlines()


def _data(facts: Facts, **changes: Any) -> Facts:
    return dataclasses.replace(facts, data_path=dataclasses.replace(facts.data_path, **changes))


def test_healthy_cluster_passes_every_check() -> None:
    assert [line.split(" (")[0] for line in _lines(healthy())] == [
        "✔ Kubernetes API reachable",
        "✔ control plane installed",
        "✔ control-plane pods ready",
        "✔ Kafka reachable",
        "✔ Kafka topics present",
        "✔ ClickHouse reachable",
        "✔ ClickHouse schema present",
        "✔ proxies injected where expected",
        "✔ events arriving",
        "✔ workers keeping up",
        "✔ no dead letters",
        "✔ proxies not dropping events",
        "Status check results are ✔",
    ]


def test_missing_install_fails_with_install_hint() -> None:
    lines = _lines(dataclasses.replace(healthy(), settings=None))
    assert lines[1].startswith("× control plane installed")
    assert "meshctl install" in lines[2]


def test_unready_control_pod_is_named_with_why() -> None:
    facts = healthy()
    facts.control_pods[1] = _pod("clickhouse-0", "clickhouse", ready=False)
    why = "clickhouse-0 Running; clickhouse CrashLoopBackOff; log of clickhouse: boom"
    lines = _lines(dataclasses.replace(facts, pod_problems={"clickhouse-0": why}))
    assert f"× control-plane pods ready ({why})" in lines


def test_listed_components_replace_the_default_set() -> None:
    facts = healthy()
    settings = {**(facts.settings or {}), "components": "meshstreams,clickhouse,kafka"}
    pods = [*facts.control_pods[:2], _pod("kafka-0", "kafka")]
    lines = _lines(dataclasses.replace(facts, settings=settings, control_pods=pods))
    assert lines[2] == "✔ control-plane pods ready (3 pods)"


def test_missing_topic_is_named() -> None:
    facts = healthy()
    facts.kafka_topics.pop(0)
    assert "× Kafka topics present (missing or not ready: meshpipe.requests.v1)" in _lines(facts)


def test_database_without_the_stream_tables_names_the_missing_ones() -> None:
    facts = dataclasses.replace(healthy(), clickhouse_tables=["requests", "schema_migrations"])
    assert "× ClickHouse schema present (missing in meshpipe: edge_windows, proxy_losses)" in (
        _lines(facts)
    )


def test_pod_without_proxy_in_meshed_namespace_is_named() -> None:
    facts = healthy()
    facts.meshed_pods.append(_pod("vote-bot-1", None))
    lines = _lines(facts)
    line = "× proxies injected where expected (no proxy: emojivoto/vote-bot-1)"
    assert "meshctl inject" in lines[lines.index(line) + 1]


def test_external_kafka_skips_strimzi_checks() -> None:
    facts = healthy()
    settings = {**(facts.settings or {}), "kafka-topics": "external"}
    lines = _lines(dataclasses.replace(facts, settings=settings, kafka=None))
    assert not [line for line in lines if "Kafka" in line]


def test_stale_events_fail_with_their_age() -> None:
    lines = _lines(_data(healthy(), newest_event_age_s=900))
    assert "× events arriving (newest event 900 s old (limit 120 s))" in lines


def test_no_events_fail_only_when_pods_are_meshed() -> None:
    silent = _data(healthy(), events_last_day=0, newest_event_age_s=None)
    assert "× events arriving (no event stored in the last day)" in _lines(silent)
    unmeshed = dataclasses.replace(silent, meshed_pods=[])
    assert "✔ events arriving (no event stored in the last day (nothing meshed))" in (
        _lines(unmeshed)
    )


def test_a_lagging_worker_is_named() -> None:
    lines = _lines(_data(healthy(), workers={"meshstreams-1": {"lag": {"0": 20_000}}}))
    assert "× workers keeping up (meshstreams-1 20000 records behind)" in lines


def test_an_unreachable_worker_fails_the_lag_check() -> None:
    facts = _data(healthy(), workers={}, errors={"worker/meshstreams-1": "HTTP 503"})
    assert "× workers keeping up (HTTP 503)" in _lines(facts)


def test_dead_letters_are_counted() -> None:
    workers = {"a": {"lag": {}, "dead_letters": 2}, "b": {"lag": {}, "dead_letters": 1}}
    lines = _lines(_data(healthy(), workers=workers))
    assert "× no dead letters (3 records dead-lettered since the workers started)" in lines


def test_proxies_that_lost_events_are_named() -> None:
    lines = _lines(_data(healthy(), losses={"web-1": 12}))
    assert "× proxies not dropping events (lost in the last 15 min: web-1 12)" in lines


def test_unreachable_api_is_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = _kubeconfig(tmp_path, f"http://127.0.0.1:{port}")
    result = CliRunner().invoke(check, ["--kubeconfig", config])
    assert isinstance(result.exception, CliError)
    assert result.exception.status is ExitStatus.UNAVAILABLE
    assert str(result.exception).startswith("cannot reach the Kubernetes API at http://127.0.0.1:")
    assert "\n" not in str(result.exception)


def test_missing_kubeconfig_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(check, ["--kubeconfig", str(tmp_path / "absent")])
    assert isinstance(result.exception, CliError)
    assert result.exception.status is ExitStatus.UNAVAILABLE
    assert str(result.exception).startswith("no Kubernetes cluster configured")


def _kubeconfig(tmp_path: Path, server: str) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: t, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: t, user: {token: t}}]\n"
        "contexts: [{name: t, context: {cluster: t, user: t}}]\ncurrent-context: t\n"
    )
    return str(path)


def _job_install(facts: Facts, job: dict[str, Any] | None) -> Facts:
    settings = {**(facts.settings or {}), "kafka-topics": "job", "kafka-cluster": ""}
    return dataclasses.replace(facts, settings=settings, kafka=None, topics_job=job)


def test_a_finished_topics_job_passes_instead_of_the_strimzi_checks() -> None:
    lines = _lines(_job_install(healthy(), {"status": {"succeeded": 1}}))
    assert "✔ Kafka topics created (by Job kafka-topics)" in lines
    assert not [line for line in lines if "Kafka reachable" in line]


def test_an_unfinished_topics_job_fails_with_its_log_as_hint() -> None:
    lines = _lines(_job_install(healthy(), {"status": {"failed": 2}}))
    assert "× Kafka topics created (Job kafka-topics not done (2 failed tries))" in lines
    assert "    hint: kubectl -n meshpipe logs job/kafka-topics" in lines


def test_pod_with_the_proxy_as_native_sidecar_counts_as_injected() -> None:
    facts = healthy()
    pod = _pod("vote-bot-1", None)
    pod["spec"]["initContainers"] = [{"name": "meshproxy-init"}, {"name": "meshproxy"}]
    pod["status"]["initContainerStatuses"] = [
        {"name": "meshproxy-init", "ready": False},
        {"name": "meshproxy", "ready": True},
    ]
    facts.meshed_pods.append(pod)
    lines = _lines(facts)
    assert not [line for line in lines if line.startswith("× proxies")], lines
