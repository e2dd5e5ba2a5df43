"""The proxy injector's TLS server on loopback: AdmissionReviews in over HTTPS (verified against
the CA install makes), the JSON patch out; readiness; garbage answered 400, never a crash."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpipe.cli.injector import InjectorSettings, NamespaceReader, serve
from meshpipe.cli.injector_tls import generate_injector_tls


@pytest.fixture
def injector(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    tls = generate_injector_tls("meshpipe")
    (tmp_path / "tls.crt").write_text(tls.cert)
    (tmp_path / "tls.key").write_text(tls.key)
    env = {
        "MESHPIPE_INJECTOR_LISTEN": "127.0.0.1:0",
        "MESHPIPE_INJECTOR_TLS_DIR": str(tmp_path),
        "MESHPIPE_PROXY_IMAGE": "ghcr.io/meshpipe/meshproxy:test",
    }
    server = serve(InjectorSettings.from_env(env), NamespaceReader({}))
    thread = threading.Thread(target=server.serve_forever, name="injector", daemon=True)
    thread.start()
    client = ssl.create_default_context(cadata=tls.ca_cert)
    client.check_hostname = False  # the names are checked in tests/unit; here: the chain
    try:
        yield server.server_address[1], client
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _call(
    port: int, context: ssl.SSLContext, method: str, path: str, body: Any = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode() if body else None
        headers = {"Content-Type": "application/json"} if payload else {}
        conn.request(method, path, body=payload, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _review(annotations: dict[str, str]) -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-", "namespace": "shop", "annotations": annotations},
        "spec": {"containers": [{"name": "web", "image": "web:1"}]},
    }
    request = {
        "uid": "abc",
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "namespace": "shop",
        "object": pod,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def test_an_opted_in_pod_is_answered_with_the_sidecar_patch(
    injector: tuple[int, ssl.SSLContext],
) -> None:
    status, body = _call(*injector, "POST", "/inject", _review({"meshpipe.io/inject": "enabled"}))
    assert status == 200
    response = json.loads(body)["response"]
    assert (response["uid"], response["allowed"], response["patchType"]) == (
        "abc",
        True,
        "JSONPatch",
    )
    patch = json.loads(base64.b64decode(response["patch"]))
    [init] = [op for op in patch if op["path"] == "/spec/initContainers"]
    assert [c["name"] for c in init["value"]] == ["meshproxy-init", "meshproxy"]
    assert init["value"][1]["image"] == "ghcr.io/meshpipe/meshproxy:test"


def test_a_pod_without_opt_in_is_allowed_unchanged(injector: tuple[int, ssl.SSLContext]) -> None:
    # No API server here: the namespace's annotations are unknown, so only the pod's count.
    status, body = _call(*injector, "POST", "/inject", _review({}))
    assert status == 200
    assert json.loads(body)["response"] == {"uid": "abc", "allowed": True}


def test_readiness_and_bad_requests(injector: tuple[int, ssl.SSLContext]) -> None:
    assert _call(*injector, "GET", "/ready") == (200, b"ok\n")
    assert _call(*injector, "POST", "/inject", b"{not json")[0] == 400
    assert _call(*injector, "POST", "/inject", {"kind": "Pod"})[0] == 400
    assert _call(*injector, "POST", "/elsewhere", {"kind": "Pod"})[0] == 404
    assert _call(*injector, "GET", "/ready")[0] == 200  # still serving
