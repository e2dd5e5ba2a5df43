"""`meshstat edges`: Linkerd's `viz edges` over the edge windows — validate, fetch, render.

Columns as Linkerd's: SRC, DST, SRC_NS, DST_NS, SECURED, and the numbers the issue asks for:
SUCCESS, RPS, LATENCY_P99. meshpipe has no mTLS yet, so SECURED is `no` on every edge; `-o wide`
adds REQUESTS and MSG, which says so. JSON (`-o json`): a list of objects with `src`,
`src_namespace`, `src_kind`, `dst`, `dst_namespace`, `dst_kind`, `secured` (false),
`success` (0..1 or null), `rps`, `latency_ms_p99`, `requests`, `successes`, `start`, `end`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import click

from meshpipe.cli.cluster_flags import clickhouse, pop_access
from meshpipe.cli.stat_env import StatEnv
from meshpipe.cli.stat_flags import clickhouse_url, stored_range
from meshpipe.cli.stat_options import DEFAULT_WINDOW, OUTPUTS, TimeRange, parse_range
from meshpipe.cli.stat_render import NO_DATA, NO_TRAFFIC, format_latency, format_percent
from meshpipe.cli.table import Align, Column, render_table
from meshpipe.cli.terminal import Terminal
from meshpipe.schemas.durations import format_time
from meshpipe.schemas.exits import ExitStatus, UsageError
from meshpipe.schemas.kinds import ALL, WORKLOAD_KINDS
from meshpipe.schemas.resources import ResourceError, canonical_kind
from meshpipe.sinks.edges import EdgeQuery, EdgeRow

_HEADERS = ("SRC", "DST", "SRC_NS", "DST_NS", "SECURED", "SUCCESS", "RPS", "LATENCY_P99")
_WIDE = ("REQUESTS", "MSG")
NOT_SECURED = "no mTLS in meshpipe yet"


@dataclass(frozen=True)
class EdgesPlan:
    """What `meshstat edges` will ask, independent of the clock until query()."""

    kind: str
    namespace: str | None
    range: TimeRange
    output: str

    def query(self, now_s: float) -> EdgeQuery:
        start_s, end_s = self.range.bounds(now_s)
        return EdgeQuery(self.namespace, self.kind, start_s, end_s)


def edges_plan(params: dict[str, object], now_s: float) -> EdgesPlan:
    """The plan of the command's parameters, or UsageError with the reason."""
    resource_type = params["resource_type"]
    try:
        kind = canonical_kind(str(resource_type)) if resource_type else ALL
    except ResourceError as exc:
        raise UsageError(str(exc)) from None
    if (kind != ALL and kind not in WORKLOAD_KINDS) or kind == "pod":
        raise UsageError(f"edges are kept per workload, not per {kind}: try deploy, sts or all")
    if params["since"] and params["time_window"]:
        raise UsageError("--time-window and --since are mutually exclusive")
    time_range = parse_range(
        _text(params["time_window"]), _text(params["since"]), _text(params["until"]), now_s
    )
    namespace = None if params["all_namespaces"] else str(params["namespace"])
    return EdgesPlan(kind, namespace, time_range, str(params["output"]))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def render_edges(
    rows: Sequence[EdgeRow], output: str, terminal: Terminal, mixed_kinds: bool = True
) -> str:
    """Rows as Linkerd's edges table, the wide table, or JSON (empty text for no rows).

    With mixed_kinds a meshed end is `kind/name`, since names of several kinds can repeat.
    """
    if output == "json":
        return json.dumps([edge_json(r) for r in rows], indent=2) + "\n"
    if not rows:
        return ""
    headers = (*_HEADERS, *(_WIDE if output == "wide" else ()))
    left = ("SRC", "DST", "SRC_NS", "DST_NS", "SECURED", "MSG")
    columns = [Column(h, Align.LEFT if h in left else Align.RIGHT) for h in headers]
    return render_table(
        columns, [_cells(r, output, mixed_kinds) for r in rows], style_header=terminal.bold
    )


def _cells(row: EdgeRow, output: str, mixed_kinds: bool) -> list[str]:
    cells = [
        _end(row.src_kind, row.src, mixed_kinds),
        _end(row.dst_kind, row.dst, mixed_kinds),
        row.src_namespace or NO_DATA,
        row.dst_namespace or NO_DATA,
        "no",
        format_percent(row.success),
        f"{row.rps:.1f}rps" if row.requests else NO_DATA,
        format_latency(row.latency_ms_p99),
    ]
    if output == "wide":
        cells += [str(row.requests), NOT_SECURED]
    return cells


def _end(kind: str, name: str, mixed_kinds: bool) -> str:
    return f"{kind}/{name}" if mixed_kinds and kind else name


def edge_json(row: EdgeRow) -> dict[str, object]:
    """One row under the documented JSON field names."""
    return {
        "src": row.src,
        "src_namespace": row.src_namespace,
        "src_kind": row.src_kind,
        "dst": row.dst,
        "dst_namespace": row.dst_namespace,
        "dst_kind": row.dst_kind,
        "secured": False,
        "success": row.success,
        "rps": row.rps,
        "latency_ms_p99": row.latency_ms_p99,
        "requests": row.requests,
        "successes": row.successes,
        "start": format_time(row.start_s),
        "end": format_time(row.end_s),
    }


@click.command("edges", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("resource_type", required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-A", "--all-namespaces", is_flag=True, help="Edges in every namespace.")
@click.option("-t", "--time-window", help=f"Up to now (or --until), e.g. 1h [{DEFAULT_WINDOW}].")
@stored_range
@click.option("-o", "--output", type=click.Choice(OUTPUTS), default="table", show_default=True)
@clickhouse_url
@click.pass_context
def edges_command(ctx: click.Context, /, **_flags: object) -> ExitStatus:
    """Every edge touching a namespace, with success rate, RPS and p99 (Linkerd's `edges`).

    RESOURCE_TYPE (deploy, sts, ...; default all workloads) limits the meshed ends; unmeshed
    peers show as their address. Each request counts once: at the server when it is meshed,
    else at the client. SECURED is `no`: meshpipe has no mTLS yet.
    """
    env = ctx.obj if isinstance(ctx.obj, StatEnv) else StatEnv()
    now_s = env.clock.time()
    params = dict(ctx.params)
    access = pop_access(params)
    plan = edges_plan(params, now_s)
    with clickhouse(access, str(params["clickhouse_url"])) as url:
        rows = env.fetch_edges(url, plan.query(now_s))
    click.echo(
        render_edges(rows, plan.output, env.terminal, plan.kind == ALL),
        nl=False,
        color=env.terminal.color,
    )
    if not rows and plan.output != "json":
        click.echo(NO_TRAFFIC, err=True)
    return ExitStatus.OK
