"""The pipeline's health as Kafka shows it: records waiting in the dead-letter topic and how far
the workers' consumer group is behind on the requests topic."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from meshpipe.cli.tapclient import KafkaSettings
from meshpipe.schemas.topics import DEADLETTER, REQUESTS

DEFAULT_GROUP = "meshstreams"  # meshstreams worker --group


@dataclass(frozen=True)
class KafkaHealth:
    """None where Kafka could not say (unreachable, no such topic or group)."""

    dead_letters: int | None  # records retained in the dead-letter topic
    worker_lag: int | None  # requests the worker group has not committed yet


UNKNOWN = KafkaHealth(None, None)


class KafkaProbe(Protocol):
    async def health(self) -> KafkaHealth:
        """The figures now; never raises for Kafka's own failures."""
        ...


class KafkaHealthProbe:
    """Asks the brokers with a fresh consumer and admin client each time (seconds apart)."""

    def __init__(self, settings: KafkaSettings, group: str, timeout_s: float = 5.0) -> None:
        self._settings = settings
        self._group = group
        self._timeout_s = timeout_s

    async def health(self) -> KafkaHealth:
        try:
            return await asyncio.wait_for(self._ask(), self._timeout_s)
        except (KafkaError, TimeoutError, OSError):
            return UNKNOWN

    async def _ask(self) -> KafkaHealth:
        bootstrap = self._settings.bootstrap
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            topics = await consumer.topics()
            dead = await _retained(consumer, topics, self._settings.topics.name(DEADLETTER))
            requests = self._settings.topics.name(REQUESTS)
            ends = await _ends(consumer, topics, requests)
        finally:
            await consumer.stop()
        return KafkaHealth(dead, await self._lag(ends) if ends else None)

    async def _lag(self, ends: dict[TopicPartition, int]) -> int | None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._settings.bootstrap)
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(self._group)
        finally:
            await admin.close()
        if not any(tp in committed for tp in ends):
            return None  # no worker of that group has committed on this topic
        return sum(
            int(end) - (int(committed[tp].offset) if tp in committed else 0)
            for tp, end in ends.items()
        )


async def _ends(
    consumer: AIOKafkaConsumer, topics: set[str], topic: str
) -> dict[TopicPartition, int]:
    if topic not in topics:
        return {}
    # Every topic has a partition 0; asking its end offset loads the topic's metadata, which is
    # where the full partition list comes from (as tapclient.ReplayTap does).
    await consumer.end_offsets([TopicPartition(topic, 0)])
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    return dict(await consumer.end_offsets(partitions)) if partitions else {}


async def _retained(consumer: AIOKafkaConsumer, topics: set[str], topic: str) -> int | None:
    ends = await _ends(consumer, topics, topic)
    if not ends:
        return None
    begins = await consumer.beginning_offsets(list(ends))
    return sum(int(end) - int(begins[tp]) for tp, end in ends.items())
