"""Loads the one topic specification and makes a broker's topics match it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from meshpipe.schemas.topics import Topics

_TOPIC_EXISTS = 36
_UNKNOWN_TOPIC = 3


class TopicSpecError(ValueError):
    """The topic specification file is malformed."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicSet:
    """The project's topics, optionally renamed with a prefix (tests isolate themselves so)."""

    topics: tuple[TopicSpec, ...]
    prefix: str = ""

    def with_prefix(self, prefix: str) -> TopicSet:
        return replace(self, prefix=prefix)

    @property
    def names(self) -> Topics:
        return Topics(self.prefix)

    def name(self, base: str) -> str:
        """The real topic name for one of the contract's base names (schemas.topics)."""
        if all(t.name != base for t in self.topics):
            raise KeyError(base)
        return self.names.name(base)

    def partitions(self, base: str) -> int:
        """The partition count the spec gives one of the contract's topics."""
        return next(t.partitions for t in self.topics if t.name == base)

    def with_partitions(self, base: str, partitions: int) -> TopicSet:
        """The same set with `partitions` for one topic (e.g. the requests topic, which bounds
        how many workers share the load)."""
        if partitions < 1:
            raise TopicSpecError(f"{base} needs at least 1 partition, got {partitions}")
        if all(t.name != base for t in self.topics):
            raise KeyError(base)
        topics = tuple(
            replace(t, partitions=partitions) if t.name == base else t for t in self.topics
        )
        return replace(self, topics=topics)

    def resolved(self) -> tuple[TopicSpec, ...]:
        return tuple(replace(t, name=f"{self.prefix}{t.name}") for t in self.topics)


def load_spec(text: str | None = None) -> TopicSet:
    """Parse topics.yaml (the packaged one unless text is given)."""
    if text is None:
        text = resources.files("meshpipe.deploy.kafka").joinpath("topics.yaml").read_text()
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("topics"), list):
        raise TopicSpecError("topics.yaml must hold a mapping with a 'topics' list")
    return TopicSet(tuple(_topic(entry) for entry in doc["topics"]))


def _topic(entry: Any) -> TopicSpec:
    try:
        return TopicSpec(
            name=str(entry["name"]),
            partitions=int(entry["partitions"]),
            replication_factor=int(entry.get("replication_factor", 1)),
            config={str(k): str(v) for k, v in (entry.get("config") or {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TopicSpecError(f"bad topic entry {entry!r}: {exc}") from exc


async def ensure_topics(
    bootstrap: str, topics: TopicSet, *, max_replication: int = 1, timeout_s: float = 60.0
) -> list[str]:
    """Create the missing topics and return their names, retrying until the broker answers;
    return once every partition of the created topics has a leader (until then a client's
    offset request fails with NotLeaderForPartition, e.g. a `meshtap --since` right after)."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        try:
            await admin.start()
            created = await _create_missing(admin, topics, max_replication)
            await _wait_for_leaders(admin, created, deadline)
        except (KafkaConnectionError, KafkaError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        else:
            return created
        finally:
            await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], deadline: float) -> None:
    while names and not _all_led(await admin.describe_topics(names)):
        if time.monotonic() > deadline:
            raise KafkaError(f"topics have partitions without a leader: {', '.join(names)}")
        await asyncio.sleep(0.2)


def _all_led(described: list[Any]) -> bool:
    return all(
        d["error_code"] == 0 and d["partitions"] and all(p["leader"] >= 0 for p in d["partitions"])
        for d in described
    )


async def _create_missing(
    admin: AIOKafkaAdminClient, topics: TopicSet, max_replication: int
) -> list[str]:
    existing = set(await admin.list_topics())
    wanted = [t for t in topics.resolved() if t.name not in existing]
    if not wanted:
        return []
    response = await admin.create_topics(
        [
            NewTopic(
                t.name,
                t.partitions,
                min(t.replication_factor, max_replication),
                topic_configs=t.config,
            )
            for t in wanted
        ]
    )
    for name, code, message in response.topic_errors:
        if code not in (0, _TOPIC_EXISTS):
            raise KafkaError(f"creating topic {name} failed: {message} (code {code})")
    return [t.name for t in wanted]


@dataclass(frozen=True)
class Growth:
    """A topic whose partitions were raised to what the spec asks, or could not be lowered."""

    name: str
    before: int
    after: int  # equal to before when the spec asked for fewer (Kafka cannot remove partitions)


async def grow_partitions(
    bootstrap: str, topics: TopicSet, timeout_s: float = 30.0
) -> list[Growth]:
    """Raise every existing topic's partition count to the spec's; never lower one.

    Kafka can only add partitions, and a record's key then maps to another partition: later
    events of an edge land elsewhere than earlier ones. Workers sum an edge's rows over
    partitions and loss rows over each proxy's rows, so totals stay exact across the move.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
        wanted = {t.name: t.partitions for t in topics.resolved()}
        existing = await _partition_counts(admin, list(wanted), time.monotonic() + timeout_s)
        grow = {n: NewPartitions(wanted[n]) for n, have in existing.items() if have < wanted[n]}
        if grow:
            await admin.create_partitions(grow)
    finally:
        await admin.close()
    return [
        Growth(name, have, max(have, wanted[name]))
        for name, have in sorted(existing.items())
        if have != wanted[name]
    ]


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: list[str], deadline: float
) -> dict[str, int]:
    """Partition counts of the topics that exist; a topic still settling after its creation
    (an error other than unknown topic) is asked again until the deadline."""
    while True:
        described = await admin.describe_topics(names)
        settling = [d for d in described if d["error_code"] not in (0, _UNKNOWN_TOPIC)]
        if not settling:
            return {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0}
        if time.monotonic() > deadline:
            raise KafkaError(f"topics not ready for a partition change: {settling}")
        await asyncio.sleep(0.5)


async def missing_topics(bootstrap: str, topics: TopicSet) -> list[str]:
    """The spec's topics that the broker does not have."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [t.name for t in topics.resolved() if t.name not in existing]


async def delete_topics(bootstrap: str, topics: TopicSet) -> None:
    """Delete every topic of the set (tests and benchmarks remove what they created)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
        await admin.delete_topics([t.name for t in topics.resolved()])
    finally:
        await admin.close()


@contextmanager
def temporary_topics(bootstrap: str, prefix: str, timeout_s: float = 60.0) -> Iterator[TopicSet]:
    """The spec's topics under a prefix, created on entry and deleted on exit (sync callers)."""
    topics = load_spec().with_prefix(prefix)
    asyncio.run(ensure_topics(bootstrap, topics, timeout_s=timeout_s))
    try:
        yield topics
    finally:
        asyncio.run(delete_topics(bootstrap, topics))
