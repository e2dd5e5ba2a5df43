"""`meshstat`: Linkerd's `stat` over ClickHouse — validate, fetch, aggregate, render."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from meshpipe.cli.cluster_flags import clickhouse, pop_access
from meshpipe.cli.completion import (
    complete_resource,
    complete_resources,
)
from meshpipe.cli.exit import run_cli
from meshpipe.cli.meshstat_edges import edges_command
from meshpipe.cli.meshstat_routes import routes_command
from meshpipe.cli.stat_env import Fetch, StatEnv, clickhouse_failure, fetch_clickhouse
from meshpipe.cli.stat_flags import clickhouse_url, stored_range
from meshpipe.cli.stat_options import DEFAULT_WINDOW, OUTPUTS, StatOptions, StatPlan
from meshpipe.cli.stat_render import NO_TRAFFIC, StatView, aggregate, render
from meshpipe.cli.terminal import CLEAR_SCREEN, Terminal
from meshpipe.schemas.exits import ExitStatus, UsageError
from meshpipe.schemas.kinds import canonical
from meshpipe.sinks.client import ClickHouseUrl

__all__ = ["Fetch", "StatEnv", "clickhouse_failure", "fetch_clickhouse", "meshstat"]

WATCH_INTERVAL_S = 2.0


def run_once(plan: StatPlan, url: ClickHouseUrl, env: StatEnv) -> tuple[str, bool]:
    """Fetch, aggregate and render once: (stdout text, whether any row was found)."""
    rows = aggregate(env.fetch(url, plan.queries(env.clock.time())))
    view = StatView(plan.output, plan.all_namespaces, plan.mixed_kinds)
    return render(rows, view, env.terminal), bool(rows)


def show(text: str, found: bool, terminal: Terminal) -> None:
    click.echo(text, nl=False, color=terminal.color)
    if not found and text == "":
        click.echo(NO_TRAFFIC, err=True)


def watch(plan: StatPlan, url: ClickHouseUrl, env: StatEnv) -> None:
    """Refresh every WATCH_INTERVAL_S: redraw the screen on a TTY, append blocks otherwise."""
    refreshes = 0
    while env.watch_refreshes is None or refreshes < env.watch_refreshes:
        if refreshes:
            env.clock.sleep(WATCH_INTERVAL_S)
        text, found = run_once(plan, url, env)
        if env.terminal.is_tty:
            click.echo(CLEAR_SCREEN, nl=False, color=True)
        elif refreshes:
            click.echo()
        show(text, found, env.terminal)
        refreshes += 1


# The first argument can name a verb instead of a resource type; no kind is spelled like one.
VERBS: dict[str, click.Command] = {"routes": routes_command, "edges": edges_command}


class _Meshstat(click.Command):
    """`meshstat [flags] RESOURCES`, or `meshstat VERB ...` when the first argument is a verb."""

    def main(  # type: ignore[override]  # one signature for click's two overloads
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        verb = VERBS.get(argv[0]) if argv else None
        if verb is None:
            return super().main(argv, prog_name, **extra)
        return verb.main(argv[1:], f"{prog_name or self.name} {verb.name}", **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0].split("/", 1)[0] if args and not args[0].startswith("-") else None
        if first is not None and canonical(first) is None and first.lower() != "all":
            near = difflib.get_close_matches(first, list(VERBS), n=1, cutoff=0.75)
            if near:  # a typo of a verb: say so instead of "unknown resource type"
                raise UsageError(
                    f'unknown resource type or command "{first}";'
                    f" did you mean `meshstat {near[0]}`?"
                )
        return super().parse_args(ctx, args)


@click.command("meshstat", cls=_Meshstat, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("resources", nargs=-1, required=True, shell_complete=complete_resources)
@click.option(
    "-n", "--namespace", default="default", show_default=True, help="Namespace of the resources."
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Resources in every namespace.")
@click.option(
    "-t",
    "--time-window",
    help=f"Stats over this long up to now (or --until), e.g. 10s, 1h30m [{DEFAULT_WINDOW}].",
)
@click.option(
    "--from",
    "from_resource",
    shell_complete=complete_resource,
    help="Only requests from this resource (TYPE/NAME), grouped by destination.",
)
@click.option(
    "--to",
    "to_resource",
    shell_complete=complete_resource,
    help="Only requests to this resource (TYPE/NAME), grouped by caller.",
)
@click.option("--from-namespace", help="Namespace of --from [--namespace].")
@click.option("--to-namespace", help="Namespace of --to [--namespace].")
@stored_range
@click.option("-o", "--output", type=click.Choice(OUTPUTS), default="table", show_default=True)
@click.option("--unmeshed", is_flag=True, help="Include unmeshed resources.")
@click.option("--watch", is_flag=True, help=f"Refresh every {WATCH_INTERVAL_S:g}s until Ctrl-C.")
@clickhouse_url
@click.pass_context
def meshstat(ctx: click.Context, /, **_flags: object) -> ExitStatus:
    """Success rate, request rate, latency and connections per resource (Linkerd's `stat`).

    RESOURCES is TYPE, TYPE NAME..., TYPE/NAME... or all; types: deploy, sts, ds, rs, rc, job,
    cronjob, po, ns, svc. Without --from/--to the numbers are the server side (inbound).

    \b
    Commands (as the first argument):
      meshstat routes TYPE/NAME [--to TYPE/NAME]   per-route stats, routes found automatically
      meshstat edges [TYPE] [-n NS | -A]            every edge with success rate, RPS, p99

    \b
    Exit codes: 0 ok (also when no traffic was found), 1 unexpected error,
    2 usage, 4 ClickHouse unreachable, 130 interrupted.
    """
    env = ctx.obj if isinstance(ctx.obj, StatEnv) else StatEnv()
    params = dict(ctx.params)
    clickhouse_url = str(params.pop("clickhouse_url"))
    access = pop_access(params)
    params["resources"] = tuple(params["resources"])
    options = StatOptions(**params)
    plan = options.validate(env.clock.time())
    with clickhouse(access, clickhouse_url) as url:
        if options.watch:
            watch(plan, url, env)
        else:
            show(*run_once(plan, url, env), env.terminal)
    return ExitStatus.OK


def main() -> NoReturn:
    run_cli("meshstat", meshstat)
