"""`meshctl dashboard`: serve the web UI on a local address over ClickHouse (read-only user) and
Kafka (tap sessions), or forward a local port to the one an install runs in the cluster, until
interrupted."""

from __future__ import annotations

import asyncio
import json
import webbrowser
from dataclasses import dataclass

import click
from aiohttp import web

from meshpipe.cli.cluster_flags import clickhouse, kafka, pop_access
from meshpipe.cli.exit import quiet_library_logs
from meshpipe.cli.stat_flags import clickhouse_url as clickhouse_flag
from meshpipe.cli.tap_flags import kafka_flags
from meshpipe.cli.tapclient import KafkaSettings
from meshpipe.dashboard.api import Api, GrafanaLink
from meshpipe.dashboard.backend import ClickHouseBackend
from meshpipe.dashboard.kafkahealth import DEFAULT_GROUP, KafkaHealthProbe
from meshpipe.dashboard.server import (
    AssetsMissingError,
    Services,
    check_assets,
    make_app,
    static_dir,
)
from meshpipe.dashboard.tapstream import TapLimits, live_opener
from meshpipe.deploy.kafka.topics import load_spec
from meshpipe.deploy.mesh.grafana import dashboards
from meshpipe.deploy.mesh.portforward import (
    ClusterAccess,
    ClusterAccessError,
    dashboard_forward,
    has_dashboard,
)
from meshpipe.schemas.clock import SystemClock
from meshpipe.schemas.exits import CliError, ExitStatus, UsageError
from meshpipe.sinks.client import UrlError, parse_url

DEFAULT_PORT = 50750  # linkerd viz dashboard's
DEFAULT_GRAFANA = "http://127.0.0.1:3000"


@dataclass(frozen=True)
class ServeSettings:
    """Where the server listens and what it tells the user."""

    listen: str
    port: int
    open_browser: bool


def grafana_links() -> list[GrafanaLink]:
    """The provisioned Grafana dashboards (deploy/mesh/grafana), by uid and title."""
    links = []
    for text in dashboards().values():
        doc = json.loads(text)
        links.append(GrafanaLink(str(doc["uid"]), str(doc.get("title", doc["uid"]))))
    return links


async def serve(app: web.Application, settings: ServeSettings) -> None:
    """Serve app until cancelled; says the URL once the socket is bound."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.listen, settings.port)
        try:
            await site.start()
        except OSError as exc:
            raise CliError(
                f"cannot listen on {settings.listen}:{settings.port}: {exc.strerror}",
                ExitStatus.UNAVAILABLE,
            ) from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else settings.port
        host = f"[{settings.listen}]" if ":" in settings.listen else settings.listen
        url = f"http://{host}:{port}/"
        click.echo(f"meshpipe dashboard available at {url}", err=False)
        if settings.open_browser:
            webbrowser.open(url)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def forward(access: ClusterAccess, settings: ServeSettings) -> None:
    """Forward 127.0.0.1:port (0: any free port) to the install's dashboard Service through the
    API server, say the URL, and hold the forward until interrupted or until kubectl ends."""
    try:
        with dashboard_forward(access, settings.port or None) as held:
            url = f"http://127.0.0.1:{held.port}/"
            click.echo(f"meshpipe dashboard available at {url}")
            if settings.open_browser:
                webbrowser.open(url)
            code = held.wait()
    except ClusterAccessError as exc:
        raise CliError(str(exc), ExitStatus.UNAVAILABLE) from None
    raise CliError(
        f"kubectl port-forward to service/dashboard ended (exit {code})", ExitStatus.UNAVAILABLE
    )


def _installed_dashboard(access: ClusterAccess) -> bool:
    try:
        return has_dashboard(access)
    except ClusterAccessError as exc:
        raise CliError(str(exc), ExitStatus.UNAVAILABLE) from None


@click.command("dashboard", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="0: any free port.")
@click.option(
    "--listen",
    default="127.0.0.1",
    show_default=True,
    envvar="MESHPIPE_DASHBOARD_LISTEN",
    help="Address to listen on (0.0.0.0 in a pod; anything but loopback exposes the data).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@clickhouse_flag
@kafka_flags
@click.option(
    "--group",
    envvar="MESHPIPE_GROUP",
    default=DEFAULT_GROUP,
    show_default=True,
    help="The workers' consumer group (meshstreams worker --group), for their lag.",
)
@click.option(
    "--grafana",
    "grafana_url",
    envvar="MESHPIPE_GRAFANA",
    default=DEFAULT_GRAFANA,
    show_default=True,
    help="Grafana's URL, for the links to meshpipe's dashboards.",
)
@click.option(
    "--tap-max-rps",
    type=int,
    default=TapLimits().max_rps,
    show_default=True,
    help="The highest max rps a browser's tap may ask for.",
)
def dashboard(
    port: int,
    listen: str,
    open_browser: bool,
    clickhouse_url: str,
    bootstrap: str,
    topic_prefix: str,
    group: str,
    grafana_url: str,
    tap_max_rps: int,
    **cluster: object,
) -> None:
    """Serve meshpipe's web dashboard: namespaces, workloads, the service map over any stored
    range, and live tap. Read-only; listens on 127.0.0.1 unless told otherwise.

    With --kubeconfig/--context it shows an installed control plane through the cluster's API
    server: a port-forward to the dashboard the install runs (--port, --open apply; the rest is
    the pod's), or, for an install made with --no-dashboard, a local server over port-forwards
    to ClickHouse as the reader and to a single broker.

    \b
    Exit codes: 0 ok, 1 unexpected error, 2 usage, 4 cannot listen or reach the cluster,
    130 interrupted.
    """
    if tap_max_rps < 1:
        raise UsageError("--tap-max-rps must be at least 1")
    access = pop_access(cluster)
    if access is not None and _installed_dashboard(access):
        forward(access, ServeSettings("127.0.0.1", port, open_browser))
        return
    if access is None:
        try:
            parse_url(clickhouse_url)
        except UrlError as exc:
            raise UsageError(f"--clickhouse: {exc}") from None
    folder = static_dir()
    try:
        check_assets(folder)
    except AssetsMissingError as exc:
        raise CliError(str(exc), ExitStatus.ERROR) from None
    quiet_library_logs("aiokafka", "clickhouse_driver")
    topics = load_spec()
    with clickhouse(access, clickhouse_url) as url, kafka(access, bootstrap) as reachable:
        tap_kafka = KafkaSettings(
            reachable, topics.with_prefix(topic_prefix) if topic_prefix else topics
        )
        probe = KafkaHealthProbe(tap_kafka, group)
        api = Api(ClickHouseBackend(url), SystemClock(), grafana_url, grafana_links(), probe)
        services = Services(api, live_opener(tap_kafka), TapLimits(tap_max_rps))
        asyncio.run(serve(make_app(services, folder), ServeSettings(listen, port, open_browser)))
