"""`meshctl install`: print the meshpipe control plane as YAML for `kubectl apply -f -`."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import click

from meshpipe.cli.injector_tls import TlsFactory, generate_injector_tls
from meshpipe.deploy.kafka.topics import TopicSet, load_spec
from meshpipe.deploy.mesh.install import InstallConfig, Passwords, operators, render
from meshpipe.deploy.mesh.proxyspec import IMAGE_REPOSITORY, package_version
from meshpipe.deploy.mesh.yamlio import dump_documents
from meshpipe.schemas.exits import CliError, ExitStatus
from meshpipe.schemas.topics import REQUESTS

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HOST_PORT = re.compile(r"[^\s:,]+:\d{1,5}")

PasswordFactory = Callable[[], str]
DEFAULT_CLICKHOUSE = "clickhouse/clickhouse-server:25.8"
DEFAULT_REPLICAS = 2


def random_password() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class SecretFactories:
    """What makes install's secrets: fresh ones by default, fixed ones in tests (click's obj)."""

    passwords: PasswordFactory = random_password
    tls: TlsFactory = generate_injector_tls

    @classmethod
    def of(cls, obj: object) -> SecretFactories:
        if isinstance(obj, SecretFactories):
            return obj
        return cls(obj) if callable(obj) else cls()


@dataclass(frozen=True)
class InstallOptions:
    """The flags as given; validate() checks them and builds the install configuration."""

    namespace: str
    image_tag: str
    kafka_bootstrap: str | None
    with_kafka_cluster: bool
    clickhouse_operator: bool
    clickhouse_image: str
    grafana_image: str
    streams_replicas: int
    requests_partitions: int | None = None  # None: deploy/kafka/topics.yaml's count
    kafka_broker: bool = False
    grafana: bool = True
    dashboard: bool = True
    dev_cluster: bool = False

    def resolved(self) -> InstallOptions:
        """--dev-cluster spelled out: one Kafka broker of ours, Debian's ClickHouse in our image,
        no Grafana (no image for it there), one worker (two cores)."""
        if not self.dev_cluster:
            return self
        image = f"{IMAGE_REPOSITORY}/clickhouse-debian:{self.image_tag}"
        clickhouse_image = image if self.clickhouse_image == DEFAULT_CLICKHOUSE else None
        replicas = self.streams_replicas
        return replace(
            self,
            dev_cluster=False,
            kafka_broker=self.kafka_bootstrap is None,
            grafana=False,
            clickhouse_image=clickhouse_image or self.clickhouse_image,
            streams_replicas=1 if replicas == DEFAULT_REPLICAS else replicas,
        )

    def topics(self) -> TopicSet:
        """The topic spec to render, with the requests topic's partitions if given."""
        spec = load_spec()
        if self.requests_partitions is None:
            return spec
        return spec.with_partitions(REQUESTS, self.requests_partitions)

    def validate(self, factories: SecretFactories) -> InstallConfig:
        if not _DNS_LABEL.fullmatch(self.namespace):
            raise CliError(
                f"--namespace {self.namespace!r}: want a DNS label (lower-case, digits, '-')",
                ExitStatus.USAGE,
            )
        if not _IMAGE_TAG.fullmatch(self.image_tag):
            raise CliError(f"--image-tag {self.image_tag!r} is not a valid tag", ExitStatus.USAGE)
        if self.kafka_broker and (self.with_kafka_cluster or self.kafka_bootstrap is not None):
            raise CliError(
                "--kafka-broker excludes --with-kafka-cluster and --kafka-bootstrap",
                ExitStatus.USAGE,
            )
        if self.kafka_bootstrap is not None:
            if self.with_kafka_cluster:
                raise CliError(
                    "--with-kafka-cluster and --kafka-bootstrap exclude each other",
                    ExitStatus.USAGE,
                )
            for address in self.kafka_bootstrap.split(","):
                if not _HOST_PORT.fullmatch(address):
                    raise CliError(
                        f"--kafka-bootstrap {address!r}: want host:port[,host:port...]",
                        ExitStatus.USAGE,
                    )
        if self.streams_replicas < 1:
            raise CliError("--streams-replicas must be at least 1", ExitStatus.USAGE)
        return InstallConfig(
            passwords=Passwords(*(factories.passwords() for _ in range(3))),
            namespace=self.namespace,
            image_tag=self.image_tag,
            kafka_bootstrap=self.kafka_bootstrap,
            with_kafka_cluster=self.with_kafka_cluster,
            clickhouse_operator=self.clickhouse_operator,
            clickhouse_image=self.clickhouse_image,
            grafana_image=self.grafana_image,
            streams_replicas=self.streams_replicas,
            kafka_broker=self.kafka_broker,
            with_grafana=self.grafana,
            with_dashboard=self.dashboard,
            injector_tls=factories.tls(self.namespace),
        )


