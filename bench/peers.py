"""Configurations of the origin and the peer proxies (nginx, HAProxy); meshproxy command lines."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

BODY_BYTES = 1024  # the origin's response body
MESHPROXY = str(Path(sys.executable).parent / "meshproxy")
# meshproxy on the standard library's event loop: uvloop made unimportable, so
# meshpipe.cli.meshproxy falls back to asyncio's loop (to compare loops, or when uvloop is the
# thing that is broken).
_STDLIB_LOOP = (
    "import sys; sys.modules['uvloop'] = None; sys.argv[0] = 'meshproxy';"
    " from meshpipe.cli.meshproxy import main; main()"
)


@dataclass(frozen=True)
class OriginPorts:
    """One port per protocol: the origins (nginx for HTTP/1.1 and h2c with prior knowledge,
    fortio for gRPC) or a peer proxy's listeners in front of them."""

    http1: int
    h2c: int
    grpc: int | None = None  # None when fortio (the gRPC origin) is not installed

    def port(self, protocol: str) -> int:
        """The port for protocol: http1, h2c or grpc."""
        if protocol == "grpc":
            if self.grpc is None:
                raise ValueError("no gRPC port (fortio is not installed)")
            return self.grpc
        return self.http1 if protocol == "http1" else self.h2c


PeerPorts = OriginPorts  # a peer proxy listens on one port per protocol, like the origins


def _nginx_common(workdir: Path, name: str) -> str:
    temp = workdir / f"{name}-tmp"
    temp.mkdir(exist_ok=True)
    temps = "\n".join(
        f"  {kind}_temp_path {temp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        "worker_processes 1;\n"
        "daemon off;\n"
        f"pid {workdir}/{name}.pid;\n"
        f"error_log {workdir}/{name}-error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "  access_log off;\n"
        "  keepalive_requests 10000000;\n"
        "  keepalive_timeout 300s;\n"
        f"{temps}\n"
    )


def origin_conf(workdir: Path, ports: OriginPorts) -> str:
    """nginx, one worker, answering every request with 200 and a 1 KiB body."""
    body = "x" * BODY_BYTES
    location = f'    location / {{ default_type text/plain; return 200 "{body}"; }}\n'
    return (
        _nginx_common(workdir, "origin")
        + f"  server {{\n    listen 127.0.0.1:{ports.http1};\n{location}  }}\n"
        + f"  server {{\n    listen 127.0.0.1:{ports.h2c} http2;\n{location}  }}\n"
        + "}\n"
    )


def _nginx_grpc(listen: PeerPorts, origin: OriginPorts) -> str:
    if listen.grpc is None or origin.grpc is None:
        return ""
    return (
        f"  upstream grpc_origin {{ server 127.0.0.1:{origin.grpc}; keepalive 64; }}\n"
        f"  server {{\n    listen 127.0.0.1:{listen.grpc} http2;\n"
        "    location / { grpc_pass grpc://grpc_origin; }\n  }\n"
    )


def nginx_proxy_conf(workdir: Path, listen: PeerPorts, origin: OriginPorts) -> str:
    """nginx as a reverse proxy: one worker, HTTP/1.1 keep-alive to the origin (h2c in front);
    gRPC with grpc_pass (h2 with keep-alive to fortio)."""
    location = (
        "    location / {\n"
        "      proxy_pass http://origin;\n"
        "      proxy_http_version 1.1;\n"
        '      proxy_set_header Connection "";\n'
        "    }\n"
    )
    return (
        _nginx_common(workdir, "nginx-proxy")
        + f"  upstream origin {{ server 127.0.0.1:{origin.http1}; keepalive 64; }}\n"
        + f"  server {{\n    listen 127.0.0.1:{listen.http1};\n{location}  }}\n"
        + f"  server {{\n    listen 127.0.0.1:{listen.h2c} http2;\n{location}  }}\n"
        + _nginx_grpc(listen, origin)
        + "}\n"
    )


def _haproxy_grpc(listen: PeerPorts, origin: OriginPorts) -> str:
    if listen.grpc is None or origin.grpc is None:
        return ""
    return (
        f"frontend grpc\n  bind 127.0.0.1:{listen.grpc} proto h2\n  default_backend origin_grpc\n"
        f"backend origin_grpc\n  server origin 127.0.0.1:{origin.grpc} proto h2\n"
    )


def haproxy_conf(listen: PeerPorts, origin: OriginPorts) -> str:
    """HAProxy, one thread, keep-alive and connection reuse to the origin (h2 to its h2c port;
    gRPC end to end over h2 in `mode http`, trailers included)."""
    return (
        "global\n"
        "  nbthread 1\n"
        "  maxconn 4000\n"
        "defaults\n"
        "  mode http\n"
        "  timeout connect 5s\n"
        "  timeout client 60s\n"
        "  timeout server 60s\n"
        "  option http-keep-alive\n"
        "  http-reuse always\n"
        "frontend http1\n"
        f"  bind 127.0.0.1:{listen.http1}\n"
        "  default_backend origin_http1\n"
        "frontend h2c\n"
        f"  bind 127.0.0.1:{listen.h2c} proto h2\n"
        "  default_backend origin_h2c\n"
        "backend origin_http1\n"
        f"  server origin 127.0.0.1:{origin.http1}\n"
        "backend origin_h2c\n"
        f"  server origin 127.0.0.1:{origin.h2c} proto h2\n" + _haproxy_grpc(listen, origin)
    )


@dataclass(frozen=True)
class MeshproxyArgs:
    """One meshproxy process: its workload, listeners and Kafka."""

    workload: str  # NAMESPACE/KIND/NAME
    admin: int
    kafka: str
    topic: str
    inbound: tuple[int, int] | None = None  # (listen port, app port)
    outbound: int | None = None  # listen port
    loop: str = "uvloop"  # "uvloop" (what meshproxy picks) or "asyncio" (the stdlib loop)
    program: str = MESHPROXY  # the meshproxy command (another venv's, e.g. the compiled build)


def meshproxy_argv(args: MeshproxyArgs) -> list[str]:
    """The meshproxy command line for args (log level warning: logging is not what we measure)."""
    python = str(Path(args.program).parent / "python")
    program = [args.program] if args.loop == "uvloop" else [python, "-c", _STDLIB_LOOP]
    argv = [
        *program,
        f"--workload={args.workload}",
        f"--pod={args.workload.rsplit('/', 1)[1]}-0",
        f"--admin=127.0.0.1:{args.admin}",
        f"--kafka={args.kafka}",
        f"--topic={args.topic}",
        "--log-level=warning",
    ]
    if args.inbound is not None:
        argv.append(f"--inbound=127.0.0.1:{args.inbound[0]}=127.0.0.1:{args.inbound[1]}")
    if args.outbound is not None:
        argv.append(f"--outbound=127.0.0.1:{args.outbound}")
    return argv


@dataclass(frozen=True)
class FloorArgs:
    """One Python floor process (bench/floor.py): listener, origin, and Kafka for events."""

    listen: int
    upstream: int
    kafka: str | None  # None: relay and observe only, no events
    topic: str


def floor_argv(args: FloorArgs) -> list[str]:
    """The floor's command line (the venv's Python: uvloop, httptools and aiokafka)."""
    argv = [
        sys.executable,
        "-m",
        "bench.floor",
        f"--listen=127.0.0.1:{args.listen}",
        f"--upstream=127.0.0.1:{args.upstream}",
    ]
    if args.kafka is not None:
        argv += [f"--kafka={args.kafka}", f"--topic={args.topic}"]
    return argv
