"""Transparent outbound mode in a network namespace: iptables REDIRECT, SO_ORIGINAL_DST routing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpipe.demo.netns import in_netns

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "iptables", "setpriv")),
        reason="needs root with ip, iptables and setpriv (network namespaces)",
    ),
]

MESHPROXY = str(Path(sys.executable).parent / "meshproxy")
SERVICE = "10.99.0.2"  # a "remote" service address inside the namespace
READY = "127.0.0.1:4191/ready"
APP_UID = "65534"  # the app runs as nobody; only its connections are redirected, like Linkerd


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"mp{uuid.uuid4().hex[:8]}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        run("ip", "netns", "exec", name, "ip", "addr", "add", f"{SERVICE}/32", "dev", "lo")
        run(
            "ip", "netns", "exec", name, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp",
            "-d", SERVICE, "--dport", "80", "-m", "owner", "--uid-owner", APP_UID,
            "-j", "REDIRECT", "--to-ports", "4140",
        )  # fmt: skip
        yield name
    finally:
        run("ip", "netns", "del", name)


def in_ns(ns: str, *argv: str, uid: str | None = None) -> list[str]:
    return [*in_netns(ns, int(uid) if uid else None), *argv]


def wait_ready(ns: str) -> None:
    for _ in range(100):
        probe = subprocess.run(
            in_ns(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", READY),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if probe.stdout == "200":
            return
        time.sleep(0.1)
    raise AssertionError("meshproxy never became ready in the namespace")


def test_redirected_connection_reaches_its_original_destination(netns: str) -> None:
    origin = subprocess.Popen(
        in_ns(netns, sys.executable, "-m", "http.server", "80", "--bind", SERVICE),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
    )  # fmt: skip
    proxy = subprocess.Popen(
        in_ns(
            netns, MESHPROXY, "--workload", "emojivoto/deployment/web", "--transparent",
            "--outbound", "127.0.0.1:4140", "--admin", "127.0.0.1:4191",
            "--kafka", "127.0.0.1:1",  # unreachable in the namespace: traffic must not care
        ),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(netns)
        app = run(*in_ns(netns, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                         f"http://{SERVICE}/", uid=APP_UID))  # fmt: skip
        metrics = run(*in_ns(netns, "curl", "-sS", "127.0.0.1:4191/metrics")).stdout
    finally:
        for proc in (proxy, origin):
            proc.terminate()
            proc.wait(timeout=15)
    assert app.stdout == "200"
    assert (
        f'request_total{{authority="{SERVICE}",direction="outbound",'
        f'target_addr="{SERVICE}:80",tls="false"}} 1.0'
    ) in metrics