@click.command("install")
@click.option("--namespace", default="meshpipe", show_default=True, help="Control-plane namespace.")
@click.option(
    "--image-tag",
    default=package_version,
    show_default="the meshpipe version",
    help="Tag of the meshpipe images (meshstreams).",
)
@click.option(
    "--kafka-bootstrap",
    metavar="HOST:PORT[,...]",
    help="Use an existing Kafka cluster (create the topics from deploy/kafka/topics.yaml "
    "yourself) instead of Strimzi KafkaTopics in the namespace.",
)
@click.option(
    "--with-kafka-cluster",
    is_flag=True,
    help="Also write a Strimzi Kafka (KRaft) + KafkaNodePool for the topics.",
)
@click.option(
    "--kafka-broker",
    is_flag=True,
    help="Write one Kafka broker of meshpipe's own (KRaft, image kafka) and a Job creating the "
    "topics, instead of Strimzi resources: for clusters without Strimzi; no replication.",
)
@click.option(
    "--clickhouse-operator",
    is_flag=True,
    help="Write an Altinity ClickHouseInstallation instead of a StatefulSet.",
)
@click.option(
    "--clickhouse-image",
    default=DEFAULT_CLICKHOUSE,
    show_default=True,
    help="ClickHouse server image.",
)
@click.option(
    "--grafana-image", default="grafana/grafana:12.2.0", show_default=True, help="Grafana image."
)
@click.option("--grafana/--no-grafana", default=True, show_default=True, help="Install Grafana.")
@click.option(
    "--dashboard/--no-dashboard",
    default=True,
    show_default=True,
    help="Install the web dashboard (`meshctl dashboard --kubeconfig/--context` forwards to it).",
)
@click.option(
    "--streams-replicas",
    type=int,
    default=DEFAULT_REPLICAS,
    show_default=True,
    help="meshstreams workers.",
)
@click.option(
    "--requests-partitions",
    type=click.IntRange(min=1),
    help="Partitions of the requests topic (at most this many workers share the load) "
    "[deploy/kafka/topics.yaml's].",
)
@click.option(
    "--dev-cluster",
    is_flag=True,
    help="For `meshctl dev cluster`: --kafka-broker, the clickhouse-debian image (Debian's "
    "server), --no-grafana and one worker, unless given otherwise.",
)
@click.pass_context
def install(ctx: click.Context, /, **flags: Any) -> None:
    """Write the control plane to stdout: meshstreams, ClickHouse, Kafka topics, Grafana, the
    dashboard, RBAC.

    Fresh passwords for ClickHouse and Grafana are generated on every run (they land in the
    clickhouse-credentials Secret), and so are the proxy injector's CA and serving certificate
    (the meshpipe-injector-tls Secret and the webhook's caBundle).

    \b
      meshctl install | kubectl apply -f -
    """
    options = InstallOptions(**flags).resolved()
    config = options.validate(SecretFactories.of(ctx.obj))
    click.echo(render_yaml(config, options.topics()), nl=False)


def render_yaml(config: InstallConfig, topics: TopicSet | None = None) -> str:
    """The objects as one YAML stream, after a comment naming the operators they need."""
    header = "".join(
        f"# Custom resources for {o.label}: install it first.\n" for o in operators(config)
    )
    return header + dump_documents(render(config, topics))
