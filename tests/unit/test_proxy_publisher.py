"""Queue policy of the event publisher, against an in-memory sender."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from meshpipe.proxy.publisher import EventPublisher, PublisherSettings, Record, SendError
from meshpipe.schemas import eventbatch
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


class FakeSender:
    """Collects batches; can refuse to start, fail sends, or hold them until released."""

    def __init__(self, fail_sends: int = 0, fail_starts: int = 0) -> None:
        self.batches: list[list[Record]] = []
        self.fail_sends = fail_sends
        self.fail_starts = fail_starts
        self.gate = asyncio.Event()
        self.gate.set()
        self.starts = 0
        self.stops = 0

    async def start(self) -> None:
        self.starts += 1
        if self.fail_starts:
            self.fail_starts -= 1
            raise SendError("down")

    async def send_batch(self, records: Sequence[Record]) -> None:
        await self.gate.wait()
        if self.fail_sends:
            self.fail_sends -= 1
            raise SendError("broker went away")
        self.batches.append(list(records))

    async def stop(self) -> None:
        self.stops += 1

    def records(self) -> list[Record]:
        return [record for batch in self.batches for record in batch]

    def seqs(self) -> list[int]:
        return [
            event.proxy_seq
            for record in self.records()
            for event in eventbatch.decode_record(record.value, record.headers)
        ]


def event(seq: int) -> meshpipe_pb2.RequestEvent:
    return meshpipe_pb2.RequestEvent(proxy_seq=seq, method="GET")


def key(e: meshpipe_pb2.RequestEvent) -> bytes:
    return f"k{e.proxy_seq}".encode()


def settings(
    max_queue: int = 100, max_batch: int = 10, record_events: int = 256, record_bytes: int = 1 << 18
) -> PublisherSettings:
    return PublisherSettings(
        max_queue=max_queue,
        max_batch=max_batch,
        retry_backoff_s=0,
        max_retry_backoff_s=0,
        max_record_events=record_events,
        max_record_bytes=record_bytes,
    )


async def wait_for(predicate: Callable[[], bool], rounds: int = 1000) -> None:
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


def test_full_queue_drops_oldest_and_counts_them() -> None:
    pub = EventPublisher(FakeSender(), key, settings(max_queue=3))
    for seq in range(1, 6):
        pub.publish(event(seq))
    assert pub.depth == 3
    assert pub.dropped == 2
    assert [(k, meshpipe_pb2.RequestEvent.FromString(v).proxy_seq) for k, v in pub._queue] == [
        (b"k3", 3),
        (b"k4", 4),
        (b"k5", 5),
    ]


async def test_an_event_is_sent_as_it_was_when_published() -> None:
    sender = FakeSender()
    pub = EventPublisher(sender, key, settings())
    published = event(1)
    pub.publish(published)
    published.method = "POST"  # the queue holds the encoded event, not the object
    await pub.start()
    await wait_for(lambda: pub.published == 1)
    [record] = sender.records()
    [sent] = eventbatch.decode_record(record.value, record.headers)
    assert (record.key, sent.method) == (b"k1", "GET")
    await pub.stop(flush_timeout_s=1)


async def test_an_event_without_an_edge_key_is_dropped_and_counted_not_raised() -> None:
    def refuse_seq_2(e: meshpipe_pb2.RequestEvent) -> bytes:
        if e.proxy_seq == 2:
            raise ValueError("bad workload identity")
        return key(e)

    sender = FakeSender()
    pub = EventPublisher(sender, refuse_seq_2, settings())
    for seq in (1, 2, 3):
        pub.publish(event(seq))
    await pub.start()
    await wait_for(lambda: pub.published == 2)
    assert (sender.seqs(), pub.dropped) == ([1, 3], 1)
    await pub.stop(flush_timeout_s=1)


async def test_started_publisher_delivers_events_in_order_with_their_keys() -> None:
    sender = FakeSender()
    pub = EventPublisher(sender, key, settings())
    await pub.start()
    for seq in range(1, 26):
        pub.publish(event(seq))
    await wait_for(lambda: pub.published == 25)
    assert sender.seqs() == list(range(1, 26))
    assert sender.batches[0][0][0] == b"k1"
    assert pub.depth == 0
    await pub.stop(flush_timeout_s=1)


async def test_batches_never_exceed_max_batch() -> None:
    sender = FakeSender()
    pub = EventPublisher(sender, key, settings(max_batch=4))
    for seq in range(1, 11):
        pub.publish(event(seq))
    await pub.start()
    await wait_for(lambda: pub.published == 10)
    assert [sum(r.events for r in b) for b in sender.batches] == [4, 4, 2]
    await pub.stop(flush_timeout_s=1)


async def test_failed_batch_is_retried_without_loss_or_reordering() -> None:
    sender = FakeSender(fail_sends=2)
    pub = EventPublisher(sender, key, settings())
    await pub.start()
    for seq in range(1, 6):
        pub.publish(event(seq))
    await wait_for(lambda: pub.published == 5)
    assert sender.seqs() == [1, 2, 3, 4, 5]
    assert pub.dropped == 0
    await pub.stop(flush_timeout_s=1)


async def test_unreachable_kafka_at_start_is_retried_until_it_comes_back() -> None:
    sender = FakeSender(fail_starts=3)
    pub = EventPublisher(sender, key, settings())
    await pub.start()
    pub.publish(event(1))
    await wait_for(lambda: pub.published == 1)
    assert sender.starts == 4
    await pub.stop(flush_timeout_s=1)


async def test_failed_batch_put_back_into_a_refilled_queue_drops_the_oldest() -> None:
    sender = FakeSender(fail_sends=1)
    sender.gate.clear()
    pub = EventPublisher(sender, key, settings(max_queue=4, max_batch=2))
    pub.publish(event(1))
    pub.publish(event(2))
    await pub.start()
    await wait_for(lambda: pub.depth == 0)  # batch [1, 2] is in flight
    for seq in range(3, 7):
        pub.publish(event(seq))
    sender.gate.set()  # the in-flight batch now fails and goes back in front
    await wait_for(lambda: pub.published == 4)
    assert pub.dropped == 2
    assert sender.seqs() == [3, 4, 5, 6]
    await pub.stop(flush_timeout_s=1)


async def test_stop_flushes_queued_events() -> None:
    sender = FakeSender()
    pub = EventPublisher(sender, key, settings(max_batch=3))
    await pub.start()
    for seq in range(1, 8):
        pub.publish(event(seq))
    left = await pub.stop(flush_timeout_s=5)
    assert left == 0
    assert sender.seqs() == list(range(1, 8))
    assert sender.stops == 1


async def test_stop_gives_up_after_its_timeout_and_reports_what_was_left() -> None:
    sender = FakeSender()
    sender.gate.clear()  # Kafka never answers
    pub = EventPublisher(sender, key, settings(max_batch=2))
    await pub.start()
    for seq in range(1, 6):
        pub.publish(event(seq))
    left = await pub.stop(flush_timeout_s=0.01)
    assert left == 5
    assert pub.published == 0


def edge_of_seq(e: meshpipe_pb2.RequestEvent) -> bytes:
    """Two edges: odd and even sequence numbers."""
    return b"odd" if e.proxy_seq % 2 else b"even"


async def test_queued_events_of_one_edge_travel_in_one_batch_record_per_send() -> None:
    sender = FakeSender()
    pub = EventPublisher(sender, edge_of_seq, settings(max_batch=100))
    for seq in range(1, 11):
        pub.publish(event(seq))
    await pub.start()
    await wait_for(lambda: pub.published == 10)
    [batch] = sender.batches
    assert [(r.key, r.events) for r in batch] == [(b"odd", 5), (b"even", 5)]
    assert all(r.headers == eventbatch.BATCH_HEADERS for r in batch)
    assert sender.seqs() == [1, 3, 5, 7, 9, 2, 4, 6, 8, 10]  # each edge in queue order
    assert pub.records == 2
    await pub.stop(flush_timeout_s=1)


async def test_an_event_alone_in_the_queue_leaves_at_once_in_a_record_of_its_own() -> None:
    sender = FakeSender()
    pub = EventPublisher(sender, edge_of_seq, settings())
    await pub.start()
    pub.publish(event(1))
    await wait_for(lambda: pub.published == 1)
    assert [(r.key, r.events) for r in sender.records()] == [(b"odd", 1)]
    pub.publish(event(3))
    await wait_for(lambda: pub.published == 2)
    assert [r.events for r in sender.records()] == [1, 1]
    await pub.stop(flush_timeout_s=1)


async def test_records_stay_within_the_event_and_byte_caps() -> None:
    sender = FakeSender()
    size = len(event(1).SerializeToString())
    pub = EventPublisher(
        sender,
        lambda e: b"one-edge",
        settings(max_batch=100, record_events=4, record_bytes=size * 3),
    )
    for seq in range(1, 11):
        pub.publish(event(seq))
    await pub.start()
    await wait_for(lambda: pub.published == 10)
    assert [r.events for r in sender.records()] == [3, 3, 3, 1]
    assert sender.seqs() == list(range(1, 11))
    await pub.stop(flush_timeout_s=1)
