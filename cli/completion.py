"""Shell completion of resource arguments: types from the grammar, names from ClickHouse."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import click
from click.shell_completion import CompletionItem

from meshpipe.cli.exit import quiet_library_logs
from meshpipe.schemas.kinds import ALL, CANONICAL_KINDS
from meshpipe.schemas.resources import ResourceError, canonical_kind
from meshpipe.sinks import query
from meshpipe.sinks.client import ClickHouseError, NativeClient, UrlError, parse_url
from meshpipe.sinks.users import LOCAL_READER_URL

# The read-only user: meshstat and completion never write.
DEFAULT_CLICKHOUSE_URL = LOCAL_READER_URL
CLICKHOUSE_ENV = "MESHPIPE_CLICKHOUSE"

NamesOf = Callable[[str], list[str]]  # canonical kind -> resource names


def resource_completions(previous: Sequence[str], incomplete: str, names_of: NamesOf) -> list[str]:
    """Candidates for the next resource argument after previous ones (kubectl-style)."""
    if "/" in incomplete:
        resource_type, _, prefix = incomplete.partition("/")
        kind = _kind(resource_type)
        if kind is None or kind == ALL:
            return []
        return [f"{resource_type}/{n}" for n in names_of(kind) if n.startswith(prefix)]
    if not previous:
        return [t for t in (*CANONICAL_KINDS, ALL) if t.startswith(incomplete.lower())]
    kind = _kind(previous[0])
    if kind is None or kind == ALL or "/" in previous[0]:
        return []
    given = set(previous[1:])
    return [n for n in names_of(kind) if n.startswith(incomplete) and n not in given]


def _kind(resource_type: str) -> str | None:
    try:
        return canonical_kind(resource_type)
    except ResourceError:
        return None


def clickhouse_names(url: str, namespace: str | None) -> NamesOf:
    """Names from the query layer; nothing at all when ClickHouse cannot answer (no noise)."""

    def names_of(kind: str) -> list[str]:
        quiet_library_logs("clickhouse_driver")
        try:
            parsed = parse_url(url)
            with NativeClient(parsed, timeout_s=2.0) as client:
                return sorted(query.resource_names(client, parsed.database, kind, namespace))
        except (ClickHouseError, UrlError, NotImplementedError, OSError, EOFError):
            return []

    return names_of


def _names_for(ctx: click.Context) -> NamesOf:
    params = ctx.params
    namespace = None if params.get("all_namespaces") else params.get("namespace") or "default"
    url = params.get("clickhouse_url") or os.environ.get(CLICKHOUSE_ENV, DEFAULT_CLICKHOUSE_URL)
    return clickhouse_names(str(url), namespace)


def complete_resources(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """click shell_complete callback for the RESOURCES argument."""
    previous = tuple(ctx.params.get("resources") or ())
    return [CompletionItem(c) for c in resource_completions(previous, incomplete, _names_for(ctx))]


def complete_resource(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """click shell_complete callback for one TYPE/NAME option such as --from or --to."""
    return [CompletionItem(c) for c in resource_completions((), incomplete, _names_for(ctx))]
