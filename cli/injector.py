"""`python -m meshpipe.cli.injector`: serves the proxy injector (a mutating admission webhook)
over TLS; each AdmissionReview is answered by deploy.mesh.admission, with the pod's namespace
annotations read from the API server. Standard library only: it runs in the meshproxy image."""

from __future__ import annotations

import json
import logging
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from meshpipe.deploy.mesh.admission import ReviewError, review
from meshpipe.deploy.mesh.injector import WEBHOOK_PATH
from meshpipe.deploy.mesh.proxyspec import DEFAULT_KAFKA_BOOTSTRAP, ProxyConfig, default_proxy_image
from meshpipe.schemas.exits import ExitStatus

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MAX_BODY_BYTES = 4 * 1024 * 1024  # the API server's own request limit is 3 MiB
API_TIMEOUT_S = 3.0  # below the webhook's 10 s timeout
IDLE_TIMEOUT_S = 30.0
log = logging.getLogger("meshpipe.injector")


class SetupError(Exception):
    """The injector cannot start: the message names the variable or file."""


@dataclass(frozen=True)
class InjectorSettings:
    """From MESHPIPE_* variables: where to listen, the serving pair, what to inject."""

    host: str
    port: int
    cert_file: Path
    key_file: Path
    proxy: ProxyConfig

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InjectorSettings:
        listen = env.get("MESHPIPE_INJECTOR_LISTEN") or "127.0.0.1:8443"
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise SetupError(f"MESHPIPE_INJECTOR_LISTEN must be HOST:PORT, got {listen!r}")
        tls_dir = Path(env.get("MESHPIPE_INJECTOR_TLS_DIR") or "/var/run/meshpipe/tls")
        for name in ("tls.crt", "tls.key"):
            if not (tls_dir / name).is_file():
                raise SetupError(f"{tls_dir / name} is missing (MESHPIPE_INJECTOR_TLS_DIR)")
        proxy = ProxyConfig(
            image=env.get("MESHPIPE_PROXY_IMAGE") or default_proxy_image(),
            kafka_bootstrap=env.get("MESHPIPE_KAFKA") or DEFAULT_KAFKA_BOOTSTRAP,
        )
        return cls(host, int(port), tls_dir / "tls.crt", tls_dir / "tls.key", proxy)


class NamespaceReader:
    """Reads a namespace's annotations from the API server with the pod's service account."""

    def __init__(self, env: Mapping[str, str], account: Path = SERVICE_ACCOUNT) -> None:
        host = env.get("KUBERNETES_SERVICE_HOST", "")
        port = env.get("KUBERNETES_SERVICE_PORT", "443")
        self.base = f"https://{host}:{port}" if host else ""
        self.account = account

    def annotations(self, namespace: str) -> dict[str, Any]:
        """Its annotations; {} when the API cannot say (then only pod annotations count)."""
        if not self.base or not namespace:
            return {}
        url = f"{self.base}/api/v1/namespaces/{urllib.parse.quote(namespace)}"
        try:
            token = (self.account / "token").read_text().strip()
            context = ssl.create_default_context(cafile=str(self.account / "ca.crt"))
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - https only
            with urllib.request.urlopen(request, timeout=API_TIMEOUT_S, context=context) as answer:  # noqa: S310
                body = json.load(answer)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            log.warning("namespace %s: cannot read its annotations: %s", namespace, exc)
            return {}
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        return annotations if isinstance(annotations, dict) else {}


def make_handler(
    settings: InjectorSettings, namespaces: NamespaceReader
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT_S  # an idle keep-alive connection frees its thread

        def do_GET(self) -> None:
            if self.path == "/ready":
                self._send(200, b"ok\n", "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:
            if self.path.partition("?")[0] != WEBHOOK_PATH:
                self._send(404, b"not found\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY_BYTES:
                self.close_connection = True  # the unread body must not parse as a request
                self._send(413 if length else 411, b"bad length\n", "text/plain")
                return
            try:
                body = json.loads(self.rfile.read(length))
                request = body.get("request") or {}
                annotations = namespaces.annotations(str(request.get("namespace") or ""))
                answer = review(body, annotations, settings.proxy)
            except (ValueError, ReviewError, AttributeError) as exc:
                self._send(400, f"{exc}\n".encode(), "text/plain")
                return
            patched = "patch" in answer["response"]
            log.info(
                "%s %s/%s: %s",
                request.get("operation"),
                request.get("namespace"),
                (request.get("object") or {}).get("metadata", {}).get("generateName")
                or request.get("name"),
                "injected" if patched else "unchanged",
            )
            self._send(200, json.dumps(answer).encode(), "application/json")

        def _send(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return Handler


def serve(settings: InjectorSettings, namespaces: NamespaceReader) -> ThreadingHTTPServer:
    """A bound TLS server (not yet serving); its server_address has the port chosen."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
    server = ThreadingHTTPServer((settings.host, settings.port), make_handler(settings, namespaces))
    server.daemon_threads = True  # stopping never waits for a client's open connection
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = InjectorSettings.from_env(os.environ)
        server = serve(settings, NamespaceReader(os.environ))
    except (SetupError, ValueError, OSError, ssl.SSLError) as exc:
        sys.stderr.write(f"meshpipe-injector: {exc}\n")
        return int(ExitStatus.USAGE if isinstance(exc, SetupError) else ExitStatus.UNAVAILABLE)
    log.info(
        "proxy injector on %s:%d, injecting %s",
        settings.host,
        server.server_address[1],
        settings.proxy.image,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return int(ExitStatus.INTERRUPTED)
    finally:
        server.server_close()
    return int(ExitStatus.OK)


if __name__ == "__main__":
    raise SystemExit(main())
