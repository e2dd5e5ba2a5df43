"""Reads what `meshctl check` needs from the Kubernetes API, as raw JSON, with short timeouts."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from meshpipe.deploy.mesh.datapath import DataPath, parse_health, read_clickhouse
from meshpipe.deploy.operators import STRIMZI as STRIMZI_OPERATOR
from meshpipe.sinks.users import READER_USER

TIMEOUT_S = 5.0


class NoClusterError(Exception):
    """No kubeconfig, or the API server does not answer: one line for the user."""


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, path: str, status: int, body: str) -> None:
        super().__init__(f"GET {path}: HTTP {status}: {body[:200]}")
        self.status = status


@dataclass(frozen=True)
class KubeSettings:
    kubeconfig: str | None = None
    context: str | None = None


class Kube:
    """A thin GET-only reader over the kubernetes client's auth and transport."""

    def __init__(self, settings: KubeSettings) -> None:
        # The kubernetes client (~0.2 s to import) only when a command talks to a cluster:
        # every meshctl command imports this module at start.
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException

        try:
            self._api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=settings.kubeconfig, context=settings.context
            )
        except (ConfigException, OSError, TypeError) as exc:
            raise NoClusterError(f"no Kubernetes cluster configured: {exc}") from exc
        self._api.configuration.retries = 0
        self.host = str(self._api.configuration.host)

    def close(self) -> None:
        self._api.close()

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        """The JSON body of GET path."""
        return json.loads(self.get_text(path, query))

    def get_text(
        self, path: str, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> str:
        import urllib3  # see __init__
        from kubernetes import client

        method, url, all_headers, _, _ = self._api.param_serialize(
            "GET",
            path,
            query_params=list((query or {}).items()),
            header_params=headers or {},
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(
                method, url, header_params=all_headers, _request_timeout=TIMEOUT_S
            )
            response.read()
        except client.ApiException as exc:
            raise ApiError(path, int(exc.status or 0), str(exc.body or exc.reason)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise NoClusterError(f"cannot reach the Kubernetes API at {self.host}: {exc}") from exc
        text = (response.data or b"").decode("utf-8", "replace")
        if not 200 <= int(response.status) < 300:
            raise ApiError(path, int(response.status), text)
        return text


@dataclass(frozen=True)
class Facts:
    """Everything the checks judge, gathered in one pass (None: could not be read)."""

    server_version: str
    settings: dict[str, str] | None
    control_pods: list[dict[str, Any]]
    kafka: dict[str, Any] | None
    kafka_topics: list[dict[str, Any]]
    clickhouse_ping: str | None
    clickhouse_tables: list[str] | None
    meshed_namespaces: list[str]
    meshed_pods: list[dict[str, Any]]
    errors: dict[str, str]
    data_path: DataPath = field(default_factory=DataPath)
    pod_problems: dict[str, str] = field(default_factory=dict)  # unready pod -> why, in a line
    topics_job: dict[str, Any] | None = None  # --kafka-broker's topic-creating Job


STRIMZI = f"/apis/{STRIMZI_OPERATOR.api_version}/namespaces"
PART_OF_SELECTOR = "app.kubernetes.io/part-of=meshpipe"
INJECT_ANNOTATION = "meshpipe.io/inject"


def _items(kube: Kube, path: str, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.get(path, query).get("items") or []
    return items


def gather(kube: Kube, namespace: str) -> Facts:
    """Read the installation; NoClusterError propagates, API errors are kept per fact."""
    version = kube.get("/version").get("gitVersion", "unknown")
    errors: dict[str, str] = {}

    def attempt(key: str, default: Any, read: Any) -> Any:
        try:
            return read()
        except ApiError as exc:
            errors[key] = str(exc)
            return default

    ns = f"/api/v1/namespaces/{namespace}"
    settings = attempt(
        "settings", None, lambda: kube.get(f"{ns}/configmaps/meshpipe-config")["data"]
    )
    settings = settings or {}
    pods = attempt(
        "pods", [], lambda: _items(kube, f"{ns}/pods", {"labelSelector": PART_OF_SELECTOR})
    )
    cluster = settings.get("kafka-cluster", "")
    topics_job = None
    if settings.get("kafka-topics") == "job":
        jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
        topics_job = attempt("topics-job", None, lambda: kube.get(f"{jobs}/{TOPICS_JOB}"))
    kafka = None
    topics: list[dict[str, Any]] = []
    if cluster:
        kafka = attempt("kafka", None, lambda: kube.get(f"{STRIMZI}/{namespace}/kafkas/{cluster}"))
        topics = attempt("topics", [], lambda: _items(kube, f"{STRIMZI}/{namespace}/kafkatopics"))
    ping, tables, data_path = _clickhouse(kube, namespace, settings, errors)
    data_path.workers.update(_worker_health(kube, namespace, pods, data_path.errors))
    problems = {
        p["metadata"]["name"]: why_unready(kube, namespace, p) for p in pods if not pod_ready(p)
    }
    meshed = attempt("namespaces", [], lambda: _meshed_namespaces(kube))
    meshed_pods: list[dict[str, Any]] = []
    for name in meshed:
        meshed_pods += attempt(
            f"pods/{name}", [], lambda n=name: _items(kube, f"/api/v1/namespaces/{n}/pods")
        )
    return Facts(
        server_version=str(version),
        settings=settings or None,
        control_pods=pods,
        kafka=kafka,
        kafka_topics=topics,
        clickhouse_ping=ping,
        clickhouse_tables=tables,
        meshed_namespaces=meshed,
        meshed_pods=meshed_pods,
        errors=errors,
        data_path=data_path,
        pod_problems=problems,
        topics_job=topics_job,
    )


def pod_ready(pod: dict[str, Any]) -> bool:
    """Ready, or a Job's pod that finished its work."""
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ready or status.get("phase") == "Succeeded"


def why_unready(kube: Kube, namespace: str, pod: dict[str, Any], log_lines: int = 3) -> str:
    """One line on a pod that is not ready: its phase, each unready container's state, its
    latest events and the last lines of the log of the container that is failing."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    parts = [f"{name} {status.get('phase', 'Unknown')}"]
    failing = None
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    for container in statuses:
        if container.get("ready"):
            continue
        for state, detail in (container.get("state") or {}).items():
            if state == "terminated" and detail.get("exitCode") == 0:
                continue
            reason = detail.get("reason") or state
            message = (detail.get("message") or "").strip().replace("\n", " ")[:160]
            parts.append(f"{container['name']} {reason}" + (f": {message}" if message else ""))
            restarted = container.get("restartCount", 0) > 0 or state == "terminated"
            if failing is None and (restarted or state == "running"):
                failing = (container["name"], restarted)
    ns = f"/api/v1/namespaces/{namespace}"
    try:
        events = kube.get(f"{ns}/events", {"fieldSelector": f"involvedObject.name={name}"})
        latest = sorted(
            events.get("items") or [],
            key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "",
        )[-2:]
        said = [f"{e.get('reason')}: {(e.get('message') or '').strip()[:160]}" for e in latest]
        if said:
            parts.append("events: " + " / ".join(said))
    except ApiError as exc:
        parts.append(f"events unreadable ({exc.status})")
    if failing is not None:
        container, previous = failing
        query = {"container": container, "tailLines": str(log_lines)}
        if previous:
            query["previous"] = "true"
        try:
            tail = kube.get_text(f"{ns}/pods/{name}/log", query).strip().splitlines()
        except ApiError:
            query.pop("previous", None)
            try:
                tail = kube.get_text(f"{ns}/pods/{name}/log", query).strip().splitlines()
            except ApiError:
                tail = []
        if tail:
            parts.append(f"log of {container}: " + " | ".join(line[:200] for line in tail))
    return "; ".join(parts)


TOPICS_JOB = "kafka-topics"
WORKER_COMPONENT = "meshstreams"
WORKER_ADMIN_PORT = 6066


def _worker_health(
    kube: Kube, namespace: str, pods: list[dict[str, Any]], errors: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Each running worker's /health page, through the API server's pods proxy."""
    found = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        running = (pod.get("status") or {}).get("phase") == "Running"
        if (meta.get("labels") or {}).get("app.kubernetes.io/name") != WORKER_COMPONENT:
            continue
        name = meta["name"]
        if not running:
            errors[f"worker/{name}"] = f"{name} is not running"
            continue
        path = f"/api/v1/namespaces/{namespace}/pods/{name}:{WORKER_ADMIN_PORT}/proxy/health"
        try:
            found[name] = parse_health(kube.get_text(path))
        except (ApiError, ValueError) as exc:
            errors[f"worker/{name}"] = str(exc)
    return found


def _meshed_namespaces(kube: Kube) -> list[str]:
    return [
        ns["metadata"]["name"]
        for ns in _items(kube, "/api/v1/namespaces")
        if (ns["metadata"].get("annotations") or {}).get(INJECT_ANNOTATION) == "enabled"
    ]


def _clickhouse(
    kube: Kube, namespace: str, settings: dict[str, str], errors: dict[str, str]
) -> tuple[str | None, list[str] | None, DataPath]:
    """Query ClickHouse's HTTP port through the API server's service proxy, as the reader:
    ping, the database's tables, and the data path's stored half."""
    service = settings.get("clickhouse-service")
    database = settings.get("clickhouse-database", "meshpipe")
    if not service:
        return None, None, DataPath()
    ns = f"/api/v1/namespaces/{namespace}"
    try:
        secret = kube.get(f"{ns}/secrets/clickhouse-credentials")
        password = base64.b64decode(secret["data"]["reader-password"]).decode()
        headers = {"X-ClickHouse-User": READER_USER, "X-ClickHouse-Key": password}
        proxy = f"{ns}/services/{service}:http/proxy/"

        def query(sql: str) -> str:
            try:
                return kube.get_text(proxy, {"query": sql}, headers)
            except ApiError as exc:
                raise ValueError(str(exc)) from exc

        ping = query("SELECT 'ok'").strip()
        # Literal, not a query parameter: 18.16 has none; the name is checked as an identifier.
        sql = f"SELECT name FROM system.tables WHERE database = '{_identifier(database)}'"  # noqa: S608
        tables = query(f"{sql} ORDER BY name").split()
    except (ApiError, KeyError, ValueError) as exc:
        errors["clickhouse"] = str(exc)
        return None, None, DataPath()
    return ping, tables, read_clickhouse(query, database, {})


def _identifier(name: str) -> str:
    if not name.replace("_", "a").isalnum():
        raise ValueError(f"not a database name: {name!r}")
    return name
