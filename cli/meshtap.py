"""`meshtap`: Linkerd's `tap` over Kafka — live matches of a tap session, or a replay (--since)."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import NoReturn

import click
from aiokafka.errors import KafkaConnectionError, KafkaError

from meshpipe.cli.cluster_flags import cluster_flags, kafka, pop_access
from meshpipe.cli.exit import quiet_library_logs, run_cli
from meshpipe.cli.tap_flags import kafka_flags, tap_selection
from meshpipe.cli.tap_options import TapOptions, TapPlan
from meshpipe.cli.tap_run import TapRun
from meshpipe.cli.tapclient import (
    KafkaSettings,
    LiveTap,
    ReplayTap,
    TapSource,
    TapSourceError,
    new_session,
)
from meshpipe.cli.terminal import Terminal
from meshpipe.deploy.kafka.topics import TopicSet, load_spec
from meshpipe.schemas.exits import CliError, ExitStatus

POLL_S = 0.2  # longest wait for Kafka between checks of --duration and silence


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class TapEnv:
    """What meshtap needs from the outside world; tests pass their own as the click obj."""

    terminal: Terminal = field(default_factory=Terminal.detect)
    topics: TopicSet = field(default_factory=load_spec)
    wall_clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    session_id: Callable[[], str] = _new_id
    session_ttl_s: float = 30.0
    renew_every_s: float = 10.0


async def pump(
    source: TapSource, run: TapRun, monotonic: Callable[[], float], say: Callable[[str, bool], None]
) -> None:
    """Poll the source, printing lines (say(line, False)) and notices (say(note, True)) until
    --count/--duration are met or a replay is exhausted."""
    while not run.done(monotonic()):
        remaining = run.remaining_s(monotonic())
        events = await source.poll(POLL_S if remaining is None else min(POLL_S, remaining))
        if events is None:
            return
        for event in events:
            for line in run.on_event(event, monotonic()):
                say(line, False)
        notice = run.idle_notice(monotonic())
        if notice is not None:
            say(notice, True)


async def tap(plan: TapPlan, settings: KafkaSettings, env: TapEnv) -> None:
    """Run one tap (live or replay) to its end."""
    run = TapRun(plan, env.monotonic(), env.terminal)

    def say(text: str, notice: bool) -> None:
        click.echo(text, err=notice, color=env.terminal.color)

    if plan.since_s is not None:
        async with ReplayTap(settings, plan.tap_filter, plan.since_s) as replay:
            await pump(replay, run, env.monotonic, say)
        return
    session = new_session(env.session_id(), plan.tap_filter, plan.max_rps, env.wall_clock())
    async with LiveTap(settings, session, env.wall_clock) as live:
        await pump(live, run, env.monotonic, say)


class _Terminated(Exception):
    """SIGTERM ended the tap (after its session was tombstoned)."""


async def _until_terminated(work: Coroutine[object, object, None]) -> None:
    """Run work; SIGTERM cancels it as Ctrl-C does, so the session is still tombstoned."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # Ctrl-C: asyncio.run cancelled us, it reports the interrupt
        raise _Terminated from None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def run_tap(plan: TapPlan, settings: KafkaSettings, env: TapEnv) -> None:
    """tap() on a fresh event loop, with Kafka failures and SIGTERM as one-line CliErrors."""
    run_on_kafka(tap(plan, settings, env), settings.bootstrap)


def run_on_kafka(work: Coroutine[object, object, None], bootstrap: str) -> None:
    """work on a fresh event loop (meshtap, meshctl top), with Kafka failures and SIGTERM as
    one-line CliErrors."""
    quiet_library_logs("aiokafka")
    try:
        asyncio.run(_until_terminated(work))
    except _Terminated:
        raise CliError("terminated", ExitStatus.INTERRUPTED) from None
    except KafkaConnectionError:
        raise CliError(f"cannot reach Kafka at {bootstrap}", ExitStatus.UNAVAILABLE) from None
    except KafkaError as exc:
        raise CliError(
            f"Kafka at {bootstrap}: {type(exc).__name__}: {exc}", ExitStatus.UNAVAILABLE
        ) from None
    except TapSourceError as exc:
        raise CliError(f"{exc} at {bootstrap}", ExitStatus.UNAVAILABLE) from None


@click.command("meshtap", context_settings={"help_option_names": ["-h", "--help"]})
@tap_selection
@click.option("-o", "--output", type=click.Choice(["wide", "json"]), help="wide or json.")
@click.option(
    "--status",
    multiple=True,
    help="Only these HTTP statuses: 500, 5xx, 5+, 429+ (repeatable or a comma list).",
)
@click.option(
    "--grpc-status",
    multiple=True,
    help="Only calls that ended with these gRPC statuses, by name (any case) or number:"
    " Internal, 13 (repeatable or a comma list).",
)
@click.option(
    "--failed",
    is_flag=True,
    help="Only requests Linkerd counts as failed: HTTP 5xx; gRPC Unknown, DeadlineExceeded,"
    " PermissionDenied, Internal, Unavailable, DataLoss or no status; resets; proxy errors.",
)
@click.option("--since", help="Replay stored requests from a duration ago (10m) or a time.")
@click.option("--count", type=int, help="Stop after this many requests.")
@click.option("--duration", help="Stop after this long, e.g. 30s.")
@kafka_flags
@cluster_flags
@click.pass_context
def meshtap(ctx: click.Context, /, **_flags: object) -> ExitStatus:
    """Watch live requests of a resource as they end (Linkerd's `tap`), or replay stored ones.

    RESOURCE is TYPE/NAME, TYPE NAME or TYPE (deploy, sts, ds, rs, rc, job, cronjob, po, ns,
    svc, all). Tapping R shows R's inbound requests and R's outbound ones (--to: only those).

    Every flag given narrows the selection: a request must match each of --status,
    --grpc-status and --failed that is given (AND), and any one value of a repeated or
    comma-separated flag (OR). Statuses are selected where the requests are matched (by the
    workers before --max-rps is spent, or in the --since replay), so rare failures among many
    successes still show.

    \b
    Exit codes: 0 ok, 1 unexpected error, 2 usage, 4 Kafka unreachable, 130 interrupted.
    """
    env = ctx.obj if isinstance(ctx.obj, TapEnv) else TapEnv()
    params = dict(ctx.params)
    bootstrap = str(params.pop("bootstrap"))
    prefix = str(params.pop("topic_prefix"))
    access = pop_access(params)
    params["resources"] = tuple(params["resources"])
    params["status"] = tuple(params["status"])
    params["grpc_status"] = tuple(params["grpc_status"])
    plan = TapOptions(**params).validate(env.wall_clock())
    with kafka(access, bootstrap) as reachable:
        settings = KafkaSettings(
            bootstrap=reachable,
            topics=env.topics.with_prefix(prefix) if prefix else env.topics,
            session_ttl_s=env.session_ttl_s,
            renew_every_s=env.renew_every_s,
        )
        run_tap(plan, settings, env)
    return ExitStatus.OK


def main() -> NoReturn:
    run_cli("meshtap", meshtap)
