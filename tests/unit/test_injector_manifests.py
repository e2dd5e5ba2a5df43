"""The proxy injector's objects and certificates: the API server can trust and reach it, a down
injector never blocks pods, the control plane is never injected."""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshpipe.cli.injector_tls import generate_injector_tls
from meshpipe.deploy.mesh.injector import (
    INJECTOR,
    TLS_SECRET,
    InjectorConfig,
    InjectorTls,
    injector,
    service_dns_names,
)
from meshpipe.deploy.mesh.install import InstallConfig, Passwords, render

TLS = InjectorTls("CA\n", "CERT\n", "KEY\n")
CONFIG = InjectorConfig("meshpipe", "ghcr.io/meshpipe/meshproxy:1.2.3", "kafka:9092", TLS)


def _of(kind: str, objects: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def test_webhook_ignores_failures_and_skips_the_control_plane_and_kube_system() -> None:
    [hook] = _of("MutatingWebhookConfiguration", injector(CONFIG))["webhooks"]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "None"
    [expression] = hook["namespaceSelector"]["matchExpressions"]
    assert expression == {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["meshpipe", "kube-system"],
    }
    assert hook["rules"][0]["resources"] == ["pods"]
    assert hook["rules"][0]["operations"] == ["CREATE"]


def test_webhook_trusts_the_ca_of_the_secret_and_calls_the_injector_service() -> None:
    objects = injector(CONFIG)
    [hook] = _of("MutatingWebhookConfiguration", objects)["webhooks"]
    assert base64.b64decode(hook["clientConfig"]["caBundle"]).decode() == TLS.ca_cert
    secret = _of("Secret", objects)
    assert secret["metadata"]["name"] == TLS_SECRET
    assert secret["stringData"] == {"tls.crt": "CERT\n", "tls.key": "KEY\n", "ca.crt": "CA\n"}
    target = hook["clientConfig"]["service"]
    service = _of("Service", objects)
    assert (target["name"], target["namespace"]) == (INJECTOR, "meshpipe")
    assert target["port"] in [p["port"] for p in service["spec"]["ports"]]


def test_injector_runs_the_proxy_image_and_injects_it() -> None:
    deployment = _of("Deployment", injector(CONFIG))
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["image"] == env["MESHPIPE_PROXY_IMAGE"] == CONFIG.proxy_image
    assert env["MESHPIPE_KAFKA"] == "kafka:9092"
    assert pod["metadata"]["annotations"]["meshpipe.io/inject"] == "disabled"
    assert pod["spec"]["automountServiceAccountToken"] is True  # reads namespace annotations


def test_install_renders_the_injector_only_with_certificates() -> None:
    passwords = Passwords("r", "w", "g")
    without = render(InstallConfig(passwords=passwords))
    with_tls = render(InstallConfig(passwords=passwords, injector_tls=TLS, image_tag="9.9"))
    assert not [o for o in without if o["kind"] == "MutatingWebhookConfiguration"]
    deployment = next(
        o for o in with_tls if o["metadata"]["name"] == INJECTOR and o["kind"] == "Deployment"
    )
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        "/meshproxy:9.9"
    )


def test_serving_certificate_names_the_service_and_is_signed_by_the_ca() -> None:
    tls = generate_injector_tls("mesh-ns")
    ca = x509.load_pem_x509_certificate(tls.ca_cert.encode())
    cert = x509.load_pem_x509_certificate(tls.cert.encode())
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == set(service_dns_names("mesh-ns"))
    assert "meshpipe-injector.mesh-ns.svc" in sans.get_values_for_type(x509.DNSName)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert "PRIVATE KEY" in tls.key


def test_every_install_makes_a_new_ca() -> None:
    assert generate_injector_tls("a").ca_cert != generate_injector_tls("a").ca_cert
