"""Injection details: sidecar identity, the iptables redirect, skips, and user errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from meshpipe.cli.inject import inject
from meshpipe.deploy.mesh.inject import inject_documents, uninject_documents
from meshpipe.deploy.mesh.proxyspec import ProxyConfig, iptables_rules
from meshpipe.schemas.exits import CliError, ExitStatus

CONFIG = ProxyConfig(image="ghcr.io/meshpipe/meshproxy:1.2.3", kafka_bootstrap="kafka:9092")


def _deployment(**template_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}], **template_spec},
            },
        },
    }


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def _proxy(doc: dict[str, Any]) -> dict[str, Any]:
    [proxy] = [c for c in _pod_spec(doc)["initContainers"] if c["name"] == "meshproxy"]
    return proxy


def test_sidecar_identity_comes_from_downward_api_and_owner() -> None:
    [doc], _ = inject_documents([_deployment()], CONFIG)
    env = _env(_proxy(doc))
    assert env["MESHPIPE_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["MESHPIPE_WORKLOAD_KIND"] == "deployment"
    assert env["MESHPIPE_WORKLOAD_NAME"] == "web"
    assert env["MESHPIPE_WORKLOAD"] == (
        "$(MESHPIPE_NAMESPACE)/$(MESHPIPE_WORKLOAD_KIND)/$(MESHPIPE_WORKLOAD_NAME)"
    )
    assert env["MESHPIPE_POD"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["MESHPIPE_POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["MESHPIPE_KAFKA"] == "kafka:9092"


def test_workload_variable_is_defined_after_the_variables_it_expands() -> None:
    [doc], _ = inject_documents([_deployment()], CONFIG)
    names = [e["name"] for e in _proxy(doc)["env"]]
    assert names.index("MESHPIPE_WORKLOAD") > names.index("MESHPIPE_WORKLOAD_NAME")
    assert names.index("MESHPIPE_WORKLOAD") > names.index("MESHPIPE_NAMESPACE")


def test_probes_use_the_admin_port() -> None:
    [doc], _ = inject_documents([_deployment()], CONFIG)
    proxy = _proxy(doc)
    assert proxy["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 4191}
    assert proxy["livenessProbe"]["httpGet"] == {"path": "/live", "port": 4191}


def test_init_container_has_only_the_network_capabilities_it_needs() -> None:
    [doc], _ = inject_documents([_deployment()], CONFIG)
    init = _pod_spec(doc)["initContainers"][0]
    assert init["securityContext"]["capabilities"] == {
        "add": ["NET_ADMIN", "NET_RAW"],
        "drop": ["ALL"],
    }


def test_redirect_skips_the_proxy_uid_before_redirecting_outbound() -> None:
    rules = iptables_rules(CONFIG)
    skip = rules.index(
        "iptables -w -t nat -A MESHPIPE_PROXY_OUTBOUND -m owner --uid-owner 2102 -j RETURN"
    )
    redirect = rules.index(
        "iptables -w -t nat -A MESHPIPE_PROXY_OUTBOUND -p tcp -j REDIRECT --to-ports 4140"
    )
    assert skip < redirect


def test_redirect_leaves_the_admin_port_to_the_proxy_itself() -> None:
    rules = iptables_rules(CONFIG)
    skip = rules.index("iptables -w -t nat -A MESHPIPE_PROXY_INBOUND -p tcp --dport 4191 -j RETURN")
    redirect = rules.index(
        "iptables -w -t nat -A MESHPIPE_PROXY_INBOUND -p tcp -j REDIRECT --to-ports 4143"
    )
    assert skip < redirect


def test_version_annotation_is_the_image_tag() -> None:
    [doc], _ = inject_documents([_deployment()], CONFIG)
    annotations = doc["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"meshpipe.io/proxy-version": "1.2.3"}


def test_host_network_pod_is_skipped_unchanged() -> None:
    original = _deployment(hostNetwork=True)
    [doc], [outcome] = inject_documents([original], CONFIG)
    assert doc == original
    assert outcome.line() == 'deployment "web" skipped: hostNetwork'


def test_input_documents_are_not_modified() -> None:
    original = _deployment()
    inject_documents([original], CONFIG)
    assert original == _deployment()


def test_uninject_keeps_containers_that_inject_did_not_add() -> None:
    original = _deployment(initContainers=[{"name": "setup", "image": "busybox"}])
    injected, _ = inject_documents([original], CONFIG)
    [doc], [outcome] = uninject_documents(injected)
    assert doc == original
    assert outcome.action == "uninjected"


def test_non_workload_documents_pass_through_without_summary() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}
    docs, outcomes = inject_documents([service], CONFIG)
    assert docs == [service]
    assert outcomes == []


def test_cli_reports_invalid_yaml_as_usage_error() -> None:
    result = CliRunner().invoke(inject, ["-"], input="a: [unclosed\n")
    assert isinstance(result.exception, CliError)
    assert result.exception.status is ExitStatus.USAGE
    assert str(result.exception).startswith("<stdin>: not valid YAML")


def test_cli_reports_missing_file_as_not_found(tmp_path: Path) -> None:
    result = CliRunner().invoke(inject, [str(tmp_path / "nope.yaml")])
    assert isinstance(result.exception, CliError)
    assert result.exception.status is ExitStatus.NOT_FOUND


@pytest.mark.parametrize("bootstrap", ["kafka", ":9092", "kafka:port"])
def test_cli_rejects_kafka_bootstrap_without_host_and_port(bootstrap: str) -> None:
    result = CliRunner().invoke(inject, ["--kafka-bootstrap", bootstrap, "-"], input="")
    assert isinstance(result.exception, CliError)
    assert result.exception.status is ExitStatus.USAGE


def test_cli_explicit_mode_drops_the_transparent_flag() -> None:
    text = yaml.safe_dump(_deployment())
    result = CliRunner().invoke(inject, ["--explicit", "-"], input=text)
    doc = yaml.safe_load(result.stdout)
    assert _proxy(doc)["args"] == []


def test_cli_default_image_is_tagged_with_the_package_version() -> None:
    from meshpipe.deploy.mesh.proxyspec import package_version

    result = CliRunner().invoke(inject, ["-"], input=yaml.safe_dump(_deployment()))
    doc = yaml.safe_load(result.stdout)
    image = _proxy(doc)["image"]
    assert image == f"ghcr.io/meshpipe/meshproxy:{package_version()}"


def test_sidecar_sets_only_variables_meshproxy_reads_besides_expansion_inputs() -> None:
    from meshpipe.cli.meshproxy import meshproxy

    [doc], _ = inject_documents([_deployment()], CONFIG)
    names = set(_env(_proxy(doc)))
    read = {p.envvar for p in meshproxy.params if isinstance(p.envvar, str)}
    # Inputs of the $(VAR) expansion of MESHPIPE_WORKLOAD, and the pod IP kept for people.
    helpers = {"MESHPIPE_NAMESPACE", "MESHPIPE_WORKLOAD_KIND", "MESHPIPE_WORKLOAD_NAME"}
    assert names - read == helpers | {"MESHPIPE_POD_IP"}
    assert {"MESHPIPE_WORKLOAD", "MESHPIPE_KAFKA", "MESHPIPE_OUTBOUND"} <= names


def test_proxy_is_a_native_sidecar_between_the_redirect_and_the_apps_init_containers() -> None:
    [doc], _ = inject_documents(
        [_deployment(initContainers=[{"name": "setup", "image": "busybox"}])], CONFIG
    )
    spec = _pod_spec(doc)
    assert [c["name"] for c in spec["initContainers"]] == ["meshproxy-init", "meshproxy", "setup"]
    assert [c["name"] for c in spec["containers"]] == ["web"]
    assert _proxy(doc)["restartPolicy"] == "Always"
    assert _proxy(doc)["startupProbe"]["httpGet"] == {"path": "/ready", "port": 4191}
