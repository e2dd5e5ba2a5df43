"""Publishing request events to Kafka without ever slowing traffic: bounded queue, batch sender.

Each send takes what is queued (up to `max_batch` events) and groups it per Kafka key (edge)
into `request-batch/1` records (schemas.eventbatch), so under load one record carries many
events of an edge, while at low load a record holds the one event that was waiting: batching
never waits for more events. Queued events are held encoded, with their key: a few hundred
bytes each instead of a protobuf object, which is what a full queue costs in memory while
Kafka is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from meshpipe.proxy import kafka_log
from meshpipe.schemas import eventbatch
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS

log = logging.getLogger(__name__)

KeyFunction = Callable[[meshpipe_pb2.RequestEvent], bytes]
Encoded = tuple[bytes, bytes]  # (Kafka key, serialised RequestEvent)


class Record(NamedTuple):
    """One Kafka record to send."""

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    events: int = 1  # RequestEvents it carries


class SendError(Exception):
    """A batch could not be handed to Kafka; the publisher keeps it and retries."""


class Sender(Protocol):
    """Where batches go: Kafka in production, an in-memory fake in unit tests."""

    async def start(self) -> None:
        """Connect; raise SendError when the destination is unreachable."""
        ...

    async def send_batch(self, records: Sequence[Record]) -> None:
        """Deliver all records or raise SendError (some may have been delivered)."""
        ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class PublisherSettings:
    max_queue: int = 10_000  # events waiting; beyond it the oldest are dropped
    max_batch: int = 500  # events per send_batch call
    max_record_events: int = eventbatch.MAX_EVENTS  # events per Kafka record
    max_record_bytes: int = eventbatch.MAX_BYTES  # serialised events per Kafka record, bytes
    retry_backoff_s: float = 0.2  # first wait after a failure, doubled up to the max
    max_retry_backoff_s: float = 5.0


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    topic: str = REQUESTS
    linger_ms: int = 20  # producer batching delay
    request_timeout_ms: int = 10_000  # a batch not acknowledged by then fails and is retried
    client_id: str = "meshproxy"


def batch_records(
    events: Sequence[meshpipe_pb2.RequestEvent], key: KeyFunction, settings: PublisherSettings
) -> list[Record]:
    """Events as `request-batch/1` records: one per key, in queue order, within the caps."""
    return encoded_records([(key(event), event.SerializeToString()) for event in events], settings)


def encoded_records(events: Sequence[Encoded], settings: PublisherSettings) -> list[Record]:
    """What `batch_records` returns, for events already keyed and serialised."""
    by_key: dict[bytes, list[bytes]] = {}
    for event_key, serialised_event in events:
        by_key.setdefault(event_key, []).append(serialised_event)
    cap_events, cap_bytes = settings.max_record_events, settings.max_record_bytes
    return [
        Record(k, eventbatch.encode_batch(run), eventbatch.BATCH_HEADERS, len(run))
        for k, serialised in by_key.items()
        for run in eventbatch.split_batches(serialised, cap_events, cap_bytes)
    ]


class CachingPartitioner:
    """aiokafka's default partitioner (Java's murmur2, so keys land where Java clients put them),
    remembered per key: a sidecar sees few edges, so the pure-Python hash runs once per edge
    and partition count instead of once per event."""

    def __init__(self, max_keys: int = 4096) -> None:
        self._max_keys = max_keys
        self._slots: dict[tuple[bytes, int], int] = {}  # (key, partition count) -> index
        self._default = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self._default(key, all_partitions, available))
        count = len(all_partitions)
        slot = self._slots.get((key, count))
        if slot is None:
            if len(self._slots) >= self._max_keys:
                self._slots.clear()
            slot = self._slots[(key, count)] = (murmur2(key) & 0x7FFFFFFF) % count
        return all_partitions[slot]


class KafkaSender:
    """Sends batches with one aiokafka producer (lz4, acks=1); recreated after a failed start."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = CachingPartitioner()  # kept across producer restarts
        self._log_filter = kafka_log.RepeatFilter()

    async def start(self) -> None:
        s = self._settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap,
            client_id=s.client_id,
            acks=1,
            compression_type="lz4",
            linger_ms=s.linger_ms,
            request_timeout_ms=s.request_timeout_ms,
            partitioner=self._partitioner,
        )
        kafka_log.install(self._log_filter)  # idempotent: logging keeps a filter once
        try:
            await producer.start()
        except (KafkaError, OSError) as exc:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise SendError(f"cannot connect to Kafka at {s.bootstrap}: {exc}") from exc
        self._producer = producer

    async def send_batch(self, records: Sequence[Record]) -> None:
        producer = self._producer
        if producer is None:
            raise SendError("producer not started")
        try:
            futures = [
                await producer.send(
                    self._settings.topic, value=r.value, key=r.key, headers=list(r.headers)
                )
                for r in records
            ]
            await asyncio.gather(*futures)
        except (KafkaError, OSError) as exc:
            raise SendError(f"Kafka send failed: {exc!r}") from exc

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        try:
            if producer is not None:
                await producer.stop()
        finally:
            kafka_log.uninstall(self._log_filter)


