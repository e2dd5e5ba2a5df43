"""`meshctl install --dev-cluster | kubectl apply -f -` on the real cluster: the control plane's
pods become Ready, a pod's sidecar (the meshproxy image) publishes into the in-cluster Kafka,
the in-cluster worker stores the events, `meshstat`/`meshtap --kubeconfig` read them from the
host through the API server, `meshctl dashboard --kubeconfig` forwards to the in-cluster
dashboard, whose API shows the pod's numbers as meshstat does, and `meshctl check` passes with
the data path. An unready pod is named with its log. Uses the session's `kube` cluster and
`kube_images`.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.kube_target import KubeTarget

from meshpipe.deploy.dev.clusterconf import BUSYBOX_IMAGE
from meshpipe.deploy.dev.oci import BuiltImage
from meshpipe.deploy.mesh.proxyspec import package_version
from meshpipe.schemas.durations import format_time
from meshpipe.schemas.rows import WINDOW_S

pytestmark = [pytest.mark.root, pytest.mark.timeout(1800)]
BIN = Path(sys.executable).parent
NS = "meshpipe"
APP_NS = "mp-install-test"
READY_S = 420  # from apply to every control-plane pod Ready, images already in containerd
DATA_S = 180  # from the app's first request to its row in meshstat


def _cli(kube: KubeTarget, *argv: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MESHPIPE_KUBECTL": kube.kubectl}
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        check=False,
    )


def _check(kube: KubeTarget, wait_s: int) -> subprocess.CompletedProcess[str]:
    argv = ("meshctl", "check", f"--kubeconfig={kube.kubeconfig}", f"--wait={wait_s}")
    return _cli(kube, *argv, timeout_s=wait_s + 120)


@pytest.fixture(scope="module")
def installed(
    kube: KubeTarget, kube_images: list[BuiltImage], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.CompletedProcess[str]]:
    """The control plane applied; yields the first `meshctl check --wait` that passed."""
    manifest = tmp_path_factory.mktemp("install") / "meshpipe.yaml"
    rendered = _cli(kube, "meshctl", "install", "--dev-cluster")
    assert rendered.returncode == 0, rendered.stderr
    manifest.write_text(rendered.stdout)
    started = time.monotonic()
    kube.run("apply", "-f", str(manifest))
    try:
        checked = _check(kube, READY_S)
        print(f"apply to check passing: {time.monotonic() - started:.0f} s")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        yield checked
    finally:  # waited for: later modules may install again
        kube.run("delete", "-f", str(manifest), "--ignore-not-found", "--wait=true",
                 "--timeout=180s", timeout_s=200)  # fmt: skip


def test_the_control_plane_becomes_ready_from_the_projects_images(
    kube: KubeTarget, installed: subprocess.CompletedProcess[str]
) -> None:
    lines = installed.stdout.splitlines()
    assert lines[2].startswith("✔ control-plane pods ready")
    assert "✔ ClickHouse schema present" in installed.stdout
    images = kube.run("get", "pods", "-n", NS, "-o", "jsonpath={..image}").split()
    version = package_version()
    assert {f"ghcr.io/meshpipe/{n}:{version}" for n in ("meshstreams", "kafka")} <= set(images)
    assert f"ghcr.io/meshpipe/clickhouse-debian:{version}" in images


def _app(name: str, proxy_image: str) -> str:
    """A pod: busybox httpd behind a meshproxy sidecar, and a loop calling it through the
    sidecar's inbound port; the sidecar publishes to the install's broker."""
    calls = (
        "echo hello > /tmp/hello; httpd -p 127.0.0.1:8080 -h /tmp; while :; do "
        "printf 'GET /hello HTTP/1.1\\r\\nHost: web\\r\\nConnection: close\\r\\n\\r\\n' "
        "| nc 127.0.0.1 4143 >/dev/null; sleep 0.5; done"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": APP_NS},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", calls],
                },
                {
                    "name": "meshproxy",
                    "image": proxy_image,
                    "imagePullPolicy": "IfNotPresent",
                    "args": [
                        f"--workload={APP_NS}/deployment/web",
                        f"--pod={name}",
                        "--inbound=127.0.0.1:4143=127.0.0.1:8080",
                        "--admin=127.0.0.1:4191",
                        f"--kafka=kafka.{NS}.svc:9092",
                    ],
                },
            ],
        },
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP_NS}}
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [namespace, pod]})


@pytest.fixture(scope="module")
def app_traffic(
    kube: KubeTarget,
    kube_images: list[BuiltImage],
    installed: subprocess.CompletedProcess[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    [proxy] = [image for image in kube_images if image.name == "meshproxy"]
    name = f"web-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path_factory.mktemp("app") / "app.json"
    manifest.write_text(_app(name, proxy.reference))
    kube.run("apply", "-f", str(manifest))
    try:
        kube.run("wait", "-n", APP_NS, "--for=condition=Ready", f"pod/{name}", "--timeout=120s")
        yield name
    finally:
        kube.run("delete", "-f", str(manifest), "--wait=false", "--ignore-not-found")


def test_meshstat_reads_the_pods_events_from_the_host_through_the_api_server(
    kube: KubeTarget, app_traffic: str
) -> None:
    argv = ("meshstat", "deploy", "-n", APP_NS, f"--kubeconfig={kube.kubeconfig}", "-o", "json")
    deadline = time.monotonic() + DATA_S
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline and not rows:
        done = _cli(kube, *argv)
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout or "[]")
        if not rows:
            time.sleep(3)
    assert rows, f"no stats for deploy/web in {DATA_S} s"
    [row] = rows
    print(row)
    assert row["name"] == "web"
    assert row["success"] == 1.0
    assert int(str(row["requests"])) > 0
    assert row["events_lost"] == 0


def test_meshtap_replays_the_pods_requests_through_the_port_forward(
    kube: KubeTarget, app_traffic: str
) -> None:
    argv = ("meshtap", "deploy/web", "-n", APP_NS, f"--kubeconfig={kube.kubeconfig}")
    done = _cli(kube, *argv, "--since=10m", "--count=1", "-o", "json")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    event = json.loads(line)
    assert event["path"] == "/hello"
    assert event["destination"]["pod"] == app_traffic


def test_meshtap_shows_live_requests_through_the_port_forward(
    kube: KubeTarget, app_traffic: str
) -> None:
    """The tap session goes to the in-cluster topic, the worker matches, meshtap reads the
    matches from the broker's forwarded listener."""
    argv = ("meshtap", "deploy/web", "-n", APP_NS, f"--kubeconfig={kube.kubeconfig}")
    done = _cli(kube, *argv, "--count=2", "--duration=60s", "-o", "json", timeout_s=90)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["path"] for e in events] == ["/hello", "/hello"]


