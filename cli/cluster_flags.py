"""--kubeconfig, --context and --mesh-namespace for meshstat and meshtap: with either of the
first two, the CLI reaches the installed control plane through the cluster's API server
(kubectl port-forward, the reader's password from the install's Secret) instead of a URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import TypeVar

import click

from meshpipe.deploy.mesh.portforward import (
    ClusterAccess,
    ClusterAccessError,
    clickhouse_endpoint,
    clickhouse_forward,
    kafka_forward,
)
from meshpipe.schemas.exits import CliError, ExitStatus, UsageError
from meshpipe.sinks.client import ClickHouseUrl, UrlError, parse_url

F = TypeVar("F", bound=Callable[..., object])


def cluster_flags(command: F) -> F:
    """The three flags; reach the control plane of a cluster instead of local servers."""
    command = click.option(
        "--mesh-namespace",
        default="meshpipe",
        show_default=True,
        help="Namespace of the installed control plane (with --kubeconfig/--context).",
    )(command)
    command = click.option(
        "--context",
        "kube_context",
        help="kubeconfig context: read from that cluster's control plane through its API "
        "server (kubectl port-forward) instead of a local URL.",
    )(command)
    return click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False),
        help="kubeconfig of the cluster to read from (as --context; kubectl's default context).",
    )(command)


def pop_access(params: MutableMapping[str, object]) -> ClusterAccess | None:
    """The cluster to reach (removing the three flags from params), None without one."""
    kubeconfig = params.pop("kubeconfig", None)
    context = params.pop("kube_context", None)
    namespace = str(params.pop("mesh_namespace", "meshpipe"))
    if kubeconfig is None and context is None:
        return None
    return ClusterAccess(
        kubeconfig=str(kubeconfig) if kubeconfig else None,
        context=str(context) if context else None,
        namespace=namespace,
    )


@contextmanager
def clickhouse(access: ClusterAccess | None, url_text: str) -> Iterator[ClickHouseUrl]:
    """The ClickHouse to read: url_text, or the cluster's through a port-forward held open
    for the block."""
    if access is None:
        try:
            url = parse_url(url_text)
        except UrlError as exc:
            raise UsageError(str(exc)) from None
        yield url
        return
    try:
        endpoint = clickhouse_endpoint(access)
        forward = clickhouse_forward(access, endpoint).__enter__()
    except ClusterAccessError as exc:
        raise CliError(str(exc), ExitStatus.UNAVAILABLE) from None
    try:
        yield ClickHouseUrl(
            host="127.0.0.1",
            port=forward.port,
            user=endpoint.user,
            password=endpoint.password,
            database=endpoint.database,
        )
    finally:
        forward.close()


@contextmanager
def kafka(access: ClusterAccess | None, bootstrap: str) -> Iterator[str]:
    """The Kafka bootstrap to use: bootstrap, or the cluster's single broker through a
    port-forward to the listener it advertises as 127.0.0.1 (one broker only: see README)."""
    if access is None:
        yield bootstrap
        return
    try:
        forward = kafka_forward(access).__enter__()
    except ClusterAccessError as exc:
        raise CliError(
            f"{exc} (tap reaches a cluster's Kafka only when installed with --kafka-broker)",
            ExitStatus.UNAVAILABLE,
        ) from None
    try:
        yield f"127.0.0.1:{forward.port}"
    finally:
        forward.close()
