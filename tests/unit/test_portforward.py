"""The CLIs' way into a cluster: kubectl port-forward's local port is found, a forward that
fails is one line, and the reader's credentials come from the install's ConfigMap and Secret.
kubectl is a small script here; tests/integration/test_install_cluster.py runs the real one."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from meshpipe.cli.cluster_flags import pop_access
from meshpipe.deploy.mesh import portforward
from meshpipe.deploy.mesh.portforward import (
    ClusterAccess,
    ClusterAccessError,
    PortForward,
    clickhouse_endpoint,
    dashboard_forward,
    has_dashboard,
)


def _kubectl(tmp_path: Path, body: str) -> str:
    script = tmp_path / "kubectl"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_the_forwarded_local_port_is_read_from_kubectl(tmp_path: Path) -> None:
    kubectl = _kubectl(
        tmp_path,
        'echo "$@" > "$(dirname "$0")/argv"\n'
        "echo 'Forwarding from 127.0.0.1:41234 -> 9000'\n"
        "echo 'Forwarding from [::1]:41234 -> 9000'\nexec sleep 30",
    )
    access = ClusterAccess(kubeconfig="/k", context="prod", namespace="mp", kubectl=kubectl)
    with PortForward(access, "service/clickhouse", 9000) as forward:
        assert forward.port == 41234
    argv = (tmp_path / "argv").read_text().split()
    assert argv == [
        "--kubeconfig=/k",
        "--context=prod",
        "-n",
        "mp",
        "port-forward",
        "--address=127.0.0.1",
        "service/clickhouse",
        ":9000",
    ]


def test_a_failed_forward_is_one_line_with_kubectls_reason(tmp_path: Path) -> None:
    kubectl = _kubectl(tmp_path, "echo 'error: services \"clickhouse\" not found' >&2; exit 1")
    access = ClusterAccess(kubectl=kubectl)
    with pytest.raises(ClusterAccessError) as caught:
        PortForward(access, "service/clickhouse", 9000).__enter__()
    assert str(caught.value) == (
        'kubectl port-forward service/clickhouse 9000: error: services "clickhouse" not found'
    )


def test_the_reader_password_comes_from_the_secret(tmp_path: Path) -> None:
    config = {"data": {"clickhouse-service": "clickhouse-meshpipe", "clickhouse-database": "mp"}}
    secret = {"data": {"reader-password": base64.b64encode(b"s3cret").decode()}}
    (tmp_path / "configmap").write_text(json.dumps(config))
    (tmp_path / "secret").write_text(json.dumps(secret))
    kubectl = _kubectl(tmp_path, 'cat "$(dirname "$0")/$4"')  # argv: -n NS get KIND NAME ...
    endpoint = clickhouse_endpoint(ClusterAccess(kubectl=kubectl))
    assert (endpoint.service, endpoint.database) == ("clickhouse-meshpipe", "mp")
    assert (endpoint.user, endpoint.password) == ("meshpipe_ro", "s3cret")


def test_without_kubeconfig_or_context_the_clis_use_their_urls() -> None:
    params: dict[str, object] = {"kubeconfig": None, "kube_context": None, "mesh_namespace": "x"}
    assert pop_access(params) is None
    assert params == {}


def test_a_kubectl_that_never_forwards_is_given_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(portforward, "FORWARD_TIMEOUT_S", 0.5)
    forward = PortForward(ClusterAccess(kubectl=_kubectl(tmp_path, "exec sleep 30")), "svc/x", 1)
    with pytest.raises(ClusterAccessError, match="no forward within"):
        forward.__enter__()


def _install_config(tmp_path: Path, components: str | None) -> ClusterAccess:
    data = {} if components is None else {"components": components}
    (tmp_path / "configmap").write_text(json.dumps({"data": data}))
    return ClusterAccess(kubectl=_kubectl(tmp_path, 'cat "$(dirname "$0")/$4"'))


@pytest.mark.parametrize(
    ("components", "expected"),
    [
        ("meshstreams,clickhouse,kafka,dashboard,meshpipe-injector", True),
        ("meshstreams,clickhouse,kafka,meshpipe-injector", False),  # --no-dashboard
        (None, False),  # an install older than the component list
    ],
)
def test_the_dashboard_is_forwarded_to_only_when_the_install_lists_it(
    tmp_path: Path, components: str | None, expected: bool
) -> None:
    assert has_dashboard(_install_config(tmp_path, components)) is expected


def test_the_dashboard_forward_goes_to_its_service_on_the_port_asked(tmp_path: Path) -> None:
    access = ClusterAccess(kubectl="kubectl", namespace="mp")
    fixed, free = dashboard_forward(access, 8084), dashboard_forward(access, None)
    assert (fixed.resource, fixed.remote, fixed.local) == ("service/dashboard", 50750, 8084)
    assert (free.resource, free.remote, free.local) == ("service/dashboard", 50750, None)