def test_check_passes_with_events_arriving(kube: KubeTarget, app_traffic: str) -> None:
    checked = _check(kube, 120)
    print(checked.stdout)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "✔ events arriving (newest" in checked.stdout
    assert "✔ proxies not dropping events" in checked.stdout


def _dashboard_url(process: subprocess.Popen[str], timeout_s: float) -> str:
    """The URL `meshctl dashboard` prints once its forward is open."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            pytest.fail(f"meshctl dashboard printed no URL in {timeout_s:.0f} s")
    line = process.stdout.readline()
    prefix = "meshpipe dashboard available at "
    assert line.startswith(prefix), line + (process.stderr.read() if process.stderr else "")
    return line.removeprefix(prefix).strip()


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: dict[str, object] = json.load(response)
    return body


def test_meshctl_dashboard_forwards_to_the_in_cluster_dashboard(
    kube: KubeTarget, app_traffic: str
) -> None:
    """The install's dashboard pod is Ready; `meshctl dashboard --kubeconfig` forwards a
    loopback port to it, and its API shows deploy/web as meshstat does for the same range."""
    ready = kube.run(
        "get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=dashboard",
        "-o", "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}",
    )  # fmt: skip
    assert ready.split() == ["True"]
    stat = ("meshstat", "deploy", "-n", APP_NS, f"--kubeconfig={kube.kubeconfig}", "-o", "json")
    argv = [str(BIN / "meshctl"), "dashboard", f"--kubeconfig={kube.kubeconfig}", "--port", "0"]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MESHPIPE_KUBECTL": kube.kubectl},
        start_new_session=True,
    )
    try:
        url = _dashboard_url(process, 60)
        assert url.startswith("http://127.0.0.1:")
        # A fixed range of windows the worker has written, moved on until it holds the pod's
        # first requests; a late window may still land in it: read both until they agree.
        deadline = time.monotonic() + DATA_S
        shown: list[dict[str, object]] = []
        expected: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            if not expected:
                end = (int(time.time()) // WINDOW_S - 3) * WINDOW_S
                start = end - 600
            span = ("--since", format_time(start), "--until", format_time(end))
            done = _cli(kube, *stat, *span)
            assert done.returncode == 0, done.stderr
            expected = json.loads(done.stdout or "[]")
            api = f"{url}api/namespaces/{APP_NS}?start={start}&end={end}"
            workloads = _get_json(api)["workloads"]
            assert isinstance(workloads, list)
            shown = [w for w in workloads if w["kind"] == "deployment"]
            if expected and [w["requests"] for w in shown] == [r["requests"] for r in expected]:
                break
            time.sleep(3)
        print(start, end, shown, expected)
        assert [w["name"] for w in shown] == ["web"]
        assert [(w["requests"], w["success"]) for w in shown] == [
            (r["requests"], r["success"]) for r in expected
        ]
        assert int(str(shown[0]["requests"])) > 0
    finally:
        process.send_signal(signal.SIGINT)  # the command closes its kubectl port-forward
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
    assert code == 130


def test_an_unready_control_pod_is_named_with_its_log(
    kube: KubeTarget, installed: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    """Last: a crashing pod labelled as a worker makes check fail, naming it and its log."""
    word = f"boom-{uuid.uuid4().hex[:6]}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": word,
            "namespace": NS,
            "labels": {"app.kubernetes.io/name": "meshstreams", "app.kubernetes.io/part-of": NS},
        },
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", f"echo {word} failed; exit 3"],
                }
            ],
        },
    }
    manifest = tmp_path / "crash.json"
    manifest.write_text(json.dumps(pod))
    kube.run("apply", "-f", str(manifest))
    try:
        argv = ("meshctl", "check", f"--kubeconfig={kube.kubeconfig}")
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and f"{word} failed" not in line:
            done = _cli(kube, *argv)
            assert done.returncode == 3, done.stdout + done.stderr
            line = next(x for x in done.stdout.splitlines() if "control-plane pods" in x)
            time.sleep(2)
        print(line)
        assert line.startswith(f"× control-plane pods ready ({word} ")
        assert f"log of main: {word} failed" in line
    finally:
        kube.run("delete", "-f", str(manifest), "--wait=false")
