"""`meshstat routes`: Linkerd's `viz routes` over the raw requests — validate, fetch, render.

Routes are found from the requests themselves (`schemas.routes`), no ServiceProfile needed.
Columns as Linkerd's: ROUTE, SERVICE, SUCCESS, RPS, LATENCY_P50/P95/P99; `-o wide` adds
REQUESTS and FAILURES (Linkerd's EFFECTIVE_/ACTUAL_ columns differ only with retries, which
meshpipe does not make). JSON (`-o json`): a list of objects with `route`, `service`,
`success` (0..1 or null), `rps`, `latency_ms_p50`, `latency_ms_p95`, `latency_ms_p99`,
`requests`, `successes`, `failures`, `start`, `end` (RFC 3339, UTC).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import click

from meshpipe.cli.cluster_flags import clickhouse, pop_access
from meshpipe.cli.completion import complete_resource
from meshpipe.cli.stat_env import StatEnv
from meshpipe.cli.stat_flags import clickhouse_url, stored_range
from meshpipe.cli.stat_options import DEFAULT_WINDOW, OUTPUTS, TimeRange, parse_range
from meshpipe.cli.stat_render import NO_DATA, NO_TRAFFIC, format_latency, format_percent
from meshpipe.cli.table import Align, Column, render_table
from meshpipe.cli.terminal import Terminal
from meshpipe.schemas.durations import format_time
from meshpipe.schemas.exits import ExitStatus, UsageError
from meshpipe.schemas.kinds import ALL
from meshpipe.schemas.resources import ResourceError, parse_resource, parse_resources
from meshpipe.sinks.query import EdgeMode, Peer, Selection
from meshpipe.sinks.routes import RouteQuery, RouteRow

_HEADERS = ("ROUTE", "SERVICE", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99")
_WIDE = ("REQUESTS", "FAILURES")


@dataclass(frozen=True)
class RoutesPlan:
    """What `meshstat routes` will ask, independent of the clock until query()."""

    selection: Selection
    target: Peer | None
    range: TimeRange
    output: str

    def query(self, now_s: float) -> RouteQuery:
        start_s, end_s = self.range.bounds(now_s)
        mode = EdgeMode.SERVER if self.target is None else EdgeMode.TO
        return RouteQuery(self.selection, mode, self.target, start_s, end_s)


@dataclass(frozen=True)
class RoutesOptions:
    """Everything `meshstat routes` was given, as text; validate() makes the plan."""

    resource: tuple[str, ...]
    namespace: str = "default"
    to_resource: str | None = None
    to_namespace: str | None = None
    time_window: str | None = None
    since: str | None = None
    until: str | None = None
    output: str = "table"

    def validate(self, now_s: float) -> RoutesPlan:
        if self.to_namespace and not self.to_resource:
            raise UsageError("--to-namespace requires --to")
        if self.since and self.time_window:
            raise UsageError("--time-window and --since are mutually exclusive")
        try:
            selections = parse_resources(self.resource)
            target = parse_resource(self.to_resource) if self.to_resource else None
        except ResourceError as exc:
            raise UsageError(str(exc)) from None
        one = selections[0] if len(selections) == 1 else None
        if one is None or one.kind == ALL or len(one.names) != 1:
            raise UsageError("routes want one resource as TYPE/NAME, e.g. deploy/web")
        namespace = None if one.kind == "namespace" else self.namespace
        peer = None
        if target is not None:
            if target.kind == ALL or len(target.names) != 1:
                raise UsageError("--to wants one resource as TYPE/NAME, e.g. deploy/web")
            ns = None if target.kind == "namespace" else (self.to_namespace or self.namespace)
            peer = Peer(target.kind, target.names[0], ns)
        return RoutesPlan(
            Selection(one.kind, one.names, namespace),
            peer,
            parse_range(self.time_window, self.since, self.until, now_s),
            self.output,
        )


def render_routes(rows: Sequence[RouteRow], output: str, terminal: Terminal) -> str:
    """Rows as Linkerd's routes table, the wide table, or JSON (empty text for no rows)."""
    if output == "json":
        return json.dumps([route_json(r) for r in rows], indent=2) + "\n"
    if not rows:
        return ""
    headers = (*_HEADERS, *(_WIDE if output == "wide" else ()))
    columns = [Column(h, Align.LEFT if h == "ROUTE" else Align.RIGHT) for h in headers]
    return render_table(columns, [_cells(r, output) for r in rows], style_header=terminal.bold)


def _cells(row: RouteRow, output: str) -> list[str]:
    cells = [
        row.route,
        row.service,
        format_percent(row.success),
        f"{row.rps:.1f}rps" if row.requests else NO_DATA,
        format_latency(row.latency_ms_p50),
        format_latency(row.latency_ms_p95),
        format_latency(row.latency_ms_p99),
    ]
    if output == "wide":
        cells += [str(row.requests), str(row.failures)]
    return cells


def route_json(row: RouteRow) -> dict[str, object]:
    """One row under the documented JSON field names."""
    return {
        "route": row.route,
        "service": row.service,
        "success": row.success,
        "rps": row.rps,
        "latency_ms_p50": row.latency_ms_p50,
        "latency_ms_p95": row.latency_ms_p95,
        "latency_ms_p99": row.latency_ms_p99,
        "requests": row.requests,
        "successes": row.successes,
        "failures": row.failures,
        "start": format_time(row.start_s),
        "end": format_time(row.end_s),
    }


@click.command("routes", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("resource", nargs=-1, required=True, shell_complete=complete_resource)
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option(
    "--to",
    "to_resource",
    shell_complete=complete_resource,
    help="The resource's calls to this one (TYPE/NAME), as its own proxy saw them.",
)
@click.option("--to-namespace", help="Namespace of --to [--namespace].")
@click.option("-t", "--time-window", help=f"Up to now (or --until), e.g. 1h [{DEFAULT_WINDOW}].")
@stored_range
@click.option("-o", "--output", type=click.Choice(OUTPUTS), default="table", show_default=True)
@clickhouse_url
@click.pass_context
def routes_command(ctx: click.Context, /, **_flags: object) -> ExitStatus:
    """Per-route success rate, request rate and latency of one resource (Linkerd's `routes`).

    RESOURCE is TYPE/NAME (or TYPE NAME). Routes are found automatically: gRPC methods as they
    are, HTTP paths as templates (`GET /users/{id}/orders`), at most 100 per table (the rest
    as `[overflow]`). Without --to: requests the resource served; with --to: its calls to that
    resource. Read from the raw requests (7 days of retention by default).
    """
    env = ctx.obj if isinstance(ctx.obj, StatEnv) else StatEnv()
    params = dict(ctx.params)
    clickhouse_url = str(params.pop("clickhouse_url"))
    access = pop_access(params)
    params["resource"] = tuple(params["resource"])
    now_s = env.clock.time()
    plan = RoutesOptions(**params).validate(now_s)
    with clickhouse(access, clickhouse_url) as url:
        rows = env.fetch_routes(url, plan.query(now_s))
    click.echo(render_routes(rows, plan.output, env.terminal), nl=False, color=env.terminal.color)
    if not rows and plan.output != "json":
        click.echo(NO_TRAFFIC, err=True)
    return ExitStatus.OK
