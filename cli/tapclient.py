"""meshtap's Kafka side: a live tap session (write, renew, read its matches, delete) and a replay
of stored requests from a point in time."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.schemas import eventbatch
from meshpipe.schemas.clock import WallClock
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.tapfilter import filter_matches, status_matches
from meshpipe.schemas.topics import REQUESTS, TAP, TAP_SESSIONS


class TapSourceError(RuntimeError):
    """A topic meshtap needs is missing or unreadable; the message is one line."""


@dataclass(frozen=True)
class KafkaSettings:
    """Where meshtap reads and writes, and its session timing (seconds)."""

    bootstrap: str
    topics: TopicSet
    session_ttl_s: float = 30.0  # workers drop a session not renewed for this long
    renew_every_s: float = 10.0
    request_timeout_ms: int = 10_000


class TapSource(Protocol):
    """Where tapped events come from: a live session or a replay."""

    async def poll(self, timeout_s: float) -> list[meshpipe_pb2.RequestEvent] | None:
        """The next events (possibly none); None once the source is exhausted."""
        ...


def partition_for_key(key: bytes, partitions: list[int]) -> int:
    """The partition Kafka's default partitioner (murmur2) picks for key among partitions."""
    ordered = sorted(partitions)
    return int(DefaultPartitioner()(key, ordered, ordered))


class LiveTap:
    """One tap session: written before reading, renewed while polled, tombstoned on exit."""

    def __init__(
        self,
        settings: KafkaSettings,
        session: meshpipe_pb2.TapSession,
        wall_clock: WallClock = time.time,
    ) -> None:
        self._settings = settings
        self._session = session
        self._key = session.id.encode()
        self._clock = wall_clock
        self._renewed_s = 0.0
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap, request_timeout_ms=settings.request_timeout_ms
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=settings.request_timeout_ms,
        )
        self._partition: TopicPartition | None = None
        self._written = False

    @property
    def partition(self) -> TopicPartition | None:
        """The tap topic partition this session's matches land on (known once entered)."""
        return self._partition

    async def __aenter__(self) -> LiveTap:
        try:
            await self._open()
        except BaseException:
            await self._stop()
            raise
        return self

    async def _open(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        tap_topic = self._settings.topics.name(TAP)
        partitions = await self._producer.partitions_for(tap_topic)
        if not partitions:
            raise TapSourceError(f"topic {tap_topic} does not exist")
        self._partition = TopicPartition(tap_topic, partition_for_key(self._key, partitions))
        self._consumer.assign([self._partition])
        await self._consumer.seek_to_end(self._partition)
        # Resolve the end offset now, so no match produced after the session exists is missed.
        await self._consumer.position(self._partition)
        await self._write(self._clock())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._written:
                await self._producer.send_and_wait(
                    self._settings.topics.name(TAP_SESSIONS), None, key=self._key
                )
        finally:
            await self._stop()

    async def _stop(self) -> None:
        try:
            await self._consumer.stop()
        finally:
            await self._producer.stop()

    async def _write(self, now_s: float) -> None:
        session = meshpipe_pb2.TapSession()
        session.CopyFrom(self._session)
        session.expires.CopyFrom(_timestamp(now_s + self._settings.session_ttl_s))
        topic = self._settings.topics.name(TAP_SESSIONS)
        await self._producer.send_and_wait(topic, session.SerializeToString(), key=self._key)
        self._renewed_s = now_s
        self._written = True

    async def poll(self, timeout_s: float) -> list[meshpipe_pb2.RequestEvent] | None:
        """Renew the session when due, then this session's matches that arrived."""
        now_s = self._clock()
        if now_s - self._renewed_s >= self._settings.renew_every_s:
            await self._write(now_s)
        assert self._partition is not None, "poll() before entering the session"
        batches = await self._consumer.getmany(
            self._partition, timeout_ms=max(1, int(timeout_s * 1000))
        )
        events = []
        for record in batches.get(self._partition, []):
            if record.key != self._key or record.value is None:
                continue  # another session's match on the same partition
            try:
                event = meshpipe_pb2.TapEvent.FromString(record.value).event
            except DecodeError:
                continue
            # Workers older than the status selection (TapFilter fields 7-9) skip it and send
            # every request-field match; the workers' own status check keeps those extras out.
            if status_matches(self._session.filter, event):
                events.append(event)
        return events


class ReplayTap:
    """Stored requests from a time on, matched locally like the workers match a session."""

    def __init__(
        self, settings: KafkaSettings, tap_filter: meshpipe_pb2.TapFilter, since_s: float
    ) -> None:
        self._topic = settings.topics.name(REQUESTS)
        self._filter = tap_filter
        self._since_ms = int(since_s * 1000)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=settings.request_timeout_ms,
        )
        self._ends: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> ReplayTap:
        try:
            await self._consumer.start()
            await self._seek()
        except BaseException:
            await self._consumer.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._consumer.stop()

    async def _seek(self) -> None:
        if self._topic not in await self._consumer.topics():
            raise TapSourceError(f"topic {self._topic} does not exist")
        # Every topic has a partition 0; asking its end offset loads the topic's metadata,
        # which is where the full partition list comes from.
        first = TopicPartition(self._topic, 0)
        self._consumer.assign([first])
        await self._consumer.end_offsets([first])
        partitions = self._consumer.partitions_for_topic(self._topic) or {0}
        assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        starts = await self._consumer.offsets_for_times(dict.fromkeys(assigned, self._since_ms))
        ends = await self._consumer.end_offsets(assigned)
        for tp in assigned:
            found = starts.get(tp)
            start = found.offset if found is not None else ends[tp]
            if start < ends[tp]:
                self._consumer.seek(tp, start)
                self._ends[tp] = ends[tp]  # replay stops at the end as it was on start

    async def poll(self, timeout_s: float) -> list[meshpipe_pb2.RequestEvent] | None:
        """The next matching stored events in time order within the batch; None when done."""
        if not self._ends:
            return None
        batches = await self._consumer.getmany(
            *self._ends, timeout_ms=max(1, int(timeout_s * 1000))
        )
        found: list[tuple[int, meshpipe_pb2.RequestEvent]] = []
        for tp, records in batches.items():
            end = self._ends.get(tp)
            for record in records:
                if end is None or record.offset >= end:
                    break
                if record.timestamp < self._since_ms:
                    continue  # only if a seek lost a race with the consumer's own offset reset
                found += (
                    (record.timestamp, event)
                    for event in _decode_requests(record.value, record.headers)
                    if filter_matches(self._filter, event)
                )
            if records and end is not None and records[-1].offset + 1 >= end:
                del self._ends[tp]
                self._consumer.pause(tp)
        found.sort(key=lambda pair: pair[0])
        return [event for _, event in found]


def _decode_requests(
    value: bytes | None, headers: Sequence[tuple[str, bytes]] | None
) -> list[meshpipe_pb2.RequestEvent]:
    """The requests in a record of the requests topic, one event or a batch (connection reports
    left out); none for garbage."""
    try:
        events = eventbatch.decode_record(value, headers)
    except eventbatch.RecordFormatError:
        return []
    return [event for event in events if not event.HasField("connections")]


def _timestamp(unix_s: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(unix_s * 1e9))
    return stamp


def new_session(
    session_id: str, tap_filter: meshpipe_pb2.TapFilter, max_rps: int, now_s: float
) -> meshpipe_pb2.TapSession:
    """A session record as created; LiveTap sets its expiry each time it writes it."""
    return meshpipe_pb2.TapSession(
        id=session_id, filter=tap_filter, max_rps=max_rps, created=_timestamp(now_s)
    )
