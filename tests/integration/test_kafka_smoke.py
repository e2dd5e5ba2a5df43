"""The real broker from the dev stack carries RequestEvents intact, keyed by their edge, one per
record or batched by a proxy's publisher (the requests topic's record format)."""

from __future__ import annotations

import os

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from google.protobuf.timestamp_pb2 import Timestamp

from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.proxy.publisher import EventPublisher, KafkaSender, KafkaSettings, PublisherSettings
from meshpipe.schemas.edgekey import EdgeKeys, edge_key
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS

pytestmark = pytest.mark.integration


def _event() -> meshpipe_pb2.RequestEvent:
    event = meshpipe_pb2.RequestEvent(
        id=os.urandom(16),
        proxy_id="proxy-smoke",
        proxy_seq=7,
        direction=meshpipe_pb2.OUTBOUND,
        source=meshpipe_pb2.Workload(
            namespace="emojivoto", kind="deployment", name="web", pod="web-1", meshed=True
        ),
        destination=meshpipe_pb2.Workload(
            namespace="emojivoto", kind="deployment", name="emoji", meshed=True
        ),
        protocol=meshpipe_pb2.GRPC,
        method="POST",
        path="/emojivoto.v1.EmojiService/FindByShortcode",
        http_status=200,
        start=Timestamp(seconds=1_790_000_000, nanos=5),
        latency_us=1234,
        duration_us=1500,
    )
    event.grpc_status = 0
    return event


async def test_request_event_round_trips_through_kafka(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    sent = _event()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, compression_type="lz4")
    await producer.start()
    try:
        await producer.send_and_wait(topic, sent.SerializeToString(), key=edge_key(sent))
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()

    received = meshpipe_pb2.RequestEvent.FromString(record.value)
    assert received == sent
    assert received.WhichOneof("end") == "grpc_status"
    assert record.key == edge_key(sent)


async def test_a_proxy_publishes_an_edges_queued_events_as_one_batch_record(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    """The record format of the requests topic as the sidecar writes it: key = the edge, header
    `meshpipe-format: request-batch/1`, value = a RequestEventBatch in queue order."""
    topic = topics.name(REQUESTS)
    web_to_emoji = [_event() for _ in range(3)]
    web_to_voting = _event()
    web_to_voting.destination.name = "voting"
    for seq, event in enumerate([*web_to_emoji, web_to_voting], start=1):
        event.proxy_seq = seq
    publisher = EventPublisher(
        KafkaSender(KafkaSettings(kafka_bootstrap, topic, linger_ms=5)),
        EdgeKeys(),
        PublisherSettings(),
    )
    for event in [web_to_emoji[0], web_to_voting, *web_to_emoji[1:]]:
        publisher.publish(event)  # queued before the first send: one send takes them all
    await publisher.start()
    assert await publisher.stop(flush_timeout_s=20) == 0

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    records = []
    try:
        while len(records) < 2:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records += batch
    finally:
        await consumer.stop()
    by_key = {record.key: record for record in records}
    assert set(by_key) == {edge_key(web_to_emoji[0]), edge_key(web_to_voting)}
    emoji = by_key[edge_key(web_to_emoji[0])]
    assert list(emoji.headers) == [("meshpipe-format", b"request-batch/1")]
    batch = meshpipe_pb2.RequestEventBatch.FromString(emoji.value)
    assert list(batch.events) == web_to_emoji
    voting = by_key[edge_key(web_to_voting)]
    assert list(meshpipe_pb2.RequestEventBatch.FromString(voting.value).events) == [web_to_voting]
