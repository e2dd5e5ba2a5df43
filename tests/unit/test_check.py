"""`meshctl check` against a small in-test HTTP server that answers the few API calls it makes
(the one allowed stand-in: no Kubernetes API server can run on these machines)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from meshpipe.cli.check import check
from meshpipe.deploy.kafka.topics import load_spec
from meshpipe.schemas.exits import CliError, ExitStatus
from meshpipe.sinks.users import READER_USER

TOKEN = "test-token"
READER_PASSWORD = "reader-pw"
NS = "/api/v1/namespaces/meshpipe"
STRIMZI = "/apis/kafka.strimzi.io/v1/namespaces/meshpipe"
READY = {"conditions": [{"type": "Ready", "status": "True"}]}


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


def healthy_cluster() -> dict[str, Any]:
    """Routes of a cluster where every check passes."""
    meshed = [{"name": "app"}, {"name": "meshproxy"}]
    return {
        "/version": {"gitVersion": "v1.33.1"},
        f"{NS}/configmaps/meshpipe-config": {
            "data": {
                "kafka-bootstrap": "meshpipe-kafka-bootstrap.meshpipe.svc:9092",
                "kafka-topics": "strimzi",
                "kafka-cluster": "meshpipe",
                "clickhouse-service": "clickhouse",
                "clickhouse-database": "meshpipe",
            }
        },
        f"{NS}/pods": {
            "items": [
                _pod("meshstreams-1", "meshstreams"),
                _pod("clickhouse-0", "clickhouse"),
                _pod("grafana-1", "grafana"),
            ]
        },
        f"{STRIMZI}/kafkas/meshpipe": {"status": READY},
        f"{STRIMZI}/kafkatopics": {
            "items": [
                {
                    "metadata": {"name": t.name.replace(".", "-")},
                    "spec": {"topicName": t.name},
                    "status": READY,
                }
                for t in load_spec().topics
            ]
        },
        f"{NS}/secrets/clickhouse-credentials": {
            "data": {"reader-password": base64.b64encode(READER_PASSWORD.encode()).decode()}
        },
        f"{NS}/services/clickhouse:http/proxy/": "clickhouse",
        "/api/v1/namespaces": {
            "items": [
                {
                    "metadata": {
                        "name": "emojivoto",
                        "annotations": {"meshpipe.io/inject": "enabled"},
                    }
                },
                {"metadata": {"name": "kube-system"}},
            ]
        },
        "/api/v1/namespaces/emojivoto/pods": {
            "items": [
                _pod("web-1", None, containers=meshed),
                _pod("node-agent", None, hostNetwork=True),
            ]
        },
    }


class ApiServer(ThreadingHTTPServer):
    routes: dict[str, Any]
    tables: list[str]


class Handler(BaseHTTPRequestHandler):
    server: ApiServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"kind": "Status", "message": "Unauthorized"})
        route = self.server.routes.get(url.path)
        if route is None:
            return self._send(404, {"kind": "Status", "message": f"{url.path} not found"})
        if route == "clickhouse":
            return self._clickhouse(parse_qs(url.query))
        return self._send(200, route)

    def _clickhouse(self, query: dict[str, list[str]]) -> None:
        if (self.headers.get("X-ClickHouse-User"), self.headers.get("X-ClickHouse-Key")) != (
            READER_USER,
            READER_PASSWORD,
        ):
            return self._send(403, "Code: 516. Authentication failed")
        sql = query["query"][0]
        if sql == "SELECT 'ok'":
            return self._send(200, "ok\n")
        assert query["param_db"] == ["meshpipe"]
        return self._send(200, "".join(f"{t}\n" for t in self.server.tables))

    def _send(self, status: int, body: Any) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header(
            "Content-Type", "text/plain" if isinstance(body, str) else "application/json"
        )
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[ApiServer]:
    server = ApiServer(("127.0.0.1", 0), Handler)
    server.routes = healthy_cluster()
    server.tables = ["edge_windows", "proxy_losses", "requests", "schema_migrations"]
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fake-apiserver", daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _kubeconfig(tmp_path: Path, server: str) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "t", "cluster": {"server": server}}],
                "users": [{"name": "t", "user": {"token": TOKEN}}],
                "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
                "current-context": "t",
            }
        )
    )
    return str(path)


def _check(tmp_path: Path, api: ApiServer) -> tuple[Any, list[str]]:
    url = f"http://127.0.0.1:{api.server_address[1]}"
    result = CliRunner().invoke(
        check, ["--kubeconfig", _kubeconfig(tmp_path, url)], standalone_mode=False
    )
    assert result.exception is None, result.exception
    return result.return_value, result.stdout.splitlines()


def test_healthy_cluster_passes_every_check(tmp_path: Path, api: ApiServer) -> None:
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.OK
    assert [line.split(" (")[0] for line in lines] == [
        "✔ Kubernetes API reachable",
        "✔ control plane installed",
        "✔ control-plane pods ready",
        "✔ Kafka reachable",
        "✔ Kafka topics present",
        "✔ ClickHouse reachable",
        "✔ ClickHouse schema present",
        "✔ proxies injected where expected",
        "Status check results are ✔",
    ]


def test_missing_install_fails_with_install_hint(tmp_path: Path, api: ApiServer) -> None:
    del api.routes[f"{NS}/configmaps/meshpipe-config"]
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.CHECK_FAILED
    assert lines[1].startswith("× control plane installed")
    assert "meshctl install" in lines[2]


def test_unready_control_pod_is_named(tmp_path: Path, api: ApiServer) -> None:
    api.routes[f"{NS}/pods"]["items"][1] = _pod("clickhouse-0", "clickhouse", ready=False)
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.CHECK_FAILED
    assert "× control-plane pods ready (clickhouse-0 not ready)" in lines


def test_missing_topic_is_named(tmp_path: Path, api: ApiServer) -> None:
    api.routes[f"{STRIMZI}/kafkatopics"]["items"].pop(0)
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.CHECK_FAILED
    assert "× Kafka topics present (missing or not ready: meshpipe.requests.v1)" in lines


def test_empty_database_fails_the_schema_check(tmp_path: Path, api: ApiServer) -> None:
    api.tables = []
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.CHECK_FAILED
    assert (
        "× ClickHouse schema present"
        " (missing in meshpipe: edge_windows, requests, proxy_losses, schema_migrations)"
    ) in lines


def test_database_without_the_stream_tables_names_the_missing_ones(
    tmp_path: Path, api: ApiServer
) -> None:
    api.tables = ["edges", "requests", "schema_migrations"]
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.CHECK_FAILED
    assert "× ClickHouse schema present (missing in meshpipe: edge_windows, proxy_losses)" in lines


def test_wrong_reader_password_fails_clickhouse_check(tmp_path: Path, api: ApiServer) -> None:
    secret = base64.b64encode(b"stale").decode()
    api.routes[f"{NS}/secrets/clickhouse-credentials"] = {"data": {"reader-password": secret}}
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.CHECK_FAILED
    assert any(line.startswith("× ClickHouse reachable") and "403" in line for line in lines)


def test_pod_without_proxy_in_meshed_namespace_is_named(tmp_path: Path, api: ApiServer) -> None:
    api.routes["/api/v1/namespaces/emojivoto/pods"]["items"].append(_pod("vote-bot-1", None))
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.CHECK_FAILED
    assert "× proxies injected where expected (no proxy: emojivoto/vote-bot-1)" in lines
    assert (
        "meshctl inject"
        in lines[
            lines.index("× proxies injected where expected (no proxy: emojivoto/vote-bot-1)") + 1
        ]
    )


def test_external_kafka_skips_strimzi_checks(tmp_path: Path, api: ApiServer) -> None:
    api.routes[f"{NS}/configmaps/meshpipe-config"]["data"]["kafka-topics"] = "external"
    del api.routes[f"{STRIMZI}/kafkas/meshpipe"]
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.OK
    assert not [line for line in lines if "Kafka" in line]


def test_unreachable_api_is_one_line_error(tmp_path: Path) -> None:
    with socket_closed_port() as port:
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


class socket_closed_port:
    """A loopback port that nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


def test_pod_with_the_proxy_as_native_sidecar_counts_as_injected(
    tmp_path: Path, api: ApiServer
) -> None:
    pod = _pod("vote-bot-1", None)
    pod["spec"]["initContainers"] = [{"name": "meshproxy-init"}, {"name": "meshproxy"}]
    pod["status"]["initContainerStatuses"] = [
        {"name": "meshproxy-init", "ready": False},
        {"name": "meshproxy", "ready": True},
    ]
    api.routes["/api/v1/namespaces/emojivoto/pods"]["items"].append(pod)
    status, lines = _check(tmp_path, api)
    assert status is ExitStatus.OK, lines
    assert not [line for line in lines if line.startswith("× proxies")]
