"""`meshctl dev up|status|down`: the local Kafka + ClickHouse stack shared by dev, demo, tests."""

from __future__ import annotations

import os

import click

from meshpipe.deploy.dev.crds import fetch_strimzi_crds
from meshpipe.deploy.dev.imagecheck import measure_sidecar
from meshpipe.deploy.dev.images import TARGETS as IMAGE_TARGETS
from meshpipe.deploy.dev.images import (
    ImageBuildSettings,
    build_images,
    containerfile_epoch,
    make_context,
)
from meshpipe.deploy.dev.stack import DevStack, DevStackSettings
from meshpipe.deploy.operators import STRIMZI
from meshpipe.schemas.exits import ExitStatus
from meshpipe.schemas.topics import REQUESTS


@click.group("dev")
@click.option("--kafka-port", type=int, help="Kafka listener port [env MESHPIPE_KAFKA_PORT; 9092]")
@click.option(
    "--clickhouse-port",
    type=int,
    help="ClickHouse native port [env MESHPIPE_CLICKHOUSE_PORT; 9000]",
)
@click.option(
    "--dir",
    "data_dir",
    type=click.Path(file_okay=False),
    help="data, logs and pid files [env MESHPIPE_DEV_DIR; ~/.local/share/meshpipe/dev]",
)
@click.pass_context
def dev(
    ctx: click.Context, kafka_port: int | None, clickhouse_port: int | None, data_dir: str | None
) -> None:
    """Run Apache Kafka and ClickHouse locally, on loopback, for development and tests."""
    env = dict(os.environ)
    if kafka_port is not None:
        env["MESHPIPE_KAFKA_PORT"] = str(kafka_port)
    if clickhouse_port is not None:
        env["MESHPIPE_CLICKHOUSE_PORT"] = str(clickhouse_port)
    if data_dir is not None:
        env["MESHPIPE_DEV_DIR"] = data_dir
    ctx.obj = DevStack(DevStackSettings.from_env(env))


@dev.command()
@click.option(
    "--requests-partitions",
    type=click.IntRange(min=1),
    envvar="MESHPIPE_REQUESTS_PARTITIONS",
    help="Partitions of the requests topic: at most this many workers share the load; "
    "raises an existing topic's count, never lowers it [env MESHPIPE_REQUESTS_PARTITIONS; "
    "deploy/kafka/topics.yaml's]",
)
@click.pass_obj
def up(stack: DevStack, requests_partitions: int | None) -> None:
    """Start Kafka and ClickHouse (if not running), create topics, apply the schema."""
    if requests_partitions is not None:
        stack.topics = stack.topics.with_partitions(REQUESTS, requests_partitions)
    stack.up(click.echo)


@dev.command()
@click.pass_obj
def status(stack: DevStack) -> ExitStatus:
    """Show each component; exit 0 only when all are ready."""
    rows = stack.status()
    for row in rows:
        mark = "✔" if row.ready else "×"
        click.echo(f"{mark} {row.name:<11} {row.detail}")
    return ExitStatus.OK if all(r.ready for r in rows) else ExitStatus.UNAVAILABLE


@dev.command()
@click.pass_obj
def down(stack: DevStack) -> None:
    """Stop Kafka and ClickHouse; data stays for the next `up`."""
    stopped = stack.down()
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@dev.command()
@click.pass_obj
def fetch(stack: DevStack) -> None:
    """Download what the dev stack and the tests need into the cache (once per version): the
    Kafka broker's jars, and the CRDs of the Strimzi release `meshctl install` targets."""
    libs = stack.kafka.fetch()
    click.echo(f"Kafka {stack.settings.kafka.version} jars: {libs}")
    crds = fetch_strimzi_crds(stack.settings.cache_dir)
    click.echo(f"Strimzi {STRIMZI.version} CRDs: {crds}")


@dev.command()
@click.option(
    "--target",
    "targets",
    multiple=True,
    type=click.Choice(IMAGE_TARGETS),
    help="Build only this image (repeatable) [default: all]",
)
@click.option("--context-only", is_flag=True, help="Only write the build context (docker build).")
@click.option(
    "--measure",
    is_flag=True,
    help="Then time the sidecar from start to /ready, from the image, against the dev Kafka.",
)
@click.pass_obj
def images(stack: DevStack, targets: tuple[str, ...], context_only: bool, measure: bool) -> None:
    """Build the images of deploy/images/Containerfile without Docker (root; debootstrap, umoci,
    skopeo): OCI layouts and docker-archives under build/images/."""
    settings = ImageBuildSettings(
        targets=targets or IMAGE_TARGETS, cache_dir=stack.settings.cache_dir
    )
    if context_only:
        version = make_context(settings, containerfile_epoch(settings), click.echo)
        click.echo(f"context for meshpipe {version}: {settings.context}")
        return
    built = build_images(settings, click.echo)
    for image in built:
        click.echo(f"{image.layout}  {image.archive}")
    sidecars = [image for image in built if image.name == "meshproxy"]
    if measure and sidecars:
        seconds = measure_sidecar(sidecars[0], stack.settings.kafka.bootstrap, runs=5)
        click.echo(f"meshproxy start to /ready: {', '.join(f'{s:.2f} s' for s in seconds)}")
