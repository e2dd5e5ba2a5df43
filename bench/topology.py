"""Starts the proxy scenario's processes: the origins, HAProxy, nginx and meshproxy hops."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import fortio
from bench.loadgen import Target
from bench.peers import (
    MESHPROXY,
    FloorArgs,
    MeshproxyArgs,
    OriginPorts,
    PeerPorts,
    floor_argv,
    haproxy_conf,
    meshproxy_argv,
    nginx_proxy_conf,
    origin_conf,
)
from bench.procs import Service, Services, free_port
from bench.stall import Wrap

# bench/ is not installed: the floor imports it from the repository root.
FLOOR_ENV = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}

DIRECT = "direct"
HAPROXY = "haproxy"
NGINX = "nginx-proxy"
MESH_INBOUND = "meshproxy-inbound"
MESH_PAIR = "meshproxy-pair"
MESH_NO_KAFKA = "meshproxy-inbound-kafka-down"
MESH_KAFKA_STALLED = "meshproxy-inbound-kafka-stalled"  # Kafka reachable, answering nothing
# The same hop and pair from the compiled build (MESHPIPE_COMPILE=1; `python -m bench --compiled`).
MESH_COMPILED = "meshproxy-compiled-inbound"
MESH_COMPILED_PAIR = "meshproxy-compiled-pair"
COMPILED_SUBJECTS = (MESH_COMPILED, MESH_COMPILED_PAIR)
FLOOR = "python-floor"
FLOOR_EVENTS = "python-floor+events"
SUBJECTS = (DIRECT, HAPROXY, NGINX, MESH_INBOUND, MESH_PAIR)
FLOOR_SUBJECTS = (FLOOR, FLOOR_EVENTS)  # HTTP/1.1 only: the floor speaks nothing else


@dataclass(frozen=True)
class Layout:
    """Where things run: the work directory, Kafka, and the CPUs of proxies and load."""

    workdir: Path
    kafka: str  # bootstrap servers for meshproxy's events
    topic: str  # meshproxy's request-event topic
    proxy_cpus: str = "1"  # the proxy (both hops of the pair) is pinned here
    load_cpus: str = "0"  # load generator and origin
    proxy_loop: str = "uvloop"  # meshproxy's event loop: uvloop or asyncio
    compiled_meshproxy: str | None = None  # the compiled build's meshproxy, when measured


@dataclass(frozen=True)
class Subject:
    """One way to reach the origin: its target and the proxy processes on the path."""

    name: str
    target: Target
    proxies: list[Service] = field(default_factory=list)
    admin: int | None = None  # a single meshproxy's admin port (/metrics)


def start_origin(layout: Layout, services: Services) -> OriginPorts:
    """nginx with one worker serving 1 KiB and fortio's gRPC ping service, on the load CPUs."""
    program = fortio.fortio_path()
    ports = OriginPorts(free_port(), free_port(), free_port() if program else None)
    conf = layout.workdir / "origin.conf"
    conf.write_text(origin_conf(layout.workdir, ports))
    service = Service("origin", _nginx_argv(layout, conf, "origin"), _log(layout, "origin"))
    services.start(_on(service, layout.load_cpus), ports.http1)
    if program is not None and ports.grpc is not None:
        argv = fortio.server_argv(program, ports.grpc, free_port())
        grpc = Service("grpc-origin", argv, _log(layout, "grpc-origin"))
        services.start(_on(grpc, layout.load_cpus), ports.grpc)
    return ports


def _nginx_argv(layout: Layout, conf: Path, name: str) -> list[str]:
    error_log = layout.workdir / f"{name}-startup-error.log"
    return ["nginx", "-c", str(conf), "-p", str(layout.workdir), "-e", str(error_log)]


def _log(layout: Layout, name: str) -> Path:
    return layout.workdir / f"{name}.log"


def _on(service: Service, cpus: str) -> Service:
    service.cpus = cpus
    return service


