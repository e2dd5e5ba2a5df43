"""What the demo starts: the port table, and each process's command line and environment."""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshpipe.deploy.dev.procs import ProcessSpec

NAMESPACE = "emojivoto"
HOST = "127.0.0.1"
DEFAULT_PORT_BASE = 17000
# Proxy variables of the caller's shell must not leak into the apps: each gets its own sidecar's.
PROXY_VARIABLES = frozenset(
    f(name)
    for name in (
        "http_proxy",
        "https_proxy",
        "grpc_proxy",
        "no_proxy",
        "no_grpc_proxy",
        "all_proxy",
    )
    for f in (str.lower, str.upper)
)


class PlanError(RuntimeError):
    """The demo cannot start as planned (busy ports, missing commands)."""


@dataclass(frozen=True)
class ServicePorts:
    app: int | None  # where the app listens (None: the bot listens nowhere)
    inbound: int | None  # the sidecar's inbound listener in front of the app
    outbound: int  # the sidecar's outbound listener: the app's http_proxy
    admin: int  # the sidecar's /metrics, /ready, /live


@dataclass(frozen=True)
class Service:
    name: str  # the deployment name, e.g. web
    module: str  # python -m MODULE runs the app
    ports: ServicePorts
    peers: Mapping[str, str] = field(default_factory=dict)  # env variable -> peer service


def services(base: int) -> tuple[Service, ...]:
    """The port table: every port the demo uses, as offsets from one base port."""

    def ports(slot: int, app: bool = True) -> ServicePorts:
        first = base + 100 * slot
        return ServicePorts(
            first + 80 if app else None, first + 43 if app else None, first + 40, first + 91
        )

    return (
        Service("emoji", "meshpipe.demo.emoji", ports(2)),
        Service("voting", "meshpipe.demo.voting", ports(3), {"EMOJI_ADDR": "emoji"}),
        Service(
            "web", "meshpipe.demo.web", ports(1), {"EMOJI_ADDR": "emoji", "VOTING_ADDR": "voting"}
        ),
        Service("vote-bot", "meshpipe.demo.bot", ports(4, app=False), {"WEB_ADDR": "web"}),
    )


def worker_web_port(base: int) -> int:
    return base + 66


@dataclass(frozen=True)
class PlanSettings:
    kafka: str  # bootstrap, e.g. 127.0.0.1:9092
    clickhouse_url: str  # the worker's (writer) URL
    port_base: int = DEFAULT_PORT_BASE
    rate_rps: float = 5.0  # the bot's votes per second
    run_dir: Path = Path("run")


def command(name: str) -> str:
    """A console script of this venv (beside the interpreter), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise PlanError(f"`{name}` not found beside {sys.executable} or on PATH; run `make setup`")
    return found


def base_env(env: Mapping[str, str]) -> dict[str, str]:
    clean = {k: v for k, v in env.items() if k not in PROXY_VARIABLES}
    clean["PYTHONUNBUFFERED"] = "1"
    return clean


def addr(port: int | None) -> str:
    return f"{HOST}:{port}"


def sidecar(service: Service, settings: PlanSettings, env: Mapping[str, str]) -> ProcessSpec:
    p = service.ports
    argv = [command("meshproxy"), "--workload", f"{NAMESPACE}/deployment/{service.name}"]
    argv += ["--pod", f"{service.name}-0"]
    if p.app is not None:
        argv += ["--inbound", f"{addr(p.inbound)}={addr(p.app)}"]
    argv += ["--outbound", addr(p.outbound), "--admin", addr(p.admin), "--kafka", settings.kafka]
    ready = tuple((HOST, port) for port in (p.inbound, p.outbound, p.admin) if port is not None)
    return ProcessSpec(f"{service.name}-proxy", tuple(argv), env, ready)


def app(
    service: Service, table: Mapping[str, Service], settings: PlanSettings, env: Mapping[str, str]
) -> ProcessSpec:
    """The app as an injected pod sees it: its port, peers at their sidecars, its own http_proxy."""
    app_env = dict(env)
    app_env["http_proxy"] = f"http://{addr(service.ports.outbound)}"
    for variable, peer in service.peers.items():
        app_env[variable] = addr(table[peer].ports.inbound)
    if service.ports.app is not None:
        app_env["LISTEN_ADDR"] = addr(service.ports.app)
    else:
        app_env["VOTE_RATE_RPS"] = str(settings.rate_rps)
    ready = () if service.ports.app is None else ((HOST, service.ports.app),)
    return ProcessSpec(service.name, (sys.executable, "-m", service.module), app_env, ready)


def worker(settings: PlanSettings, env: Mapping[str, str]) -> ProcessSpec:
    """The meshstreams worker, on the host in every mode."""
    worker_port = worker_web_port(settings.port_base)
    argv: tuple[str, ...] = (
        command("meshstreams"),
        "worker",
        "--kafka",
        settings.kafka,
        "--clickhouse",
    )
    argv = (*argv, settings.clickhouse_url, "--web-port", str(worker_port))
    return ProcessSpec(
        "meshstreams",
        argv,
        env,
        ((HOST, worker_port),),  # Faust's web server: up once the worker runs
        settings.run_dir / "meshstreams",  # Faust keeps its data directory in the cwd
        stop_last=True,
    )


def processes(settings: PlanSettings, env: Mapping[str, str]) -> list[ProcessSpec]:
    """Every process in start order: the worker, the sidecars, then the apps (bot last)."""
    clean = base_env(env)
    table = {s.name: s for s in services(settings.port_base)}
    sidecars = [sidecar(s, settings, clean) for s in table.values()]
    apps = [app(s, table, settings, clean) for s in table.values()]
    return [worker(settings, clean), *sidecars, *apps]


def all_ports(base: int) -> dict[int, str]:
    """Every port the demo listens on, with what listens there."""
    named: dict[int, str] = {worker_web_port(base): "meshstreams web"}
    for s in services(base):
        for what, port in (
            ("app", s.ports.app),
            ("inbound", s.ports.inbound),
            ("outbound", s.ports.outbound),
            ("admin", s.ports.admin),
        ):
            if port is not None:
                named[port] = f"{s.name} {what}"
    return named


def check_ports_free(base: int) -> None:
    """PlanError naming every busy port, so a second demo or another server is easy to spot."""
    busy = [f"{port} ({what})" for port, what in sorted(all_ports(base).items()) if _busy(port)]
    if busy:
        raise PlanError(
            f"ports in use on {HOST}: {', '.join(busy)}; stop what holds them "
            "(another `meshctl demo`?) or choose other ports with --port-base"
        )


def _busy(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False
