"""The `meshproxy` command: flags and MESHPIPE_* variables in, a running sidecar until SIGTERM.

It imports only the proxy, the contract and click: the sidecar image installs meshpipe[proxy]."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import NoReturn

import click

from meshpipe.cli.exit import run_cli
from meshpipe.proxy.publisher import EventPublisher, KafkaSender, KafkaSettings, PublisherSettings
from meshpipe.proxy.server import ProxyServer
from meshpipe.proxy.settings import ServerSettings, SettingsError, listeners, parse_address
from meshpipe.schemas.durations import DurationError, parse_duration
from meshpipe.schemas.edgekey import EdgeKeys
from meshpipe.schemas.exits import CliError, ExitStatus, UsageError
from meshpipe.schemas.identity import IdentityError, WorkloadId, WorkloadInstance
from meshpipe.schemas.rows import CONNECTION_REPORT_S
from meshpipe.schemas.topics import REQUESTS

# An instance's default, not the class attribute: in the compiled build (setup.py) the class
# attribute of a compiled dataclass is a descriptor, not the number.
_DEFAULT_QUEUE = PublisherSettings().max_queue


def _run(settings: ServerSettings) -> int:
    """Serve until a signal; return the number of events that could not be flushed."""
    kafka = settings.kafka
    assert kafka is not None
    publisher = EventPublisher(KafkaSender(kafka), EdgeKeys(), settings.publisher)
    server = ProxyServer(settings, publisher)

    async def serve() -> int:
        await server.start()
        logging.getLogger("proxy").info(
            "meshproxy %s ready: %s", settings.proxy_id, ", ".join(_describe(settings))
        )
        return await server.serve_until_signal()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(serve())


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _describe(settings: ServerSettings) -> list[str]:
    return [f"{lst.name} {lst.address}" for lst in settings.listeners] + [f"admin {settings.admin}"]


def build_settings(
    workload: str,
    pod: str,
    inbound: str | None,
    outbound: str | None,
    transparent: bool,
    admin: str,
    kafka: str,
    topic: str,
    event_queue_size: int = _DEFAULT_QUEUE,
    connection_report_interval: str = f"{CONNECTION_REPORT_S}s",
) -> ServerSettings:
    """Validated settings from flag values; SettingsError or IdentityError when one is wrong."""
    instance = WorkloadInstance(WorkloadId.parse(workload), pod)
    try:
        report_s = parse_duration(connection_report_interval, zero_ok=True)
    except DurationError as exc:
        raise SettingsError(f"--connection-report-interval: {exc}") from exc
    proxy_id = f"{pod or socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
    return ServerSettings(
        workload=instance,
        proxy_id=proxy_id,
        listeners=listeners(inbound, outbound, transparent),
        admin=parse_address(admin, "admin address"),
        kafka=KafkaSettings(bootstrap=kafka, topic=topic, client_id=f"meshproxy-{proxy_id}"),
        publisher=PublisherSettings(max_queue=event_queue_size),
        connection_report_s=report_s,
        freeze_startup_heap=True,
    )


@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
    epilog="Example: meshproxy --workload emojivoto/deployment/web --pod web-1 "
    "--inbound 127.0.0.1:4143=127.0.0.1:8080 --outbound 127.0.0.1:4140 "
    "--kafka 127.0.0.1:9092",
)
@click.option(
    "--workload",
    envvar="MESHPIPE_WORKLOAD",
    show_envvar=True,
    required=True,
    help="This sidecar's workload as NAMESPACE/KIND/NAME, e.g. emojivoto/deployment/web; KIND may "
    "be a kubectl alias or plural (deploy, sts, ds, ...), stored as its canonical kind.",
)
@click.option(
    "--pod",
    envvar="MESHPIPE_POD",
    show_envvar=True,
    default="",
    help="This pod's name, e.g. web-5d8f-abcde; sent in the identity headers.",
)
@click.option(
    "--inbound",
    envvar="MESHPIPE_INBOUND",
    show_envvar=True,
    help="Listen for the app's callers and forward to the app: LISTEN=APP, "
    "e.g. 127.0.0.1:4143=127.0.0.1:8080. With --transparent a bare LISTEN (e.g. 0.0.0.0:4143) "
    "is enough: each REDIRECTed connection goes to 127.0.0.1 at its original port "
    "(SO_ORIGINAL_DST), as Linkerd's inbound proxy did before 2.11: the app must listen on "
    "loopback or all addresses, and ports it binds only on loopback become reachable.",
)
@click.option(
    "--outbound",
    envvar="MESHPIPE_OUTBOUND",
    show_envvar=True,
    help="Listen for the app's own requests (its http_proxy), e.g. 127.0.0.1:4140.",
)
@click.option(
    "--transparent",
    envvar="MESHPIPE_TRANSPARENT",
    show_envvar=True,
    is_flag=True,
    help="The listeners receive iptables-REDIRECTed connections (a Kubernetes pod): outbound "
    "connections go to their original destination (SO_ORIGINAL_DST); inbound ones too, on "
    "127.0.0.1, when --inbound has no =APP.",
)
@click.option(
    "--admin",
    envvar="MESHPIPE_ADMIN",
    show_envvar=True,
    default="127.0.0.1:4191",
    help="Serve /metrics, /ready and /live here, e.g. 127.0.0.1:4191.",
)
@click.option(
    "--kafka",
    envvar="MESHPIPE_KAFKA",
    show_envvar=True,
    required=True,
    help="Kafka bootstrap servers for request events, e.g. 127.0.0.1:9092.",
)
@click.option(
    "--topic",
    envvar="MESHPIPE_TOPIC",
    show_envvar=True,
    default=REQUESTS,
    help="Topic for request events.",
)
@click.option(
    "--event-queue-size",
    envvar="MESHPIPE_EVENT_QUEUE_SIZE",
    show_envvar=True,
    default=_DEFAULT_QUEUE,
    type=click.IntRange(min=1),
    help="Events (requests, connection reports) held while Kafka is slow or down; beyond it "
    "the oldest are dropped and counted in events_dropped_total, e.g. 10000.",
)
@click.option(
    "--connection-report-interval",
    envvar="MESHPIPE_CONNECTION_REPORT_INTERVAL",
    show_envvar=True,
    default=f"{CONNECTION_REPORT_S}s",
    help="How often to publish the open connections per edge (meshstat's TCP_CONN), at most "
    f"{CONNECTION_REPORT_S}s; 0 publishes none.",
)
@click.option(
    "--log-level",
    envvar="MESHPIPE_LOG_LEVEL",
    show_envvar=True,
    default="info",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log verbosity.",
)
def meshproxy(
    workload: str,
    pod: str,
    inbound: str | None,
    outbound: str | None,
    transparent: bool,
    admin: str,
    kafka: str,
    topic: str,
    event_queue_size: int,
    connection_report_interval: str,
    log_level: str,
) -> None:
    """meshproxy: the meshpipe sidecar. Relays HTTP/1.1, HTTP/2, gRPC and TCP for one workload
    and publishes one event per request to Kafka. SIGTERM drains, flushes and exits 0."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = build_settings(
            workload,
            pod,
            inbound,
            outbound,
            transparent,
            admin,
            kafka,
            topic,
            event_queue_size,
            connection_report_interval,
        )
    except (SettingsError, IdentityError) as exc:
        raise UsageError(str(exc)) from exc
    try:
        left = _run(settings)
    except OSError as exc:
        raise CliError(f"cannot listen: {exc}", ExitStatus.UNAVAILABLE) from exc
    if left:
        click.echo(f"meshproxy: {left} events could not be published before exit", err=True)


def main() -> NoReturn:
    run_cli("meshproxy", meshproxy)
