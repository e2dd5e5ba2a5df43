"""The real broker from the dev stack carries a RequestEvent intact, keyed by its edge."""

from __future__ import annotations

import os

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from google.protobuf.timestamp_pb2 import Timestamp

from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.schemas.edgekey import edge_key
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
