"""`meshctl dev up|status|down`: the local Kafka + ClickHouse stack shared by dev, demo, tests;
`meshctl dev cluster up|status|down|load|build`: a local single-node Kubernetes cluster."""

from __future__ import annotations

import os
from pathlib import Path

import click

from meshpipe.deploy.dev.cluster import Cluster
from meshpipe.deploy.dev.clusterconf import ClusterSettings
from meshpipe.deploy.dev.compiled import images_compiled
from meshpipe.deploy.dev.crds import fetch_strimzi_crds
from meshpipe.deploy.dev.imagecheck import measure_sidecar
from meshpipe.deploy.dev.images import TARGETS as IMAGE_TARGETS
from meshpipe.deploy.dev.images import (
    ImageBuildSettings,
    build_images,
    containerfile_epoch,
    make_context,
)
from meshpipe.deploy.dev.kubebuild import ensure_coredns, ensure_kubernetes
from meshpipe.deploy.dev.stack import ComponentStatus, DevStack, DevStackSettings
from meshpipe.deploy.operators import STRIMZI
from meshpipe.schemas.exits import CliError, ExitStatus
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
    return _show(stack.status(), 11)


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
@click.option(
    "--compiled/--pure",
    default=images_compiled,
    help="meshpipe compiled with mypyc, or pure Python [compiled; MESHPIPE_COMPILE=0: pure]",
)
@click.pass_obj
def images(
    stack: DevStack, targets: tuple[str, ...], context_only: bool, measure: bool, compiled: bool
) -> None:
    """Build the images of deploy/images/Containerfile without Docker (root; debootstrap, umoci,
    skopeo): OCI layouts and docker-archives under build/images/."""
    settings = ImageBuildSettings(
        targets=targets or IMAGE_TARGETS, cache_dir=stack.settings.cache_dir, compiled=compiled
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


@dev.group()
@click.pass_context
def cluster(ctx: click.Context) -> None:
    """A single-node Kubernetes cluster in a network namespace of its own (needs root)."""
    env = dict(os.environ)
    data_dir = ctx.parent.params.get("data_dir") if ctx.parent else None
    if data_dir:
        env["MESHPIPE_DEV_DIR"] = data_dir
    ctx.obj = Cluster(ClusterSettings.from_env(env))


@cluster.command("up")
@click.pass_obj
def cluster_up(node: Cluster) -> None:
    """Build Kubernetes once (cached), start etcd, the control plane, containerd, the kubelet,
    kube-proxy and CoreDNS (when built); print the KUBECONFIG to use."""
    node.up(click.echo)


@cluster.command("status")
@click.pass_obj
def cluster_status(node: Cluster) -> ExitStatus:
    """Show each component; exit 0 only when all are ready."""
    return _show(node.status(), 24)


@cluster.command("down")
@click.pass_obj
def cluster_down(node: Cluster) -> None:
    """Stop every component, delete the node's namespace and files, restore the host."""
    stopped = node.down(click.echo)
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    click.echo("host restored")


@cluster.command("load")
@click.argument("archives", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--build", "build_first", is_flag=True, help="First `meshctl dev images` (cached).")
@click.pass_obj
def cluster_load(node: Cluster, archives: tuple[str, ...], build_first: bool) -> None:
    """Import image docker-archives (default: build/images/*.tar from `make images`) into the
    node's containerd; an image already there with the same id is skipped (`up` does this too).
    Pods then use them with IfNotPresent."""
    if build_first:
        stack: DevStack = DevStack(DevStackSettings.from_env())
        settings = ImageBuildSettings(cache_dir=stack.settings.cache_dir, out_dir=node.s.images_dir)
        for image in build_images(settings, click.echo):
            click.echo(image.summary())
    paths = [Path(a) for a in archives] or sorted(node.s.images_dir.glob("*.tar"))
    if not paths:
        raise CliError(f"no images in {node.s.images_dir}: run `make images`", ExitStatus.USAGE)
    imported = node.load_images(paths, click.echo)
    click.echo(f"{len(imported)} images imported" if imported else "all images were there")


@cluster.command("build")
@click.option("--coredns/--no-coredns", default=True, help="Also build CoreDNS.")
@click.pass_obj
def cluster_build(node: Cluster, coredns: bool) -> None:
    """Build the Kubernetes binaries (and CoreDNS) into the cache, unless they are there."""
    ensure_kubernetes(node.s.build, click.echo)
    if coredns:
        ensure_coredns(node.s.build, click.echo)


def _show(rows: list[ComponentStatus], width: int) -> ExitStatus:
    """One ✔/× line per component; OK only when all are ready."""
    for row in rows:
        mark = "✔" if row.ready else "×"
        click.echo(f"{mark} {row.name:<{width}} {row.detail}")
    return ExitStatus.OK if all(r.ready for r in rows) else ExitStatus.UNAVAILABLE
