"""Batch records (`request-batch/1`) through real workers on real Kafka and ClickHouse: mixed with
one-event records, replayed after a crash, and with a poison event inside a good batch."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from streams_procs import stored_requests, wait_for
from test_streams_pipeline import (  # fixtures and helpers of the one-event tests
    FAST,
    Db,
    MakeWorker,
    _committed,
    _dead_letters,
    _fast_spec,
    _group_offsets,
    _positions,
    _wait_exact,
    make_worker,
    stream_db,
)

from bench.generate import generate, produce, sidecar_records
from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.schemas import eventbatch
from meshpipe.schemas.edgekey import edge_key
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import DEADLETTER, REQUESTS

pytestmark = pytest.mark.integration
__all__ = ["make_worker", "stream_db"]  # fixtures, imported for pytest


async def _record_counts(bootstrap: str, topic: str, total: int) -> tuple[int, int]:
    """(records with the batch header, records without) among the topic's first `total`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    batches = singles = 0
    try:
        async with asyncio.timeout(60):
            while batches + singles < total:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        if eventbatch.record_format(record.headers) == eventbatch.BATCH_V1:
                            batches += 1
                        else:
                            singles += 1
    finally:
        await consumer.stop()
    return batches, singles


def test_old_one_event_records_and_batches_mixed_on_a_topic_are_stored_exactly(
    kafka_bootstrap: str, topics: TopicSet, stream_db: Db, make_worker: MakeWorker
) -> None:
    events, truth = generate(_fast_spec(12_000, seed=11))
    topic = topics.name(REQUESTS)
    third = len(events) // 3

    async def produce_mixed() -> None:  # an upgrade in progress: old and new proxies side by side
        await produce(kafka_bootstrap, topic, events[:third])
        await produce(kafka_bootstrap, topic, events[third : 2 * third], send_events=50)
        await produce(kafka_bootstrap, topic, events[2 * third :])

    asyncio.run(produce_mixed())
    batched = len(list(sidecar_records(events[third : 2 * third], 50)))
    singles = len(events) - third
    assert asyncio.run(_record_counts(kafka_bootstrap, topic, batched + singles)) == (
        batched,
        singles,
    )
    assert batched < third // 10
    make_worker(*FAST).start()
    client, db = stream_db
    _wait_exact(client, db, truth, 120)


def test_a_replayed_batch_counts_once_after_the_worker_is_killed_mid_stream(
    kafka_bootstrap: str, topics: TopicSet, stream_db: Db, make_worker: MakeWorker
) -> None:
    events, truth = generate(_fast_spec(60_000, seed=12))
    records = len(list(sidecar_records(events, 40)))
    asyncio.run(produce(kafka_bootstrap, topics.name(REQUESTS), events, send_events=40))
    worker = make_worker(*FAST).start()  # chunks of 1000 events: about 25 batch records
    wait_for(
        lambda: (_committed(worker), _positions(worker)),
        lambda cp: cp[0] > 0 and cp[1] < records * 0.8,
        180,  # a worker starting on a loaded machine takes a while
        "commits mid-stream",
    )
    worker.kill()
    committed = asyncio.run(_group_offsets(kafka_bootstrap, f"g-{topics.prefix}"))
    assert 0 < sum(committed.values()) < records  # the restart replays batches it had folded
    worker.start()
    client, db = stream_db
    _wait_exact(client, db, truth, 120)


def test_a_poison_event_inside_a_batch_is_dead_lettered_alone_and_its_batch_stored(
    kafka_bootstrap: str, topics: TopicSet, stream_db: Db, make_worker: MakeWorker
) -> None:
    events, truth = generate(_fast_spec(600, windows=3, seed=13))
    edge = edge_key(events[0])
    same_edge = [e for e in events if edge_key(e) == edge][:5]
    poison = meshpipe_pb2.RequestEvent()
    poison.CopyFrom(same_edge[0])
    poison.proxy_seq = 0  # no sequence number: invalid, whatever else is right
    batch = [*same_edge[:2], poison, *same_edge[2:]]
    value = eventbatch.encode_batch(e.SerializeToString() for e in batch)
    broken = b"\x0a\x7f" + b"cut short"  # a batch whose first event's length runs past the end

    async def send_all() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for v in (value, broken):
                await producer.send_and_wait(
                    topics.name(REQUESTS), v, key=edge, headers=list(eventbatch.BATCH_HEADERS)
                )
        finally:
            await producer.stop()
        others = [e for e in events if e not in same_edge]
        records = list(sidecar_records(others, 64))
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for r in records:
                await producer.send(topics.name(REQUESTS), r.value, r.key, headers=list(r.headers))
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send_all())
    make_worker(*FAST).start()
    letters = asyncio.run(_dead_letters(kafka_bootstrap, topics.name(DEADLETTER), 2))
    alone, whole = letters
    assert (alone.offset, alone.batch_index, alone.key) == (0, 2, edge)
    assert alone.reason.startswith("missing proxy_seq")
    assert meshpipe_pb2.RequestEvent.FromString(alone.value) == poison
    assert (whole.offset, whole.value, whole.HasField("batch_index")) == (1, broken, False)
    assert whole.reason.startswith("undecodable batch")
    client, db = stream_db
    _wait_exact(client, db, truth, 60)  # the poisoned batch's five good events among them
    assert stored_requests(client, db) == len(events)
