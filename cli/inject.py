"""`meshctl inject FILE|DIR|-`: add the meshproxy sidecar to manifests (or remove it again)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from meshpipe.deploy.mesh.inject import Outcome, inject_documents, uninject_documents
from meshpipe.deploy.mesh.proxyspec import DEFAULT_KAFKA_BOOTSTRAP, ProxyConfig, default_proxy_image
from meshpipe.deploy.mesh.yamlio import (
    ManifestError,
    dump_documents,
    load_documents,
    manifest_files,
)
from meshpipe.schemas.exits import CliError, ExitStatus

STDIN = "-"


@dataclass(frozen=True)
class InjectOptions:
    """What the user asked for; validate() turns it into the proxy settings or a usage error."""

    sources: tuple[str, ...]
    uninject: bool
    proxy_image: str
    kafka_bootstrap: str
    transparent: bool

    def validate(self) -> ProxyConfig:
        if not self.sources:
            raise CliError("give a file, a directory or - (stdin)", ExitStatus.USAGE)
        if self.sources.count(STDIN) > 1:
            raise CliError("stdin (-) can be read only once", ExitStatus.USAGE)
        if not self.proxy_image.strip():
            raise CliError("--proxy-image must not be empty", ExitStatus.USAGE)
        host, sep, port = self.kafka_bootstrap.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise CliError(
                f"--kafka-bootstrap {self.kafka_bootstrap!r}: want host:port", ExitStatus.USAGE
            )
        return ProxyConfig(
            image=self.proxy_image,
            kafka_bootstrap=self.kafka_bootstrap,
            transparent=self.transparent,
        )


@click.command("inject")
@click.argument("sources", nargs=-1, metavar="FILE|DIR|-")
@click.option("--uninject", is_flag=True, help="Remove what inject added instead.")
@click.option(
    "--proxy-image",
    default=default_proxy_image,
    show_default="ghcr.io/meshpipe/meshproxy:<meshpipe version>",
    help="Image of the sidecar and its init container.",
)
@click.option(
    "--kafka-bootstrap",
    default=DEFAULT_KAFKA_BOOTSTRAP,
    show_default=True,
    help="Kafka host:port the sidecars publish request events to.",
)
@click.option(
    "--transparent/--explicit",
    default=True,
    show_default=True,
    help="Outbound mode of the sidecar: iptables redirect, or the app's http_proxy.",
)
def inject(
    sources: tuple[str, ...],
    uninject: bool,
    proxy_image: str,
    kafka_bootstrap: str,
    transparent: bool,
) -> None:
    """Write the manifests to stdout with meshproxy added to every workload's pods.

    Reads multi-document YAML (and `kind: List`) from files, directories or stdin; Deployments,
    StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and Pods get the sidecar, every other
    document passes through unchanged. A summary goes to stderr.

    \b
      kubectl get deploy -n emojivoto -o yaml | meshctl inject - | kubectl apply -f -
    """
    options = InjectOptions(sources, uninject, proxy_image, kafka_bootstrap, transparent)
    config = options.validate()
    docs = fetch(options.sources)
    if options.uninject:
        result, outcomes = uninject_documents(docs)
    else:
        result, outcomes = inject_documents(docs, config)
    click.echo(render(result), nl=False)
    for outcome in outcomes:
        click.echo(outcome.line(), err=True)
    _echo_hint(outcomes)


def fetch(sources: tuple[str, ...]) -> list[Any]:
    """Every document of every source, in the order given (directories sorted by path)."""
    docs: list[Any] = []
    try:
        for source in sources:
            if source == STDIN:
                docs.extend(load_documents(sys.stdin.read()))
                continue
            for path in manifest_files(Path(source)):
                docs.extend(load_documents(_read(path), str(path)))
    except ManifestError as exc:
        status = ExitStatus.NOT_FOUND if "no such file" in str(exc) else ExitStatus.USAGE
        raise CliError(str(exc), status) from exc
    return docs


def render(docs: list[Any]) -> str:
    return dump_documents(docs)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from exc


def _echo_hint(outcomes: list[Outcome]) -> None:
    if not outcomes:
        click.echo("no workloads found (nothing to inject)", err=True)
