"""`meshstreams worker` and `migrate`: options or MESHPIPE_* variables in, a worker or a schema."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import click
import faust
import uvloop
from aiokafka.errors import KafkaError

from meshpipe.cli.exit import quiet_library_logs, run_cli
from meshpipe.schemas import clickhouse_codes as codes
from meshpipe.schemas.durations import format_duration
from meshpipe.schemas.exits import CliError, ExitStatus
from meshpipe.schemas.latency import bucket_index
from meshpipe.schemas.rows import MemoryRowSink, RowSink
from meshpipe.schemas.topics import Topics
from meshpipe.sinks.client import (
    ClickHouseClient,
    ClickHouseError,
    ClickHouseUrl,
    NativeClient,
    UrlError,
    parse_url,
)
from meshpipe.sinks.migrations import apply_migrations
from meshpipe.sinks.retention import Retention
from meshpipe.sinks.writer import ClickHouseRowSink
from meshpipe.streams.app import RetentionJob, SinkFactory, build_app
from meshpipe.streams.retention import ClickHouseRetention, RetentionSchedule, keep_retention
from meshpipe.streams.rollups import ClickHouseRollups, keep_rollups
from meshpipe.streams.settings import (
    FLUSH_INTERVAL_S,
    SettingsError,
    WorkerSettings,
    chunk_settings,
    parse_duration_s,
    retention_schedule,
    window_settings,
)

_DEFAULTS = Retention()
ROLLUP_INTERVAL_S = 600.0  # between passes over the closed days' rollups (sinks.rollup)
_FLUSH_DEFAULT = format_duration(FLUSH_INTERVAL_S)
GC_THRESHOLD_GEN0 = 50_000  # allocations between young collections (default 700)


def retention_job(url: str, schedule: RetentionSchedule | None) -> RetentionJob | None:
    """The retention task for a --clickhouse URL, with the daily rollups' (streams.rollups);
    None for memory:// or when switched off."""
    if schedule is None or url.startswith("memory://"):
        return None
    try:
        target = parse_url(url)
    except UrlError as exc:
        raise CliError(str(exc), ExitStatus.USAGE) from exc
    store = ClickHouseRetention(lambda: NativeClient(target), target.database, schedule.days)
    days_back = max(schedule.days.window_days, schedule.days.loss_days)
    rollups = ClickHouseRollups(lambda: NativeClient(target), target.database, days_back)

    async def job() -> None:
        await asyncio.gather(
            keep_retention(store, schedule, time.time),
            keep_rollups(rollups, ROLLUP_INTERVAL_S, time.time),
        )

    return job


def sink_factory(url: str) -> SinkFactory:
    """Opens the RowSink for a --clickhouse URL (`memory://` keeps rows in memory: dry runs)."""
    if url.startswith("memory://"):

        @asynccontextmanager
        async def memory() -> AsyncIterator[RowSink]:
            yield MemoryRowSink()

        return memory
    try:
        target = parse_url(url)
    except UrlError as exc:
        raise CliError(str(exc), ExitStatus.USAGE) from exc

    def connect() -> ClickHouseClient:
        return NativeClient(target)

    @asynccontextmanager
    async def clickhouse() -> AsyncIterator[RowSink]:
        async with ClickHouseRowSink(connect, target.database) as sink:
            yield sink

    return clickhouse


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": ""})
def meshstreams() -> None:
    """Stream processing: edge windows, raw requests, loss accounting, tap matching."""


