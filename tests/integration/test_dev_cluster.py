"""`meshctl dev cluster`: a pod runs on the local node and its log is read; a second `up`
changes nothing; `down` leaves the host exactly as it was before `up`.

Uses the session's `kube` fixture: KUBECONFIG's cluster when it names another one.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from integration.kube_target import KubeTarget

from meshpipe.deploy.dev.clusterconf import BUSYBOX_IMAGE
from meshpipe.deploy.dev.hoststate import take_snapshot

pytestmark = pytest.mark.timeout(900)
POD_READY_S = 120


def _pod_manifest(name: str, image: str, pull: str) -> str:
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: meshpipe-test}}}}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    imagePullPolicy: {pull}
    command: [sh, -c, "echo hello from {name}; exec sleep 3600"]
"""


def test_a_busybox_pod_runs_and_its_log_is_read(kube: KubeTarget, tmp_path: Path) -> None:
    name = f"mp-busybox-{uuid.uuid4().hex[:6]}"
    ours = kube.cluster is not None
    image = BUSYBOX_IMAGE if ours else os.environ.get("MESHPIPE_TEST_BUSYBOX", "busybox:1.36")
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(_pod_manifest(name, image, "Never" if ours else "IfNotPresent"))
    kube.run("wait", "--for=jsonpath={.metadata.name}=default", "serviceaccount/default",
             "--timeout=60s")  # fmt: skip
    kube.run("apply", "-f", str(manifest))
    try:
        kube.run("wait", "--for=condition=Ready", f"pod/{name}", f"--timeout={POD_READY_S}s",
                 timeout_s=POD_READY_S + 30)  # fmt: skip
        assert kube.run("get", "pod", name, "-o", "jsonpath={.status.phase}") == "Running"
        assert f"hello from {name}" in kube.run("logs", name)
    finally:
        kube.run("delete", "pod", name, "--wait=false")


def test_a_second_up_starts_nothing(kube: KubeTarget) -> None:
    if kube.cluster is None:
        pytest.skip("KUBECONFIG names a cluster this project did not start")
    pids = {c.name: kube.cluster.daemon(c.name).pid() for c in kube.cluster.components()}
    assert kube.cluster.up(lambda _line: None) == []
    assert {c.name: kube.cluster.daemon(c.name).pid() for c in kube.cluster.components()} == pids
    assert all(row.ready for row in kube.cluster.status())


def test_down_restores_the_host(kube: KubeTarget) -> None:
    """Last in this module: takes the cluster down, compares, then brings it back for others."""
    if kube.cluster is None or kube.before is None:
        pytest.skip("KUBECONFIG names a cluster this project did not start")
    kube.cluster.down(lambda _line: None)
    after = take_snapshot(kube.cluster.s.dir)
    assert kube.before.differences(after) == []
    assert not kube.cluster.s.dir.exists()
    kube.cluster.up(lambda _line: None)
