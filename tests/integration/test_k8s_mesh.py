"""Meshed emojivoto and the proxy injector on a real cluster (the session's `kube` fixture).

- `meshctl inject demo/k8s/emojivoto.yml | kubectl apply -f -`: every pod runs the iptables init
  and the sidecar, the apps' containers stay as written, and the sidecars' own counters show the
  traffic both ways, the story's 500s included (voting's calls to emoji's old HTTP/1 endpoint).
  No control plane is installed: the sidecars publish nowhere and traffic flows anyway.
- The proxy injector, as `meshctl install` renders it (TLS from a fresh CA), called by the real
  API server: a pod created in a namespace annotated `meshpipe.io/inject: enabled` comes back
  with the sidecar and runs; a pod annotated `disabled` there does not get it.

The images are built once (cached by content in build/images) and loaded into the node.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from integration.kube_target import KubeTarget

from meshpipe.cli.inject import inject
from meshpipe.cli.injector_tls import generate_injector_tls
from meshpipe.deploy.dev.clusterconf import BUSYBOX_IMAGE
from meshpipe.deploy.dev.images import ImageBuildSettings, ensure_images, missing_tools
from meshpipe.deploy.mesh.injector import INJECTOR, InjectorConfig, injector
from meshpipe.deploy.mesh.proxyspec import default_proxy_image

pytestmark = [pytest.mark.root, pytest.mark.images, pytest.mark.timeout(3600)]
REPO = Path(__file__).resolve().parents[2]
EMOJIVOTO = REPO / "demo" / "k8s" / "emojivoto.yml"
READY_S = 240
DEMO_APPS = ("emoji", "voting", "web", "vote-bot")


def _wait_for(what: str, probe: Callable[[], Any], timeout_s: float = READY_S) -> Any:
    """probe()'s first truthy answer; fails naming what never came (not a speed assertion)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(2)
    pytest.fail(f"{what}: not within {timeout_s:.0f}s (last: {last!r})")


@pytest.fixture(scope="module")
def images(kube: KubeTarget) -> None:
    """The sidecar and demo images in the node's containerd (another cluster must pull them)."""
    if kube.cluster is None:
        return
    if missing := missing_tools():
        pytest.skip(f"building images needs {', '.join(missing)} (make system)")
    settings = ImageBuildSettings(targets=("meshproxy", "meshpipe-demo"))
    kube.cluster.load_images(ensure_images(settings, print), print)


def _delete_namespace(kube: KubeTarget, name: str) -> None:
    kube.run("delete", "namespace", name, "--ignore-not-found", "--wait=true", "--timeout=120s",
             timeout_s=150)  # fmt: skip


def _pod_metrics(kube: KubeTarget, namespace: str, pod: str) -> str:
    """The sidecar's Prometheus text, through the API server's pod proxy (no tool in the pod)."""
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}:4191/proxy/metrics"
    return kube.run("get", "--raw", path)


def _count(metrics: str, name: str, **labels: str) -> float:
    """The sum of the samples of name whose labels include all of labels."""
    total = 0.0
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


def _pods(kube: KubeTarget, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = kube.run("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


@pytest.fixture(scope="module")
def emojivoto(
    kube: KubeTarget, images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    _delete_namespace(kube, "emojivoto")
    result = CliRunner().invoke(inject, [str(EMOJIVOTO)])
    assert result.exit_code == 0, result.output
    manifest = tmp_path_factory.mktemp("emojivoto") / "injected.yml"
    manifest.write_text(result.stdout)
    kube.run("apply", "-f", str(manifest))
    try:
        kube.run("wait", "-n", "emojivoto", "--for=condition=Available", "deployment", "--all",
                 f"--timeout={READY_S}s", timeout_s=READY_S + 30)  # fmt: skip
        yield
    finally:
        _delete_namespace(kube, "emojivoto")


@pytest.mark.usefixtures("emojivoto")
def test_injected_pods_run_the_redirect_and_the_sidecar_and_keep_the_app_as_written(
    kube: KubeTarget,
) -> None:
    written = {d["metadata"]["name"]: d for d in yaml.safe_load_all(EMOJIVOTO.read_text())
               if d["kind"] == "Deployment"}  # fmt: skip
    for app in DEMO_APPS:
        original = written[app]["spec"]["template"]["spec"]["containers"][0]
        label = written[app]["spec"]["selector"]["matchLabels"]["app"]
        [pod] = _pods(kube, "emojivoto", f"app={label}")
        spec, status = pod["spec"], pod["status"]
        assert [c["name"] for c in spec["initContainers"]] == ["meshproxy-init", "meshproxy"]
        [app_container] = spec["containers"]
        for field in ("name", "image", "args", "env", "securityContext"):
            assert app_container[field] == original[field], (app, field)
        init = {s["name"]: s for s in status["initContainerStatuses"]}
        assert init["meshproxy-init"]["state"]["terminated"]["exitCode"] == 0
        assert init["meshproxy"]["ready"] is True


@pytest.mark.usefixtures("emojivoto")
def test_traffic_and_the_story_500s_show_in_the_sidecars_counters(kube: KubeTarget) -> None:
    pods = {app: _pods(kube, "emojivoto", f"app={label}")[0]["metadata"]["name"]
            for app, label in (("emoji", "emoji-svc"), ("voting", "voting-svc"),
                               ("web", "web-svc"), ("vote-bot", "vote-bot"))}  # fmt: skip

    def story() -> dict[str, float] | None:
        emoji = _pod_metrics(kube, "emojivoto", pods["emoji"])
        voting = _pod_metrics(kube, "emojivoto", pods["voting"])
        web = _pod_metrics(kube, "emojivoto", pods["web"])
        bot = _pod_metrics(kube, "emojivoto", pods["vote-bot"])
        seen = {
            # emoji answers voting's old HTTP/1 lookups with 500 for part of the list...
            "emoji inbound 500": _count(emoji, "response_total", direction="inbound",
                                        status_code="500"),
            "emoji inbound gRPC ok": _count(emoji, "response_total", direction="inbound",
                                            grpc_status="0"),
            # ...which voting's sidecar sees leave as outbound calls to emoji-svc...
            "voting outbound 500 to emoji": _count(voting, "response_total", direction="outbound",
                                                   authority="emoji-svc.emojivoto:8080",
                                                   status_code="500"),
            # ...so voting fails those votes (gRPC Internal) and web answers the bot 500.
            "voting inbound gRPC failures": _count(voting, "response_total", direction="inbound",
                                                   classification="failure"),
            "web inbound 500": _count(web, "response_total", direction="inbound",
                                      status_code="500"),
            "web outbound to voting": _count(web, "request_total", direction="outbound",
                                             authority="voting-svc.emojivoto:8080"),
            "bot outbound to web": _count(bot, "request_total", direction="outbound"),
        }  # fmt: skip
        return seen if all(seen.values()) else None

    seen = _wait_for("every sidecar counting the story's traffic", story)
    assert seen["web inbound 500"] <= _count(
        _pod_metrics(kube, "emojivoto", pods["web"]), "request_total", direction="inbound"
    )


def _injector_objects(namespace: str) -> list[dict[str, Any]]:
    config = InjectorConfig(
        namespace=namespace,
        proxy_image=default_proxy_image(),
        kafka_bootstrap=f"meshpipe-kafka-bootstrap.{namespace}.svc:9092",
        tls=generate_injector_tls(namespace),
    )
    control = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    return [control, *injector(config)]


def _bare_pod(name: str, namespace: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main",
                "image": os.environ.get("MESHPIPE_TEST_BUSYBOX", BUSYBOX_IMAGE),
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
            }],
        },
    }  # fmt: skip


def _init_names(pod: dict[str, Any]) -> list[str]:
    return [c["name"] for c in pod["spec"].get("initContainers") or []]


@pytest.fixture(scope="module")
def proxy_injector(
    kube: KubeTarget, images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The injector in a control-plane namespace of its own, and a namespace annotated enabled."""
    tag = uuid.uuid4().hex[:6]
    control, meshed = f"mp-control-{tag}", f"mp-meshed-{tag}"
    work = tmp_path_factory.mktemp("injector")
    objects = {"apiVersion": "v1", "kind": "List", "items": _injector_objects(control)}
    (work / "injector.json").write_text(json.dumps(objects))
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": meshed, "annotations": {"meshpipe.io/inject": "enabled"}},
    }
    (work / "meshed.json").write_text(json.dumps(namespace))
    try:
        kube.run("apply", "-f", str(work / "injector.json"))
        kube.run("apply", "-f", str(work / "meshed.json"))
        kube.run("wait", "-n", control, "--for=condition=Available", f"deployment/{INJECTOR}",
                 f"--timeout={READY_S}s", timeout_s=READY_S + 30)  # fmt: skip
        # failurePolicy Ignore admits pods unchanged until the API server reaches the injector
        # (Service endpoints, kube-proxy): wait for a server-side dry run to come back injected.
        probe = work / "probe.json"
        probe.write_text(json.dumps(_bare_pod("probe", meshed, {})))

        def injected() -> bool:
            out = kube.run("create", "--dry-run=server", "-o", "json", "-f", str(probe))
            return "meshproxy" in _init_names(json.loads(out))

        _wait_for("the API server calling the injector", injected)
        yield meshed, work
    finally:
        kube.run("delete", "mutatingwebhookconfiguration", "meshpipe-proxy-injector",
                 "--ignore-not-found")  # fmt: skip
        kube.run("delete", "clusterrole,clusterrolebinding", INJECTOR, "--ignore-not-found")
        _delete_namespace(kube, meshed)
        _delete_namespace(kube, control)


def test_the_injector_meshes_pods_of_an_annotated_namespace_but_not_opted_out_ones(
    kube: KubeTarget, proxy_injector: tuple[str, Path]
) -> None:
    meshed, work = proxy_injector
    pods = {
        "plain": _bare_pod("plain", meshed, {}),
        "opted-out": _bare_pod("opted-out", meshed, {"meshpipe.io/inject": "disabled"}),
    }
    for name, pod in pods.items():
        (work / f"{name}.json").write_text(json.dumps(pod))
        kube.run("apply", "-f", str(work / f"{name}.json"))
    kube.run("wait", "-n", meshed, "--for=condition=Ready", "pod/plain", "pod/opted-out",
             f"--timeout={READY_S}s", timeout_s=READY_S + 30)  # fmt: skip
    plain = json.loads(kube.run("get", "pod", "-n", meshed, "plain", "-o", "json"))
    opted_out = json.loads(kube.run("get", "pod", "-n", meshed, "opted-out", "-o", "json"))
    assert _init_names(plain) == ["meshproxy-init", "meshproxy"]
    assert [c["name"] for c in plain["spec"]["containers"]] == ["main"]
    env = {e["name"]: e.get("value") for e in plain["spec"]["initContainers"][1]["env"]}
    assert env["MESHPIPE_WORKLOAD_KIND"] == "pod"
    assert plain["metadata"]["annotations"]["meshpipe.io/proxy-version"]
    assert _init_names(opted_out) == []
    assert "meshpipe.io/proxy-version" not in opted_out["metadata"].get("annotations", {})


def test_the_injector_honours_a_pods_own_opt_in_outside_annotated_namespaces(
    kube: KubeTarget, proxy_injector: tuple[str, Path]
) -> None:
    _meshed, work = proxy_injector
    cases = (({"meshpipe.io/inject": "enabled"}, ["meshproxy-init", "meshproxy"]), ({}, []))
    for pod_annotations, expected in cases:
        path = work / "default-pod.json"
        path.write_text(json.dumps(_bare_pod("opt-in", "default", pod_annotations)))
        out = kube.run("create", "--dry-run=server", "-o", "json", "-f", str(path))
        assert _init_names(json.loads(out)) == expected
