"""`meshctl demo --k8s --check` on the session's cluster: the control plane installed, emojivoto
meshed by `meshctl inject` and applied, the story's steps run from the host through the API
server, every step PASS, exit 0. Leaves the cluster without either namespace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from integration.kube_target import KubeTarget

from meshpipe.deploy.dev.oci import BuiltImage

pytestmark = [pytest.mark.root, pytest.mark.timeout(1800)]
BIN = Path(sys.executable).parent


def test_demo_k8s_check_passes_every_step(kube: KubeTarget, kube_images: list[BuiltImage]) -> None:
    env = {**os.environ, "MESHPIPE_KUBECTL": kube.kubectl}
    argv = [str(BIN / "meshctl"), "demo", "--k8s", "--check", f"--kubeconfig={kube.kubeconfig}"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=1500, env=env, check=False
        )
    finally:
        kube.run("delete", "namespace", "emojivoto", "meshpipe", "--ignore-not-found",
                 "--wait=true", "--timeout=180s", timeout_s=200)  # fmt: skip
    print(done.stdout, f"took {time.monotonic() - started:.0f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    steps = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(steps) == 9  # install, check, inject, the story's five, check again
    assert all(line.startswith("PASS") for line in steps)
