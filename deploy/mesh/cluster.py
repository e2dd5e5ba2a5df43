"""Reads what `meshctl check` needs from the Kubernetes API, as raw JSON, with short timeouts."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

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
    kafka = None
    topics: list[dict[str, Any]] = []
    if cluster:
        kafka = attempt("kafka", None, lambda: kube.get(f"{STRIMZI}/{namespace}/kafkas/{cluster}"))
        topics = attempt("topics", [], lambda: _items(kube, f"{STRIMZI}/{namespace}/kafkatopics"))
    ping, tables = _clickhouse(kube, namespace, settings, errors)
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
    )


def _meshed_namespaces(kube: Kube) -> list[str]:
    return [
        ns["metadata"]["name"]
        for ns in _items(kube, "/api/v1/namespaces")
        if (ns["metadata"].get("annotations") or {}).get(INJECT_ANNOTATION) == "enabled"
    ]


def _clickhouse(
    kube: Kube, namespace: str, settings: dict[str, str], errors: dict[str, str]
) -> tuple[str | None, list[str] | None]:
    """Query ClickHouse's HTTP port through the API server's service proxy, as the reader."""
    service = settings.get("clickhouse-service")
    database = settings.get("clickhouse-database", "meshpipe")
    if not service:
        return None, None
    ns = f"/api/v1/namespaces/{namespace}"
    try:
        secret = kube.get(f"{ns}/secrets/clickhouse-credentials")
        password = base64.b64decode(secret["data"]["reader-password"]).decode()
        headers = {"X-ClickHouse-User": READER_USER, "X-ClickHouse-Key": password}
        proxy = f"{ns}/services/{service}:http/proxy/"
        ping = kube.get_text(proxy, {"query": "SELECT 'ok'"}, headers).strip()
        sql = "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name"
        tables = kube.get_text(proxy, {"query": sql, "param_db": database}, headers).split()
    except (ApiError, KeyError, ValueError) as exc:
        errors["clickhouse"] = str(exc)
        return None, None
    return ping, tables
