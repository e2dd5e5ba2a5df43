"""Transparent inbound mode in network namespaces: a client pod's connections to the app's port
are REDIRECTed by meshctl inject's own iptables rules to a bare `--inbound 0.0.0.0:4143`."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from test_proxy_transparent import MESHPROXY, in_ns, pytestmark, run, wait_ready

from meshpipe.deploy.mesh.proxyspec import ProxyConfig, iptables_rules

__all__ = ["pytestmark"]  # root-only, skipped with a reason otherwise (see the imported marks)

POD_IP = "10.99.1.2"
CLIENT_IP = "10.99.1.1"
APP_PORT = 8080
CONFIG = ProxyConfig(image="meshproxy:test")


@dataclass(frozen=True)
class Pods:
    client: str
    pod: str


@pytest.fixture
def pods() -> Iterator[Pods]:
    """Two namespaces joined by a veth pair; the pod one carries the injected iptables rules."""
    suffix = uuid.uuid4().hex[:8]
    pair = Pods(client=f"mpc{suffix}", pod=f"mpp{suffix}")
    for ns in (pair.client, pair.pod):
        run("ip", "netns", "add", ns)
    try:
        run(
            "ip", "link", "add", "eth0", "netns", pair.pod, "type", "veth",
            "peer", "name", "eth0", "netns", pair.client,
        )  # fmt: skip
        for ns, ip in ((pair.pod, POD_IP), (pair.client, CLIENT_IP)):
            run(*in_ns(ns, "ip", "addr", "add", f"{ip}/24", "dev", "eth0"))
            run(*in_ns(ns, "ip", "link", "set", "eth0", "up"))
            run(*in_ns(ns, "ip", "link", "set", "lo", "up"))
        script = "set -e\n" + "\n".join(iptables_rules(CONFIG)) + "\n"
        run(*in_ns(pair.pod, "sh", "-c", script))
        yield pair
    finally:
        for ns in (pair.client, pair.pod):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


@pytest.fixture
def meshed_app(pods: Pods) -> Iterator[Pods]:
    """An app on loopback only and meshproxy in front of it, with no APP in --inbound."""
    app = subprocess.Popen(
        in_ns(pods.pod, sys.executable, "-m", "http.server", str(APP_PORT), "--bind", "127.0.0.1"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
    )  # fmt: skip
    proxy = subprocess.Popen(
        in_ns(
            pods.pod, MESHPROXY, "--workload", "emojivoto/deployment/web", "--transparent",
            "--inbound", f"0.0.0.0:{CONFIG.inbound_port}", "--admin", "127.0.0.1:4191",
            "--kafka", "127.0.0.1:1",  # unreachable in the namespace: traffic must not care
        ),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(pods.pod)
        yield pods
    finally:
        for proc in (proxy, app):
            proc.terminate()
            proc.wait(timeout=15)


def curl_status(ns: str, url: str) -> subprocess.CompletedProcess[str]:
    argv = in_ns(ns, "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", url)
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def test_redirected_inbound_connection_reaches_the_app_on_loopback(meshed_app: Pods) -> None:
    reply = curl_status(meshed_app.client, f"http://{POD_IP}:{APP_PORT}/")
    metrics = run(*in_ns(meshed_app.pod, "curl", "-sS", "127.0.0.1:4191/metrics")).stdout
    assert reply.stdout == "200"
    assert (
        f'request_total{{authority="{POD_IP}:{APP_PORT}",direction="inbound",'
        f'target_addr="127.0.0.1:{APP_PORT}",tls="false"}} 1.0'
    ) in metrics


def test_direct_connection_to_the_inbound_port_is_refused_not_looped(meshed_app: Pods) -> None:
    reply = curl_status(meshed_app.client, f"http://{POD_IP}:{CONFIG.inbound_port}/")
    metrics = run(*in_ns(meshed_app.pod, "curl", "-sS", "127.0.0.1:4191/metrics")).stdout
    # The proxy aborts the connection on accept: curl sees a reset (56) or, when the close wins
    # the race with its request, an empty reply (52); either way no response and no app.
    assert reply.returncode in (52, 56)
    assert reply.stdout == "000"
    assert 'direction="inbound"' not in metrics