def start_subject(
    name: str,
    protocol: str,
    origin: OriginPorts,
    layout: Layout,
    services: Services,
    wrap: Wrap | None = None,
) -> Subject:
    """Start what subject `name` needs for protocol (http1, h2c, grpc); return how to reach it.
    wrap, for a single meshproxy hop, changes its command line (the Kafka-stalled subject)."""
    app_port = origin.port(protocol)
    if name == DIRECT:
        return Subject(name, Target(app_port, protocol))
    if name in (HAPROXY, NGINX):
        return _start_peer(name, protocol, origin, layout, services)
    program = MESHPROXY
    if name in COMPILED_SUBJECTS:
        if layout.compiled_meshproxy is None:
            raise ValueError(f"{name}: no compiled meshproxy in this layout")
        program = layout.compiled_meshproxy
    if name in (MESH_INBOUND, MESH_NO_KAFKA, MESH_KAFKA_STALLED, MESH_COMPILED):
        kafka = f"127.0.0.1:{free_port()}" if name == MESH_NO_KAFKA else layout.kafka
        port = free_port()
        args = MeshproxyArgs("bench/deployment/server", free_port(), kafka, layout.topic)
        args = _with(replace(args, program=program), inbound=(port, app_port))
        inbound = _meshproxy(name, args, layout, services, port, wrap)
        return Subject(name, Target(port, protocol), [inbound], admin=args.admin)
    if name in (MESH_PAIR, MESH_COMPILED_PAIR):
        in_port, out_port = free_port(), free_port()
        server = MeshproxyArgs("bench/deployment/server", free_port(), layout.kafka, layout.topic)
        client = MeshproxyArgs("bench/deployment/client", free_port(), layout.kafka, layout.topic)
        server, client = replace(server, program=program), replace(client, program=program)
        inbound = _meshproxy(
            "pair-inbound", _with(server, inbound=(in_port, app_port)), layout, services, in_port
        )
        outbound = _meshproxy(
            "pair-outbound", _with(client, outbound=out_port), layout, services, out_port
        )
        target = Target(out_port, protocol, host=f"127.0.0.1:{in_port}")
        return Subject(name, target, [outbound, inbound])
    if name in FLOOR_SUBJECTS and protocol == "http1":
        port = free_port()
        events_to = layout.kafka if name == FLOOR_EVENTS else None
        argv = floor_argv(FloorArgs(port, app_port, events_to, layout.topic))
        service = Service(name, argv, _log(layout, name), cpus=layout.proxy_cpus, env=FLOOR_ENV)
        return Subject(name, Target(port, protocol), [services.start(service, port)])
    raise ValueError(f"unknown subject {name!r}")


def _with(
    args: MeshproxyArgs, inbound: tuple[int, int] | None = None, outbound: int | None = None
) -> MeshproxyArgs:
    return replace(args, inbound=inbound, outbound=outbound)


def _meshproxy(
    name: str,
    args: MeshproxyArgs,
    layout: Layout,
    services: Services,
    port: int,
    wrap: Wrap | None = None,
) -> Service:
    argv = meshproxy_argv(replace(args, loop=layout.proxy_loop))
    argv = wrap(argv) if wrap is not None else argv
    service = Service(name, argv, _log(layout, name), cpus=layout.proxy_cpus)
    if name in (MESH_NO_KAFKA, MESH_KAFKA_STALLED):
        service.stop_timeout_s = 1.0  # its events can never be flushed: do not wait for that
    return services.start(service, port)


def _start_peer(
    name: str, protocol: str, origin: OriginPorts, layout: Layout, services: Services
) -> Subject:
    listen = PeerPorts(free_port(), free_port(), free_port() if origin.grpc else None)
    if name == HAPROXY:
        conf = layout.workdir / "haproxy.cfg"
        conf.write_text(haproxy_conf(listen, origin))
        argv = ["haproxy", "-f", str(conf), "-db"]
    else:
        conf = layout.workdir / "nginx-proxy.conf"
        conf.write_text(nginx_proxy_conf(layout.workdir, listen, origin))
        argv = _nginx_argv(layout, conf, name)
    port = listen.port(protocol)
    service = services.start(Service(name, argv, _log(layout, name), cpus=layout.proxy_cpus), port)
    return Subject(name, Target(port, protocol), [service])
