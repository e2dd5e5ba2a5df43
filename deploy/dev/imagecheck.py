"""A built image's root run the way its pod would, for tests and measurements: the image
unpacked from its OCI layout, commands in a chroot, the sidecar timed from start to ready."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from meshpipe.deploy.dev.containerfile import DEFAULT_PATH
from meshpipe.deploy.dev.oci import BuiltImage
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.deploy.dev.rootfs import chroot_command, chroot_run, run_tool, unmount_under

_POLL_S = 0.01


def unpack(layout: Path, tag: str, bundle: Path) -> Path:
    """The image's root file system, as a runtime would unpack it (bundle/rootfs)."""
    run_tool(["umoci", "unpack", "--image", f"{layout}:{tag}", bundle], "umoci unpack")
    return bundle / "rootfs"


def run_in(root: Path, argv: Sequence[str], user: str | None = None) -> str:
    """argv in the image's root with the image's PATH; its output (DevStackError if it fails)."""
    return chroot_run(root, argv, [("PATH", f"/opt/meshpipe/bin:{DEFAULT_PATH}")], user)


@dataclass(frozen=True)
class SidecarProbe:
    """How to start the sidecar for a readiness measurement (ports on loopback)."""

    kafka: str  # host:port of a reachable broker
    admin_port: int
    inbound_port: int
    outbound_port: int
    user: str = "2102:2102"  # the pod's runAsUser (deploy/mesh/proxyspec.py)
    timeout_s: float = 30.0


def sidecar_ready_seconds(root: Path, probe: SidecarProbe) -> float:
    """Seconds from starting meshproxy in root until its admin /ready answers 200."""
    argv = [
        "/opt/meshpipe/bin/meshproxy",
        "--workload=default/deploy/probe",
        f"--inbound=127.0.0.1:{probe.inbound_port}=127.0.0.1:9",
        f"--outbound=127.0.0.1:{probe.outbound_port}",
        f"--admin=127.0.0.1:{probe.admin_port}",
        f"--kafka={probe.kafka}",
    ]
    env = [("PATH", f"/opt/meshpipe/bin:{DEFAULT_PATH}")]
    url = f"http://127.0.0.1:{probe.admin_port}/ready"
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - argv built above
        chroot_command(root, argv, env, probe.user),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        while time.monotonic() - started < probe.timeout_s:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise DevStackError(f"meshproxy exited with {process.returncode}: {error[-300:]}")
            if _ready(url):
                return time.monotonic() - started
            time.sleep(_POLL_S)
        raise DevStackError(f"meshproxy was not ready within {probe.timeout_s:.0f} s")
    finally:
        _stop(process)
        unmount_under(root)


def measure_sidecar(image: BuiltImage, kafka: str, runs: int) -> list[float]:
    """sidecar_ready_seconds `runs` times from the unpacked image (the first run is cold)."""
    with tempfile.TemporaryDirectory(prefix="meshpipe-image-") as tmp:
        try:
            root = unpack(image.layout, image.reference.rsplit(":", 1)[1], Path(tmp) / "bundle")
            probe = SidecarProbe(kafka, _free_port(), _free_port(), _free_port())
            return [sidecar_ready_seconds(root, probe) for _ in range(runs)]
        finally:
            unmount_under(Path(tmp))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback http
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group this module started (unshare and the proxy), then SIGKILL."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if process.stderr:
        process.stderr.close()
