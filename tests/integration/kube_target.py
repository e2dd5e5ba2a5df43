"""The Kubernetes cluster integration tests use, and kubectl against it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from meshpipe.deploy.dev.cluster import Cluster
from meshpipe.deploy.dev.hoststate import HostSnapshot


@dataclass(frozen=True)
class KubeTarget:
    """The cluster the Kubernetes tests use: ours (`meshctl dev cluster up`) or KUBECONFIG's."""

    kubeconfig: Path
    kubectl: str
    cluster: Cluster | None  # None: an existing cluster named by KUBECONFIG
    before: HostSnapshot | None  # the host before our `up`

    def run(self, *args: str, timeout_s: float = 120.0) -> str:
        done = subprocess.run(
            [self.kubectl, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout
