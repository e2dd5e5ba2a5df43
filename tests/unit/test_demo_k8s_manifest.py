"""demo/k8s/emojivoto.yml: upstream emojivoto's shape, our image at the package's version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshpipe.deploy.mesh.proxyspec import IMAGE_REPOSITORY, package_version
from meshpipe.deploy.mesh.yamlio import load_documents

MANIFEST = Path(__file__).resolve().parents[2] / "demo" / "k8s" / "emojivoto.yml"


def _docs() -> list[dict[str, Any]]:
    return [d for d in load_documents(MANIFEST.read_text(), str(MANIFEST)) if d]


def _of(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _docs() if d["kind"] == kind}


def test_every_app_has_a_deployment_service_account_and_upstream_service_name() -> None:
    deployments = _of("Deployment")
    assert sorted(deployments) == ["emoji", "vote-bot", "voting", "web"]
    assert sorted(_of("Service")) == ["emoji-svc", "voting-svc", "web-svc"]
    assert set(_of("ServiceAccount")) == set(deployments)
    for name, deployment in deployments.items():
        assert deployment["metadata"]["namespace"] == "emojivoto"
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == name


def test_each_service_selects_a_deployment_and_targets_its_port() -> None:
    pods = {
        d["spec"]["template"]["metadata"]["labels"]["app"]: d["spec"]["template"]["spec"]
        for d in _of("Deployment").values()
    }
    for service in _of("Service").values():
        pod = pods[service["spec"]["selector"]["app"]]
        ports = {p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_apps_run_the_demo_image_of_this_version_and_call_peers_by_service_name() -> None:
    image = f"{IMAGE_REPOSITORY}/meshpipe-demo:{package_version()}"
    services = set(_of("Service"))
    for deployment in _of("Deployment").values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == image
        assert container["args"][0].startswith("meshpipe.demo.")
        for var in container["env"]:
            if var["name"].endswith("_ADDR") and var["name"] != "LISTEN_ADDR":
                assert var["value"].split(".")[0] in services