@meshstreams.command()
@click.option(
    "--kafka", envvar="MESHPIPE_KAFKA", required=True, help="Kafka bootstrap [env MESHPIPE_KAFKA]"
)
@click.option(
    "--clickhouse",
    envvar="MESHPIPE_CLICKHOUSE",
    required=True,
    help="clickhouse://USER[:PASS]@HOST:PORT/DB [env MESHPIPE_CLICKHOUSE]",
)
@click.option(
    "--window", envvar="MESHPIPE_WINDOW", default="10s", show_default=True, help="window length"
)
@click.option(
    "--chunk-records",
    envvar="MESHPIPE_CHUNK_RECORDS",
    type=int,
    default=20_000,
    show_default=True,
    help="records per partition between commit points (the most a crash replays)",
)
@click.option(
    "--chunk-age",
    envvar="MESHPIPE_CHUNK_AGE",
    default="30s",
    show_default=True,
    help="Kafka-time span between commit points",
)
@click.option(
    "--flush-interval",
    envvar="MESHPIPE_FLUSH_INTERVAL",
    default=_FLUSH_DEFAULT,
    show_default=True,
    help="time between writes to ClickHouse: events become visible to meshstat within about"
    " this long (shorter: fresher stats, more inserts)",
)
@click.option("--web-port", envvar="MESHPIPE_WEB_PORT", type=int, default=6066, show_default=True)
@click.option(
    "--web-bind",
    envvar="MESHPIPE_WEB_BIND",
    default="127.0.0.1",
    show_default=True,
    help="address of /health, /ready and /live (0.0.0.0 in a pod, for kubelet probes)",
)
@click.option(
    "--topic-prefix", envvar="MESHPIPE_TOPIC_PREFIX", default="", help="prefix of topic names"
)
@click.option("--group", envvar="MESHPIPE_GROUP", default="meshstreams", show_default=True)
@click.option(
    "--session-timeout",
    envvar="MESHPIPE_SESSION_TIMEOUT",
    default="10s",
    show_default=True,
    help="how long a silent worker keeps its partitions (failover time after a crash)",
)
@click.option(
    "--metadata-max-age",
    envvar="MESHPIPE_METADATA_MAX_AGE",
    default="30s",
    show_default=True,
    help="how often the worker refreshes Kafka's metadata: partitions added to the requests "
    "topic are consumed within this long",
)
@click.option(
    "--data-dir",
    envvar="MESHPIPE_STREAMS_DATA_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Faust's working files [env MESHPIPE_STREAMS_DATA_DIR;"
    " default: ~/.local/share/meshpipe/streams/GROUP]",
)
@click.option(
    "--retention-windows-days",
    envvar="MESHPIPE_RETENTION_WINDOWS_DAYS",
    type=int,
    default=_DEFAULTS.window_days,
    show_default=True,
    help="days edge_windows keeps its rows",
)
@click.option(
    "--retention-requests-days",
    envvar="MESHPIPE_RETENTION_REQUESTS_DAYS",
    type=int,
    default=_DEFAULTS.request_days,
    show_default=True,
    help="days requests keeps its rows",
)
@click.option(
    "--retention-losses-days",
    envvar="MESHPIPE_RETENTION_LOSSES_DAYS",
    type=int,
    default=_DEFAULTS.loss_days,
    show_default=True,
    help="days proxy_losses keeps its rows",
)
@click.option(
    "--retention-interval",
    envvar="MESHPIPE_RETENTION_INTERVAL",
    default="1h",
    show_default=True,
    help="time between day-partition drops on servers without TTL; 0 = this worker keeps no"
    " retention and computes no daily rollups",
)
def worker(
    kafka: str,
    clickhouse: str,
    window: str,
    chunk_records: int,
    chunk_age: str,
    flush_interval: str,
    web_port: int,
    web_bind: str,
    topic_prefix: str,
    group: str,
    session_timeout: str,
    metadata_max_age: str,
    data_dir: Path | None,
    retention_windows_days: int,
    retention_requests_days: int,
    retention_losses_days: int,
    retention_interval: str,
) -> None:
    """Run one worker; more workers with the same options share the partitions."""
    try:
        settings = WorkerSettings(
            kafka=kafka,
            clickhouse=clickhouse,
            windows=window_settings(window),
            chunks=chunk_settings(chunk_records, chunk_age),
            flush_interval_s=parse_duration_s(flush_interval),
            web_port=web_port,
            web_bind=web_bind,
            group=group,
            topics=Topics(topic_prefix),
            data_dir=data_dir,
            session_timeout_s=parse_duration_s(session_timeout),
            metadata_max_age_s=parse_duration_s(metadata_max_age),
            retention=retention_schedule(
                retention_windows_days,
                retention_requests_days,
                retention_losses_days,
                retention_interval,
            ),
        )
    except SettingsError as exc:
        raise CliError(str(exc), ExitStatus.USAGE) from exc
    try:
        settings.faust_data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create data directory: {exc}", ExitStatus.ERROR) from exc
    # uvloop: Faust runs several event-loop turns and tasks per record, far cheaper on uvloop.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # Every record allocates dozens of objects and up to max_pending_rows raw rows stay alive
    # until a flush: default thresholds rescan that heap constantly. Collect far less often.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_GEN0)
    app = build_app(
        settings,
        sink_factory(settings.clickhouse),
        bucket_index,
        retention_job(settings.clickhouse, settings.retention),
    )
    faust.Worker(app, loglevel="info").execute_from_commandline()


def migrate_schema(target: ClickHouseUrl) -> list[int]:
    """Apply pending migrations to target's database, creating it if missing; versions applied.

    The session opens without a database (the server's default), so a missing one is no error;
    every statement names the database itself.
    """
    try:
        with NativeClient(replace(target, database="")) as client:
            return apply_migrations(client, target.database)
    except ClickHouseError as exc:
        status = ExitStatus.UNAVAILABLE if exc.code in codes.UNREACHABLE else ExitStatus.ERROR
        raise CliError(f"cannot migrate {target.render()}: {exc}", status) from exc


@meshstreams.command()
@click.option(
    "--clickhouse",
    envvar="MESHPIPE_CLICKHOUSE",
    required=True,
    help="clickhouse://USER[:PASS]@HOST:PORT/DB [env MESHPIPE_CLICKHOUSE]",
)
def migrate(clickhouse: str) -> None:
    """Create the database if missing and apply pending schema migrations (what `meshctl dev
    up` does locally; the meshstreams init container in Kubernetes). Safe to run again."""
    try:
        target = parse_url(clickhouse)
    except UrlError as exc:
        raise CliError(str(exc), ExitStatus.USAGE) from exc
    quiet_library_logs("clickhouse_driver")  # a failed connect is reported in one line
    applied = migrate_schema(target)
    done = f"{len(applied)} migrations applied ({', '.join(map(str, applied))})"
    click.echo(f"schema {target.render()}: {done if applied else 'up to date'}")


@meshstreams.command()
@click.option(
    "--kafka", envvar="MESHPIPE_KAFKA", required=True, help="Kafka bootstrap [env MESHPIPE_KAFKA]"
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="seconds to wait for the broker",
)
def topics(kafka: str, timeout_s: float) -> None:
    """Create the topics of deploy/kafka/topics.yaml that the broker lacks (the install's topic
    Job where no Strimzi operator runs). Safe to run again."""
    from meshpipe.deploy.kafka.topics import ensure_topics, load_spec  # pyyaml, aiokafka admin

    quiet_library_logs("aiokafka")
    try:
        created = asyncio.run(ensure_topics(kafka, load_spec(), timeout_s=timeout_s))
    except (KafkaError, OSError) as exc:
        raise CliError(f"cannot create topics on {kafka}: {exc}", ExitStatus.UNAVAILABLE) from exc
    click.echo(f"topics on {kafka}: {', '.join(created) if created else 'all present'}")


def main() -> NoReturn:
    run_cli("meshstreams", meshstreams)
