"""Reading every tap session from the compacted session topic, outside the consumer group.

Every worker needs every session (a session matches events on all partitions), so this reader
has no group: it assigns itself all partitions, starts at the beginning and follows the topic.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from meshpipe.streams.tap import InvalidSessionError, TapSessions

log = logging.getLogger(__name__)


async def follow_sessions(bootstrap: str, topic: str, sessions: TapSessions) -> None:
    """Apply every record of the session topic to sessions, forever (cancel to stop)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()  # fetches cluster metadata
        partitions = consumer.partitions_for_topic(topic) or {0}
        consumer.assign([TopicPartition(topic, partition) for partition in sorted(partitions)])
        await consumer.seek_to_beginning()
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    _apply(sessions, record.key, record.value)
    finally:
        await consumer.stop()


def _apply(sessions: TapSessions, key: bytes | None, value: bytes | None) -> None:
    try:
        sessions.apply(key, value)
    except InvalidSessionError as exc:
        log.warning("ignoring tap session record: %s", exc)
