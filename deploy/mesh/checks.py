"""Judges gathered cluster facts: one result per check, each failure with a hint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from meshpipe.deploy.mesh.cluster import INJECT_ANNOTATION, TOPICS_JOB, Facts, pod_ready
from meshpipe.deploy.mesh.datapath import (
    LOSS_WINDOW_S,
    MAX_EVENT_AGE_S,
    MAX_LAG_RECORDS,
)
from meshpipe.deploy.mesh.proxyspec import PROXY_CONTAINER
from meshpipe.sinks.migrations import MIGRATIONS_TABLE
from meshpipe.sinks.tables import EDGE_WINDOWS, PROXY_LOSSES, REQUESTS

# The tables meshstreams writes and the query layer reads, and the migrations record.
SCHEMA_TABLES = (EDGE_WINDOWS, REQUESTS, PROXY_LOSSES, MIGRATIONS_TABLE)

# What an install that does not list its components (older meshpipe-config) runs.
CONTROL_COMPONENTS = ("meshstreams", "clickhouse", "grafana")


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str = ""
    hint: str = ""


def evaluate(facts: Facts, namespace: str, topics: Iterable[str]) -> list[CheckResult]:
    """Every applicable check, in the order a user fixes them."""
    results = [CheckResult("Kubernetes API reachable", True, facts.server_version)]
    if facts.settings is None:
        detail = facts.errors.get("settings", "no meshpipe-config ConfigMap")
        return [
            *results,
            CheckResult(
                "control plane installed",
                False,
                detail,
                f"meshctl install --namespace {namespace} | kubectl apply -f -",
            ),
        ]
    results.append(CheckResult("control plane installed", True, f"namespace {namespace}"))
    results.append(_control_pods(facts, namespace))
    if facts.settings.get("kafka-topics") == "strimzi":
        results.append(_kafka(facts, namespace))
        results.append(_topics(facts, namespace, set(topics)))
    elif facts.settings.get("kafka-topics") == "job":
        results.append(_topics_job(facts, namespace))
    results.extend(_clickhouse(facts, namespace))
    results.append(_injection(facts))
    if facts.clickhouse_ping == "ok":
        results.extend(data_path_checks(facts, namespace))
    return results


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = (obj.get("metadata") or {}).get("labels") or {}
    return labels


def _control_pods(facts: Facts, namespace: str) -> CheckResult:
    name = "control-plane pods ready"
    problems: list[str] = []
    listed = (facts.settings or {}).get("components")
    for component in listed.split(",") if listed else CONTROL_COMPONENTS:
        pods = [
            p for p in facts.control_pods if _labels(p).get("app.kubernetes.io/name") == component
        ]
        if not pods:
            problems.append(f"no {component} pod")
        problems += [
            facts.pod_problems.get(p["metadata"]["name"]) or f"{p['metadata']['name']} not ready"
            for p in pods
            if not pod_ready(p)
        ]
    if "pods" in facts.errors:
        problems = [facts.errors["pods"]]
    if problems:
        hint = f"kubectl -n {namespace} get pods; kubectl -n {namespace} describe pod <name>"
        return CheckResult(name, False, "; ".join(problems), hint)
    return CheckResult(name, True, f"{len(facts.control_pods)} pods")


def _kafka(facts: Facts, namespace: str) -> CheckResult:
    name = "Kafka reachable"
    cluster = (facts.settings or {}).get("kafka-cluster", "")
    if facts.kafka is None:
        detail = facts.errors.get("kafka", f"no Strimzi Kafka {cluster!r}")
        hint = "with Strimzi running: meshctl install --with-kafka-cluster | kubectl apply -f -"
        return CheckResult(name, False, detail, hint)
    if not _condition(facts.kafka, "Ready"):
        return CheckResult(
            name,
            False,
            f"Kafka {cluster} is not Ready",
            f"kubectl -n {namespace} describe kafka {cluster}",
        )
    return CheckResult(name, True, (facts.settings or {}).get("kafka-bootstrap", ""))


def _topics_job(facts: Facts, namespace: str) -> CheckResult:
    name = "Kafka topics created"
    hint = f"kubectl -n {namespace} logs job/{TOPICS_JOB}"
    if facts.topics_job is None:
        return CheckResult(
            name, False, facts.errors.get("topics-job", f"no Job {TOPICS_JOB}"), hint
        )
    status = facts.topics_job.get("status") or {}
    if status.get("succeeded"):
        return CheckResult(name, True, f"by Job {TOPICS_JOB}")
    tries = status.get("failed", 0)
    return CheckResult(name, False, f"Job {TOPICS_JOB} not done ({tries} failed tries)", hint)


def _condition(obj: dict[str, Any], kind: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _topics(facts: Facts, namespace: str, expected: set[str]) -> CheckResult:
    name = "Kafka topics present"
    ready = {
        (t.get("spec") or {}).get("topicName") or t["metadata"]["name"]
        for t in facts.kafka_topics
        if _condition(t, "Ready")
    }
    missing = sorted(expected - ready)
    if "topics" in facts.errors or missing:
        detail = facts.errors.get("topics") or f"missing or not ready: {', '.join(missing)}"
        return CheckResult(name, False, detail, f"kubectl -n {namespace} get kafkatopics")
    return CheckResult(name, True, f"{len(expected)} topics")


def _clickhouse(facts: Facts, namespace: str) -> list[CheckResult]:
    if facts.clickhouse_ping != "ok":
        detail = facts.errors.get("clickhouse", "no answer")
        hint = f"kubectl -n {namespace} logs statefulset/clickhouse"
        return [CheckResult("ClickHouse reachable", False, detail, hint)]
    database = (facts.settings or {}).get("clickhouse-database", "meshpipe")
    reachable = CheckResult("ClickHouse reachable", True, "as the read-only user")
    missing = [t for t in SCHEMA_TABLES if t not in (facts.clickhouse_tables or [])]
    if missing:
        hint = f"apply the schema migrations to {database} (meshctl dev up does it locally)"
        detail = f"missing in {database}: {', '.join(missing)}"
        return [reachable, CheckResult("ClickHouse schema present", False, detail, hint)]
    detail = f"{', '.join(SCHEMA_TABLES)} in {database}"
    return [reachable, CheckResult("ClickHouse schema present", True, detail)]


def _expects_proxy(pod: dict[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    phase = (pod.get("status") or {}).get("phase")
    return not (
        spec.get("hostNetwork") is True
        or annotations.get(INJECT_ANNOTATION) == "disabled"
        or phase in ("Succeeded", "Failed")
    )


def _injection(facts: Facts) -> CheckResult:
    name = "proxies injected where expected"
    if not facts.meshed_namespaces:
        return CheckResult(name, True, f"no namespace annotated {INJECT_ANNOTATION}=enabled")
    missing: list[str] = []
    unready: list[str] = []
    for pod in filter(_expects_proxy, facts.meshed_pods):
        pod_name = f"{pod['metadata'].get('namespace', '')}/{pod['metadata']['name']}"
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        # The proxy is a native sidecar (an init container); older injections had it beside the app.
        kinds = ("initContainers", "containers")
        containers = [c.get("name") for key in kinds for c in spec.get(key) or []]
        if PROXY_CONTAINER not in containers:
            missing.append(pod_name)
            continue
        kinds = ("initContainerStatuses", "containerStatuses")
        statuses = [s for key in kinds for s in status.get(key) or []]
        if not any(s.get("name") == PROXY_CONTAINER and s.get("ready") for s in statuses):
            unready.append(pod_name)
    errors = [v for k, v in facts.errors.items() if k == "namespaces" or k.startswith("pods/")]
    if missing or unready or errors:
        parts = [*errors]
        if missing:
            parts.append(f"no proxy: {', '.join(missing)}")
        if unready:
            parts.append(f"proxy not ready: {', '.join(unready)}")
        hint = "kubectl get deploy -n <ns> -o yaml | meshctl inject - | kubectl apply -f -"
        return CheckResult(name, False, "; ".join(parts), hint)
    meshed = len([p for p in facts.meshed_pods if _expects_proxy(p)])
    return CheckResult(name, True, f"{meshed} pods in {len(facts.meshed_namespaces)} namespaces")


def data_path_checks(facts: Facts, namespace: str) -> list[CheckResult]:
    """Events arriving, workers keeping up, no dead letters, no proxy dropping events."""
    data = facts.data_path
    logs = f"kubectl -n {namespace} logs deploy/meshstreams"
    results = []
    name = "events arriving"
    if "events" in data.errors:
        results.append(CheckResult(name, False, data.errors["events"], logs))
    elif data.newest_event_age_s is None:
        meshed = any(_expects_proxy(p) for p in facts.meshed_pods)
        detail = "no event stored in the last day" + ("" if meshed else " (nothing meshed)")
        hint = "are the proxies' pods sending? kubectl logs <pod> -c meshproxy"
        results.append(CheckResult(name, not meshed, detail, hint))
    elif data.newest_event_age_s > MAX_EVENT_AGE_S:
        detail = f"newest event {data.newest_event_age_s} s old (limit {MAX_EVENT_AGE_S} s)"
        results.append(CheckResult(name, False, detail, logs))
    else:
        detail = f"newest {data.newest_event_age_s} s old, {data.events_last_day} in the last day"
        results.append(CheckResult(name, True, detail))
    results.append(_workers(facts, logs))
    results.append(_dead_letters(facts))
    results.append(_losses(facts))
    return results


def _workers(facts: Facts, logs: str) -> CheckResult:
    name = "workers keeping up"
    data = facts.data_path
    problems = [v for k, v in data.errors.items() if k.startswith("worker/")]
    lags = {pod: sum((health.get("lag") or {}).values()) for pod, health in data.workers.items()}
    problems += [
        f"{pod} {lag} records behind" for pod, lag in sorted(lags.items()) if lag > MAX_LAG_RECORDS
    ]
    if problems or not data.workers:
        return CheckResult(name, False, "; ".join(problems) or "no worker answered", logs)
    behind = ", ".join(f"{pod} {lag}" for pod, lag in sorted(lags.items()))
    return CheckResult(name, True, f"records behind: {behind}")


def _dead_letters(facts: Facts) -> CheckResult:
    name = "no dead letters"
    count = sum(int(h.get("dead_letters") or 0) for h in facts.data_path.workers.values())
    if count:
        detail = f"{count} records dead-lettered since the workers started"
        hint = "read meshpipe.deadletter.v1: each letter says why its record was refused"
        return CheckResult(name, False, detail, hint)
    return CheckResult(name, True, f"{len(facts.data_path.workers)} workers")


def _losses(facts: Facts) -> CheckResult:
    name = "proxies not dropping events"
    data = facts.data_path
    if data.losses is None:
        return CheckResult(name, False, data.errors.get("losses", "not read"))
    if data.losses:
        lost = ", ".join(f"{proxy} {n}" for proxy, n in sorted(data.losses.items()))
        hint = "a proxy drops its oldest events when Kafka is slow or away: see its log"
        return CheckResult(name, False, f"lost in the last {LOSS_WINDOW_S // 60} min: {lost}", hint)
    return CheckResult(name, True, f"none lost in the last {LOSS_WINDOW_S // 60} min")
