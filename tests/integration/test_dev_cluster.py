"""`meshctl dev cluster`: a pod runs on the local node and its log is read; pods call a Service
by name (kube-proxy and CoreDNS, as the demo's apps do); a second `up` changes nothing; `down`
leaves the host exactly as it was before `up`, also after an `up` that failed half-way.

Uses the session's `kube` fixture: KUBECONFIG's cluster when it names another one.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

import pytest
from integration.kube_target import KubeTarget

from meshpipe.deploy.dev.cluster import Cluster
from meshpipe.deploy.dev.clusterconf import BUSYBOX_IMAGE
from meshpipe.deploy.dev.hoststate import take_snapshot
from meshpipe.deploy.dev.procs import DevStackError

# The session fixture builds Kubernetes on a cold machine (~15 min) before the first test.
pytestmark = pytest.mark.timeout(3600)
POD_READY_S = 120


def _pod_manifest(name: str, image: str, pull: str, command: str, labels: str = "{}") -> str:
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {labels}}}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    imagePullPolicy: {pull}
    command: [sh, -c, "{command}"]
"""


def _image(kube: KubeTarget) -> tuple[str, str]:
    """The busybox image and pull policy: ours is imported, another cluster may pull."""
    if kube.cluster is not None:
        return BUSYBOX_IMAGE, "Never"
    return os.environ.get("MESHPIPE_TEST_BUSYBOX", "busybox:1.36"), "IfNotPresent"


def _wait_ready(kube: KubeTarget, *pods: str) -> None:
    kube.run("wait", "--for=condition=Ready", *(f"pod/{p}" for p in pods),
             f"--timeout={POD_READY_S}s", timeout_s=POD_READY_S + 30)  # fmt: skip


def test_a_busybox_pod_runs_and_its_log_is_read(kube: KubeTarget, tmp_path: Path) -> None:
    name = f"mp-busybox-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "pod.yaml"
    command = f"echo hello from {name}; exec sleep 3600"
    manifest.write_text(_pod_manifest(name, *_image(kube), command))
    kube.run("wait", "--for=jsonpath={.metadata.name}=default", "serviceaccount/default",
             "--timeout=60s")  # fmt: skip
    kube.run("apply", "-f", str(manifest))
    try:
        _wait_ready(kube, name)
        assert kube.run("get", "pod", name, "-o", "jsonpath={.status.phase}") == "Running"
        assert f"hello from {name}" in kube.run("logs", name)
    finally:
        kube.run("delete", "pod", name, "--wait=false")


def test_a_pod_calls_a_service_by_name(kube: KubeTarget, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    web, client = f"mp-web-{tag}", f"mp-client-{tag}"
    serve = f"echo hi from {web} > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"
    service = f"""apiVersion: v1
kind: Service
metadata: {{name: {web}}}
spec:
  selector: {{app: {web}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
    manifest = tmp_path / "web.yaml"
    manifest.write_text(
        "---\n".join([
            _pod_manifest(web, *_image(kube), serve, f"{{app: {web}}}"),
            _pod_manifest(client, *_image(kube), "exec sleep 3600"),
            service,
        ])
    )  # fmt: skip
    kube.run("apply", "-f", str(manifest))
    try:
        _wait_ready(kube, web, client)
        request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {web} 80"
        answer = kube.run("exec", client, "--", "sh", "-c", request)
        assert f"hi from {web}" in answer
    finally:
        kube.run("delete", "-f", str(manifest), "--wait=false")


def test_a_second_up_starts_nothing(kube: KubeTarget) -> None:
    if kube.cluster is None:
        pytest.skip("KUBECONFIG names a cluster this project did not start")
    pids = {c.name: kube.cluster.daemon(c.name).pid() for c in kube.cluster.components()}
    assert kube.cluster.up(lambda _line: None) == []
    assert {c.name: kube.cluster.daemon(c.name).pid() for c in kube.cluster.components()} == pids
    assert all(row.ready for row in kube.cluster.status())


def test_down_restores_the_host(kube: KubeTarget) -> None:
    """Last in this module: takes the cluster down and compares; then an `up` that fails
    half-way and its `down`; then brings the cluster back for later tests."""
    if kube.cluster is None or kube.before is None:
        pytest.skip("KUBECONFIG names a cluster this project did not start")
    kube.cluster.down(lambda _line: None)
    assert kube.before.differences(take_snapshot(kube.cluster.s.dir)) == []
    assert not kube.cluster.s.dir.exists()

    hasty = Cluster(dataclasses.replace(kube.cluster.s, start_timeout_s=0))
    with pytest.raises(DevStackError, match="etcd did not become ready within 0s"):
        hasty.up(lambda _line: None)
    hasty.down(lambda _line: None)
    assert kube.before.differences(take_snapshot(kube.cluster.s.dir)) == []
    assert not kube.cluster.s.dir.exists()

    kube.cluster.up(lambda _line: None)
