"""The operator's way into an installed control plane, as `linkerd viz` does it: `kubectl
port-forward` through the API server (to the dashboard's Service, ClickHouse's native port, or
the single broker's loopback listener), and the reader's password read from the install's
Secret. Nothing is exposed beyond the cluster; the forward lives as long as the CLI that opened
it."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from meshpipe.deploy.mesh.clickhouse import CREDENTIALS_SECRET, NATIVE_PORT
from meshpipe.deploy.mesh.dashboard import COMPONENT as DASHBOARD
from meshpipe.deploy.mesh.dashboard import PORT as DASHBOARD_PORT
from meshpipe.deploy.mesh.kafkabroker import COMPONENT as KAFKA_COMPONENT
from meshpipe.deploy.mesh.kafkabroker import HOST_PORT as KAFKA_HOST_PORT
from meshpipe.sinks.users import DATABASE, READER_USER

FORWARD_TIMEOUT_S = 20.0
_FORWARDING = re.compile(rb"Forwarding from 127\.0\.0\.1:(\d+) ->")
# Where `meshctl dev cluster build` leaves kubectl (a fallback when none is on PATH).
_CACHED_KUBECTL = Path.home() / ".cache" / "meshpipe" / "kubernetes"


class ClusterAccessError(Exception):
    """kubectl is missing, the install cannot be read, or the forward did not open: one line."""


@dataclass(frozen=True)
class ClusterAccess:
    """Which cluster (kubeconfig, context: None = kubectl's defaults) and which install."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = "meshpipe"
    kubectl: str = field(default_factory=lambda: find_kubectl())

    def argv(self, *args: str) -> list[str]:
        head = [self.kubectl]
        if self.kubeconfig:
            head.append(f"--kubeconfig={self.kubeconfig}")
        if self.context:
            head.append(f"--context={self.context}")
        return [*head, "-n", self.namespace, *args]

    def get(self, *args: str, timeout_s: float = FORWARD_TIMEOUT_S) -> str:
        """kubectl get ... in the install's namespace; its stdout."""
        try:
            done = subprocess.run(  # noqa: S603 - kubectl with arguments built here
                self.argv("get", *args), capture_output=True, text=True, timeout=timeout_s
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClusterAccessError(f"kubectl get {' '.join(args)}: {exc}") from exc
        if done.returncode != 0:
            error = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise ClusterAccessError(f"kubectl get {' '.join(args)}: {error[0]}")
        return done.stdout


def find_kubectl() -> str:
    """MESHPIPE_KUBECTL, else kubectl on PATH, else the one `meshctl dev cluster` built."""
    named = os.environ.get("MESHPIPE_KUBECTL")
    if named:
        return named
    found = shutil.which("kubectl")
    if found:
        return found
    built = sorted(_CACHED_KUBECTL.glob("v*/bin/kubectl"))
    return str(built[-1]) if built else "kubectl"


@dataclass(frozen=True)
class ClickHouseEndpoint:
    """What the install's meshpipe-config and Secret say about reading ClickHouse."""

    service: str
    database: str
    user: str
    password: str


def clickhouse_endpoint(access: ClusterAccess) -> ClickHouseEndpoint:
    config = _json(access.get("configmap", "meshpipe-config", "-o", "json"), "meshpipe-config")
    data = config.get("data") or {}
    secret = _json(access.get("secret", CREDENTIALS_SECRET, "-o", "json"), CREDENTIALS_SECRET)
    try:
        password = base64.b64decode((secret.get("data") or {})["reader-password"]).decode()
    except (KeyError, ValueError) as exc:
        raise ClusterAccessError(f"secret {CREDENTIALS_SECRET} has no reader-password") from exc
    return ClickHouseEndpoint(
        service=data.get("clickhouse-service", "clickhouse"),
        database=data.get("clickhouse-database", DATABASE),
        user=READER_USER,
        password=password,
    )


def installed_components(access: ClusterAccess) -> tuple[str, ...]:
    """The components the install's meshpipe-config lists (empty for an install older than
    that list)."""
    config = _json(access.get("configmap", "meshpipe-config", "-o", "json"), "meshpipe-config")
    listed = str((config.get("data") or {}).get("components") or "")
    return tuple(name for name in listed.split(",") if name)


def has_dashboard(access: ClusterAccess) -> bool:
    """Whether the install runs the dashboard in the cluster (`meshctl install` without
    --no-dashboard)."""
    return DASHBOARD in installed_components(access)


def _json(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ClusterAccessError(f"{what}: kubectl did not answer JSON") from exc
    if not isinstance(value, dict):
        raise ClusterAccessError(f"{what}: kubectl did not answer an object")
    return value


class PortForward:
    """`kubectl port-forward RESOURCE LOCAL:REMOTE` on 127.0.0.1 for a `with` block; local
    None picks a free port. `port` is the local port once entered."""

    def __init__(
        self, access: ClusterAccess, resource: str, remote: int, local: int | None = None
    ) -> None:
        self.access = access
        self.resource = resource
        self.remote = remote
        self.local = local
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None

    def __enter__(self) -> PortForward:
        ports = f"{self.local or ''}:{self.remote}"
        argv = self.access.argv("port-forward", "--address=127.0.0.1", self.resource, ports)
        try:
            self._process = subprocess.Popen(  # noqa: S603 - kubectl, arguments built here
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise ClusterAccessError(f"cannot run {self.access.kubectl}: {exc}") from exc
        try:
            self.port = self._wait_forwarding()
        except BaseException:
            self.close()
            raise
        # kubectl says "Handling connection" per connection: keep reading so it never blocks.
        self._drain = threading.Thread(
            target=_drain, args=(self._process.stdout,), name="port-forward-stdout", daemon=True
        )
        self._drain.start()
        return self

    def _wait_forwarding(self) -> int:
        assert self._process is not None
        assert self._process.stdout is not None
        deadline = time.monotonic() + FORWARD_TIMEOUT_S
        seen = b""
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = (self._process.stderr.read() if self._process.stderr else b"").decode()
                last = error.strip().splitlines()[-1:] or [f"exit {self._process.returncode}"]
                raise ClusterAccessError(
                    f"kubectl port-forward {self.resource} {self.remote}: {last[0]}"
                )
            ready, _, _ = select.select([self._process.stdout], [], [], 0.2)
            if ready:
                seen += os.read(self._process.stdout.fileno(), 4096)
                if found := _FORWARDING.search(seen):
                    return int(found.group(1))
        raise ClusterAccessError(
            f"kubectl port-forward {self.resource} {self.remote}: "
            f"no forward within {FORWARD_TIMEOUT_S:.0f} s"
        )

    def wait(self) -> int:
        """Block until kubectl exits (the pod went away, the API server dropped the stream);
        its exit code. Interrupting the caller leaves close() to the `with` block."""
        if self._process is None:
            return 0
        return self._process.wait()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)
            self._drain = None
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _drain(pipe: IO[bytes] | None) -> None:
    if pipe is None:
        return
    with contextlib.suppress(OSError, ValueError):
        while os.read(pipe.fileno(), 4096):
            pass


def clickhouse_forward(access: ClusterAccess, endpoint: ClickHouseEndpoint) -> PortForward:
    """A forward to the install's ClickHouse Service, native port, on a free local port."""
    return PortForward(access, f"service/{endpoint.service}", NATIVE_PORT)


def kafka_forward(access: ClusterAccess) -> PortForward:
    """A forward to the single broker's loopback listener, on the port it advertises."""
    return PortForward(
        access, f"statefulset/{KAFKA_COMPONENT}", KAFKA_HOST_PORT, local=KAFKA_HOST_PORT
    )


def dashboard_forward(access: ClusterAccess, local: int | None) -> PortForward:
    """A forward to the in-cluster dashboard's Service on local (None: a free port)."""
    return PortForward(access, f"service/{DASHBOARD}", DASHBOARD_PORT, local=local)
