"""Flags meshstat and its verbs (routes, edges) share: the stored range and the ClickHouse URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from meshpipe.cli.cluster_flags import cluster_flags
from meshpipe.cli.completion import CLICKHOUSE_ENV, DEFAULT_CLICKHOUSE_URL

F = TypeVar("F", bound=Callable[..., object])


def stored_range(command: F) -> F:
    """--since and --until: a range of the stored history instead of up to now."""
    command = click.option(
        "--until", help="End of a stored range: a duration ago or an RFC 3339 time [now]."
    )(command)
    return click.option(
        "--since", help="Start of a stored range: a duration ago (2h) or an RFC 3339 time."
    )(command)


def clickhouse_url(command: F) -> F:
    """--clickhouse (MESHPIPE_CLICKHOUSE): where the history is read, as the read-only user;
    or --kubeconfig/--context: an installed control plane's, through the API server."""
    command = cluster_flags(command)
    return click.option(
        "--clickhouse",
        "clickhouse_url",
        envvar=CLICKHOUSE_ENV,
        show_envvar=True,
        default=DEFAULT_CLICKHOUSE_URL,
        show_default=True,
        help="ClickHouse native URL: clickhouse://USER[:PASS]@HOST[:PORT]/DB.",
    )(command)
