"""`meshstat`: Linkerd's `stat` over ClickHouse — validate, fetch, aggregate, render."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import click

from meshpipe.cli.completion import (
    CLICKHOUSE_ENV,
    DEFAULT_CLICKHOUSE_URL,
    complete_resource,
    complete_resources,
)
from meshpipe.cli.exit import quiet_library_logs, run_cli
from meshpipe.cli.stat_options import DEFAULT_WINDOW, OUTPUTS, StatOptions, StatPlan
from meshpipe.cli.stat_render import NO_TRAFFIC, StatView, aggregate, render
from meshpipe.cli.terminal import CLEAR_SCREEN, Terminal
from meshpipe.schemas import clickhouse_codes as codes
from meshpipe.schemas.clock import Clock, SystemClock
from meshpipe.schemas.exits import CliError, ExitStatus, UsageError
from meshpipe.sinks import query
from meshpipe.sinks.client import ClickHouseError, ClickHouseUrl, NativeClient, UrlError, parse_url
from meshpipe.sinks.query import StatQuery, StatRow

WATCH_INTERVAL_S = 2.0

Fetch = Callable[[ClickHouseUrl, Sequence[StatQuery]], list[list[StatRow]]]


def fetch_clickhouse(url: ClickHouseUrl, queries: Sequence[StatQuery]) -> list[list[StatRow]]:
    """Run each query on the server at url; ClickHouse failures become one-line CliErrors."""
    quiet_library_logs("clickhouse_driver")
    try:
        with NativeClient(url, timeout_s=30.0) as client:
            return [query.stat(client, url.database, q) for q in queries]
    except ClickHouseError as exc:
        raise clickhouse_failure(exc, url) from None
    except query.QueryError as exc:  # a question the query layer cannot answer as asked
        raise CliError(str(exc), ExitStatus.USAGE) from None


def clickhouse_failure(exc: ClickHouseError, url: ClickHouseUrl) -> CliError:
    """The one line and exit status for a ClickHouse failure."""
    detail = str(exc).removeprefix(f"cannot reach ClickHouse at {url.render()}: ")
    if exc.code in codes.UNREACHABLE:
        return CliError(
            f"cannot reach ClickHouse at {url.render()}: {detail}", ExitStatus.UNAVAILABLE
        )
    if exc.code in codes.NO_SCHEMA:
        return CliError(
            f"ClickHouse at {url.render()} has no meshpipe schema ({detail}); "
            "run `meshctl dev up` or check --clickhouse",
            ExitStatus.UNAVAILABLE,
        )
    if exc.code in codes.OLD_SCHEMA:
        return CliError(
            f"ClickHouse at {url.render()} has an older meshpipe schema ({detail}); "
            f"run `meshstreams migrate --clickhouse {url.render()}` with a writing user",
            ExitStatus.UNAVAILABLE,
        )
    return CliError(f"ClickHouse at {url.render()}: {detail}", ExitStatus.ERROR)


@dataclass(frozen=True)
class StatEnv:
    """What meshstat needs from the outside world; tests pass their own as the click obj."""

    terminal: Terminal = field(default_factory=Terminal.detect)
    clock: Clock = field(default_factory=SystemClock)
    fetch: Fetch = fetch_clickhouse
    watch_refreshes: int | None = None  # None: until interrupted


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


@click.command("meshstat", context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--since", help="Start of a stored range: a duration ago (2h) or an RFC 3339 time.")
@click.option("--until", help="End of a stored range: a duration ago or an RFC 3339 time [now].")
@click.option("-o", "--output", type=click.Choice(OUTPUTS), default="table", show_default=True)
@click.option("--unmeshed", is_flag=True, help="Include unmeshed resources.")
@click.option("--watch", is_flag=True, help=f"Refresh every {WATCH_INTERVAL_S:g}s until Ctrl-C.")
@click.option(
    "--clickhouse",
    "clickhouse_url",
    envvar=CLICKHOUSE_ENV,
    show_envvar=True,
    default=DEFAULT_CLICKHOUSE_URL,
    show_default=True,
    help="ClickHouse native URL: clickhouse://USER[:PASS]@HOST[:PORT]/DB.",
)
@click.pass_context
def meshstat(ctx: click.Context, /, **_flags: object) -> ExitStatus:
    """Success rate, request rate, latency and connections per resource (Linkerd's `stat`).

    RESOURCES is TYPE, TYPE NAME..., TYPE/NAME... or all; types: deploy, sts, ds, rs, rc, job,
    cronjob, po, ns, svc. Without --from/--to the numbers are the server side (inbound).

    \b
    Exit codes: 0 ok (also when no traffic was found), 1 unexpected error,
    2 usage, 4 ClickHouse unreachable, 130 interrupted.
    """
    env = ctx.obj if isinstance(ctx.obj, StatEnv) else StatEnv()
    params = dict(ctx.params)
    clickhouse_url = str(params.pop("clickhouse_url"))
    params["resources"] = tuple(params["resources"])
    options = StatOptions(**params)
    plan = options.validate(env.clock.time())
    try:
        url = parse_url(clickhouse_url)
    except UrlError as exc:
        raise UsageError(str(exc)) from None
    if options.watch:
        watch(plan, url, env)
    else:
        show(*run_once(plan, url, env), env.terminal)
    return ExitStatus.OK


def main() -> NoReturn:
    run_cli("meshstat", meshstat)
