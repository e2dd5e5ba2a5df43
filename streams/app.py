"""The Faust app: agents on the request topic, the flush timer, rebalance hooks and the outputs.

Faust's own offset handling is switched off for the request topic (`acks=False`): Faust then
never commits it, and `Worker.flush` commits through the consumer only what the RowSink has
acknowledged (see streams.chunks for why that makes totals exact). `on_window_close` and Faust
tables are not used at all. Tap sessions are read by every worker outside the consumer group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, cast

import faust
from faust.types import TP

from meshpipe.schemas.rows import RowBatch, RowSink
from meshpipe.schemas.tasks import BackgroundTasks
from meshpipe.streams import faust_private
from meshpipe.streams.decode import Record
from meshpipe.streams.sessions_feed import follow_sessions
from meshpipe.streams.settings import WorkerSettings
from meshpipe.streams.windows import BucketFn
from meshpipe.streams.worker import Outputs, Worker, WorkerCore

log = logging.getLogger(__name__)
SinkFactory = Callable[[], AbstractAsyncContextManager[RowSink]]
RetentionJob = Callable[[], Coroutine[Any, Any, None]]  # runs until done or cancelled
TAKE_MAX = 1_000  # records the agent takes per batch
TAKE_WITHIN_S = 0.01  # longest wait for a batch to fill (adds to tap latency)


class _LateSink:
    """Forwards to the real sink once it was opened on the worker's event loop."""

    def __init__(self) -> None:
        self.sink: RowSink | None = None

    async def submit(self, batch: RowBatch) -> Awaitable[None]:
        if self.sink is None:
            raise RuntimeError("row sink is not open yet")
        return await self.sink.submit(batch)


def _headers(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """A message's headers as pairs, whichever shape Faust passed them in."""
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), bytes(value)) for name, value in pairs)


def build_app(
    settings: WorkerSettings,
    open_sink: SinkFactory,
    bucket: BucketFn,
    retention: RetentionJob | None = None,
) -> faust.App:
    """A Faust app wired to a Worker whose rows go to the sink open_sink() opens at start.

    retention (when given) starts with the worker as a background task; see streams.retention.
    """
    app = faust.App(
        settings.group,
        broker=f"kafka://{settings.kafka}",
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host="127.0.0.1",
        store="memory://",
        datadir=str(settings.faust_data_dir),
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        consumer_metadata_max_age_ms=round(settings.metadata_max_age_s * 1000),
    )
    topics = settings.topics
    requests = app.topic(topics.requests, key_serializer="raw", value_serializer="raw", acks=False)
    tap_topic = app.topic(topics.tap, key_serializer="raw", value_serializer="raw")
    deadletter_topic = app.topic(topics.deadletter, key_serializer="raw", value_serializer="raw")
    background = BackgroundTasks()
    sink = _LateSink()
    resources = AsyncExitStack()

    faust_private.check()

    async def commit(offsets: Mapping[int, int]) -> None:
        if not await faust_private.commit(app.consumer, topics.requests, offsets):
            # A rebalance took the partitions: their next owner replays from the last commit.
            log.warning("Kafka did not take the commit of %s", dict(offsets))

    core = WorkerCore(
        settings.name, settings.windows, bucket, settings.max_pending_rows, settings.chunks
    )
    worker = Worker(core, sink, commit, time.time)

    async def send_dead_letter(key: bytes | None, value: bytes) -> None:
        await (await deadletter_topic.send(key=key, value=value))

    async def send_tap(key: bytes | None, value: bytes) -> None:
        await tap_topic.send(key=key, value=value)

    outputs = Outputs(dead_letter=send_dead_letter, tap=send_tap)

    def generation() -> int:
        return app.consumer_generation_id

    async def handle(event: faust.EventT[Any]) -> None:
        message = event.message
        record = Record(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            timestamp_ms=int(message.timestamp * 1000),
            headers=_headers(message.headers),
        )
        await worker.handle(record, message.generation_id, generation, outputs)

    @app.agent(requests, name="requests")
    async def process(stream: faust.StreamT[Any]) -> None:
        # Batches: one backpressure check per batch instead of per record.
        batches = cast(faust.Stream[Any], stream).take_events(TAKE_MAX, within=TAKE_WITHIN_S)
        async for events in batches:
            await worker.wait_for_room()
            for event in events:
                await handle(event)

    @app.timer(interval=settings.flush_interval_s)  # type: ignore[untyped-decorator]
    async def flush() -> None:
        if sink.sink is not None:
            await worker.flush()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, *args: Any, signal: Any, **_: Any) -> None:
        assigned: set[TP] = args[0]
        mine = [tp.partition for tp in assigned if tp.topic == topics.requests]
        total = app.consumer.topic_partitions(topics.requests) or len(mine)
        worker.assign(mine, total)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, *args: Any, signal: Any, **_: Any) -> None:
        revoked: set[TP] = args[0]
        worker.revoke(tp.partition for tp in revoked if tp.topic == topics.requests)

    def ready() -> bool:
        return sink.sink is not None and worker.assignments > 0

    def lag() -> dict[str, int]:
        """Records each owned partition holds beyond the worker's position (the consumer's
        last seen high-water mark minus the next offset to fold); `meshctl check` reads it."""
        health = worker.health()
        positions = cast(dict[str, int], health["positions"])
        found = {}
        for partition, position in positions.items():
            highwater = app.consumer.highwater(TP(topics.requests, int(partition)))
            if highwater is not None:
                found[partition] = max(0, int(highwater) - position)
        return found

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"ready": ready(), **worker.health(), "lag": lag()})

    @app.page("/ready")  # Kubernetes readiness: the sink is open and partitions were assigned
    async def readiness(web: Any, request: Any) -> Any:
        return web.json({"ready": ready()}, status=200 if ready() else 503)

    @app.page("/live")  # Kubernetes liveness: the event loop answers
    async def liveness(web: Any, request: Any) -> Any:
        return web.json({"live": True})

    @app.task  # type: ignore[untyped-decorator]
    async def start() -> None:
        sink.sink = await resources.enter_async_context(open_sink())
        background.spawn(
            "tap-sessions", follow_sessions(settings.kafka, topics.tap_sessions, worker.sessions)
        )
        if retention is not None:
            background.spawn("retention", retention())

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_background(sender: Any, *_: Any, signal: Any, **__: Any) -> None:
        await background.cancel_all()
        await resources.aclose()

    return app
