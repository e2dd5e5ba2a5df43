"""Flags the tap commands share (meshtap, `meshctl top`, and the dashboard's Kafka side): what to
tap, and where Kafka is."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from meshpipe.cli.completion import complete_resource, complete_resources
from meshpipe.cli.tap_options import DEFAULT_MAX_RPS

F = TypeVar("F", bound=Callable[..., object])
DEFAULT_KAFKA = "127.0.0.1:9092"


def _apply(command: F, decorators: list[Callable[[F], F]]) -> F:
    """decorators applied so that they show in --help in the order given."""
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def tap_selection(command: F) -> F:
    """RESOURCES and meshtap's request-field filters: -n, --to, --to-namespace, --max-rps,
    --method, --path, --authority, --scheme."""
    return _apply(
        command,
        [
            click.argument("resources", nargs=-1, required=True, shell_complete=complete_resources),
            click.option("-n", "--namespace", default="default", show_default=True),
            click.option(
                "--to",
                "to_resource",
                shell_complete=complete_resource,
                help="Only requests to this resource.",
            ),
            click.option("--to-namespace", help="Namespace of --to [--namespace]."),
            click.option("--max-rps", type=int, default=DEFAULT_MAX_RPS, show_default=True),
            click.option("--method", help="Only requests with this HTTP method."),
            click.option("--path", help="Only requests whose path starts with this."),
            click.option("--authority", help="Only requests with this :authority."),
            click.option("--scheme", help="Only requests with this scheme."),
        ],
    )


def kafka_flags(command: F) -> F:
    """--kafka (MESHPIPE_KAFKA) and the hidden --topic-prefix (MESHPIPE_TOPIC_PREFIX)."""
    return _apply(
        command,
        [
            click.option(
                "--kafka",
                "bootstrap",
                envvar="MESHPIPE_KAFKA",
                show_envvar=True,
                default=DEFAULT_KAFKA,
                show_default=True,
                help="Kafka bootstrap servers.",
            ),
            click.option(
                "--topic-prefix",
                envvar="MESHPIPE_TOPIC_PREFIX",
                default="",
                hidden=True,
                help="Prefix of the topic names, as given to `meshstreams worker --topic-prefix`.",
            ),
        ],
    )