class EventPublisher:
    """A bounded queue of events drained by one background task into a Sender.

    publish() is synchronous and O(1): traffic never waits for Kafka. It keys and serialises
    the event at once (the send would do it anyway), so the queue holds bytes. When the queue is
    full the oldest event is dropped and counted; proxy_seq gaps show the loss downstream as well.
    An event without a usable key (an identity the edge key refuses) is dropped and counted the
    same way, never raised into the request that produced it.
    """

    def __init__(self, sender: Sender, key: KeyFunction, settings: PublisherSettings) -> None:
        self._sender = sender
        self._key = key
        self._settings = settings
        self._queue: deque[Encoded] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.published = 0
        self.records = 0  # Kafka records the published events travelled in
        self.dropped = 0
        self.connected = False

    @property
    def depth(self) -> int:
        return len(self._queue)

    def publish(self, event: meshpipe_pb2.RequestEvent) -> None:
        try:
            key = self._key(event)
        except ValueError as exc:
            self.dropped += 1
            log.warning("event %d dropped, no edge key: %s", event.proxy_seq, exc)
            return
        if len(self._queue) >= self._settings.max_queue:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append((key, event.SerializeToString()))
        self._idle.clear()
        self._wakeup.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-publisher")

    async def stop(self, flush_timeout_s: float) -> int:
        """Flush for up to flush_timeout_s, then stop; return how many events were left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), flush_timeout_s)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(SendError, TimeoutError):
            # A dead broker must not hold the process: the producer gets the same grace.
            await asyncio.wait_for(self._sender.stop(), flush_timeout_s)
        self.connected = False
        left = len(self._queue)
        if left:
            log.warning("stopped with %d unpublished events", left)
        return left

    async def _run(self) -> None:
        backoff = self._settings.retry_backoff_s
        while True:
            if not self._queue:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                await self._connect()
                await self._send_one_batch()
                backoff = self._settings.retry_backoff_s
            except SendError as exc:
                log.warning("event publishing failed, retrying in %.1fs: %s", backoff, exc)
                await self._disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._settings.max_retry_backoff_s)

    async def _connect(self) -> None:
        if not self.connected:
            await self._sender.start()
            self.connected = True

    async def _disconnect(self) -> None:
        if self.connected:
            self.connected = False
            with contextlib.suppress(SendError):
                await self._sender.stop()

    async def _send_one_batch(self) -> None:
        n = min(len(self._queue), self._settings.max_batch)
        batch = [self._queue.popleft() for _ in range(n)]
        records = self._records(batch)
        try:
            await self._sender.send_batch(records)
        except SendError:
            self._requeue(batch)
            raise
        except asyncio.CancelledError:
            self._requeue(batch)
            raise
        self.published += n
        self.records += len(records)

    def _records(self, batch: list[Encoded]) -> list[Record]:
        return encoded_records(batch, self._settings)

    def _requeue(self, batch: list[Encoded]) -> None:
        """Put a failed batch back in front, then drop the oldest beyond the bound."""
        self._queue.extendleft(reversed(batch))
        while len(self._queue) > self._settings.max_queue:
            self._queue.popleft()
            self.dropped += 1
