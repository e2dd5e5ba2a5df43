"""`meshctl top`: Linkerd's `viz top` over a tap session — a live table of the busiest routes of
a resource, redrawn on a terminal; printed once at the end (--count, --duration) otherwise."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import click

from meshpipe.cli.cluster_flags import cluster_flags, kafka, pop_access
from meshpipe.cli.meshtap import run_on_kafka
from meshpipe.cli.stat_render import NO_TRAFFIC
from meshpipe.cli.tap_flags import kafka_flags, tap_selection
from meshpipe.cli.tap_options import TapOptions, TapPlan
from meshpipe.cli.tapclient import KafkaSettings, LiveTap, TapSource, new_session
from meshpipe.cli.terminal import CLEAR_SCREEN, Terminal
from meshpipe.cli.top_table import TopTable
from meshpipe.deploy.kafka.topics import TopicSet, load_spec
from meshpipe.schemas.exits import ExitStatus, UsageError
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

POLL_S = 0.2
REDRAW_S = 1.0  # how often a terminal's table is redrawn

OpenTap = Callable[[KafkaSettings, meshpipe_pb2.TapSession], AbstractAsyncContextManager[TapSource]]


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class TopEnv:
    """What `meshctl top` needs from the outside world; tests pass their own as the click obj."""

    terminal: Terminal = field(default_factory=Terminal.detect)
    topics: TopicSet = field(default_factory=load_spec)
    open_tap: OpenTap = LiveTap
    wall_clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    session_id: Callable[[], str] = _new_id


@dataclass(frozen=True)
class TopPlan:
    """The tap to open, and when to stop (None: until interrupted)."""

    tap: TapPlan
    namespace_tap: str | None  # many resources tapped: their namespace ("" for all)


def _many(resource: meshpipe_pb2.ResourceRef) -> str | None:
    """The namespace ("" for all) when the tap selects many resources, else None."""
    if resource.kind == "namespace":
        return resource.name
    return None if resource.name else resource.namespace


def _draw(table: TopTable) -> None:
    click.echo(CLEAR_SCREEN, nl=False, color=True)
    click.echo(table.render() or "(waiting for requests)\n", nl=False)


async def top(plan: TopPlan, settings: KafkaSettings, env: TopEnv) -> TopTable:
    """Fold the session's matches into a table until --count or --duration; the table."""
    tap = plan.tap
    table = TopTable(namespace_tap=plan.namespace_tap)
    session = new_session(env.session_id(), tap.tap_filter, tap.max_rps, env.wall_clock())
    started = drawn = env.monotonic()
    counted = 0
    async with env.open_tap(settings, session) as source:
        while tap.count is None or counted < tap.count:
            elapsed = env.monotonic() - started
            if tap.duration_s is not None and elapsed >= tap.duration_s:
                break
            events = await source.poll(POLL_S)
            if events is None:
                break
            for event in events:
                if tap.count is not None and counted >= tap.count:
                    break
                counted += table.add(event)
            if env.terminal.is_tty and env.monotonic() - drawn >= REDRAW_S:
                drawn = env.monotonic()
                _draw(table)
    return table


@click.command("top", context_settings={"help_option_names": ["-h", "--help"]})
@tap_selection
@click.option("--count", type=int, help="Stop after this many requests and print the table.")
@click.option("--duration", help="Stop after this long (e.g. 30s) and print the table.")
@kafka_flags
@cluster_flags
@click.pass_context
def top_command(ctx: click.Context, /, **_flags: object) -> ExitStatus:
    """Show the busiest routes of a resource from live tap (Linkerd's `viz top`).

    RESOURCE as in meshtap (deploy/web, ns/emojivoto, ...). Paths are shown as route templates
    (`/users/{id}`), gRPC methods as they are. On a terminal the table is redrawn every second
    until Ctrl-C; otherwise give --count or --duration and the table is printed once at the end.
    --kubeconfig/--context tap an installed control plane through the cluster's API server.

    \b
    Exit codes: 0 ok, 1 unexpected error, 2 usage, 4 Kafka unreachable, 130 interrupted.
    """
    env = ctx.obj if isinstance(ctx.obj, TopEnv) else TopEnv()
    params = dict(ctx.params)
    bootstrap = str(params.pop("bootstrap"))
    prefix = str(params.pop("topic_prefix"))
    access = pop_access(params)
    params["resources"] = tuple(params["resources"])
    if not env.terminal.is_tty and params["count"] is None and params["duration"] is None:
        raise UsageError("not a terminal: give --count or --duration to print the table once")
    tap_plan = TapOptions(**params).validate(env.wall_clock())
    namespace_tap = _many(tap_plan.tap_filter.resource)
    result: list[TopTable] = []
    with kafka(access, bootstrap) as reachable:
        settings = KafkaSettings(
            bootstrap=reachable, topics=env.topics.with_prefix(prefix) if prefix else env.topics
        )

        async def work() -> None:
            result.append(await top(TopPlan(tap_plan, namespace_tap), settings, env))

        run_on_kafka(work(), bootstrap)
    text = result[0].render() if result else ""
    if env.terminal.is_tty:
        click.echo(CLEAR_SCREEN, nl=False, color=True)
    click.echo(text, nl=False)
    if not text:
        click.echo(NO_TRAFFIC, err=True)
    return ExitStatus.OK
