"""Makes the local cluster's certificates and keys with the openssl command, once."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from meshpipe.deploy.dev.procs import DevStackError

DAYS = "3650"
COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Identity:
    """A client or server certificate signed by the cluster's CA."""

    name: str  # file stem: <name>.crt, <name>.key
    common_name: str
    organization: str | None = None
    sans: tuple[str, ...] = ()  # "DNS:x" / "IP:y"; a server certificate when set


def identities(node_name: str, node_ip: str, service_ip: str) -> tuple[Identity, ...]:
    apiserver_sans = (
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
        "DNS:localhost",
        "IP:127.0.0.1",
        f"IP:{node_ip}",
        f"IP:{service_ip}",
    )
    return (
        Identity("apiserver", "kube-apiserver", sans=apiserver_sans),
        Identity("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
        Identity("admin", "meshpipe-admin", "system:masters"),
        Identity("controller-manager", "system:kube-controller-manager"),
        Identity("scheduler", "system:kube-scheduler"),
        Identity("kubelet", f"system:node:{node_name}", "system:nodes"),
        Identity("kube-proxy", "system:kube-proxy"),
        Identity("coredns", "meshpipe-coredns", "system:masters"),
    )


def _openssl(*args: str, cwd: Path) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - openssl with arguments built here
            ["openssl", *args],  # noqa: S607
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise DevStackError("openssl is not installed (Debian package openssl)") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DevStackError(f"openssl {args[0]} failed: {last}")


def ensure_pki(pki: Path, ids: tuple[Identity, ...]) -> None:
    """The CA, the service-account key pair and one certificate per identity, if missing."""
    pki.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (pki / "ca.crt").exists():
        _openssl("genrsa", "-out", "ca.key", "2048", cwd=pki)
        _openssl(
            "req", "-x509", "-new", "-key", "ca.key", "-days", DAYS,
            "-subj", "/CN=meshpipe-dev-ca", "-out", "ca.crt", cwd=pki,
        )  # fmt: skip
    if not (pki / "sa.pub").exists():
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for ident in ids:
        if not (pki / f"{ident.name}.crt").exists():
            _issue(pki, ident)


def _issue(pki: Path, ident: Identity) -> None:
    subject = f"/CN={ident.common_name}"
    if ident.organization:
        subject = f"/O={ident.organization}{subject}"
    usage = "serverAuth" if ident.sans else "clientAuth"
    ext = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if ident.sans:
        ext.append(f"subjectAltName={','.join(ident.sans)}")
    (pki / f"{ident.name}.ext").write_text("\n".join(ext) + "\n")
    _openssl("genrsa", "-out", f"{ident.name}.key", "2048", cwd=pki)
    _openssl(
        "req", "-new", "-key", f"{ident.name}.key", "-subj", subject,
        "-out", f"{ident.name}.csr", cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{ident.name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", DAYS, "-extfile", f"{ident.name}.ext",
        "-out", f"{ident.name}.crt", cwd=pki,
    )  # fmt: skip
