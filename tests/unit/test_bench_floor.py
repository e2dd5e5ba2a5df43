"""Unit tests for the Python floor (bench/floor*.py): observing, events, batches, never blocking."""

from __future__ import annotations

import asyncio
from itertools import count

import pytest

from bench.floor import FloorOptions, parse_args
from bench.floor_events import (
    MAGIC,
    BatchSettings,
    EventBuffer,
    Exchange,
    FloorIdentity,
    build_event,
    decode_batch,
    encode_batch,
    publish_batches,
)
from bench.floor_observe import Observer
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2 as pb

REQUEST = b"GET /items?id=7 HTTP/1.1\r\nHost: web:8080\r\nUser-Agent: t\r\n\r\n"
RESPONSE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy!"
POST = b"POST /up HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\n\r\nabc"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _observer() -> tuple[Observer, list[Exchange]]:
    seen: list[Exchange] = []
    ticks = count(1000, 1000)
    return Observer(
        seen.append, clock=lambda: next(ticks), wall=lambda: 1_700_000_000 * 10**9
    ), seen


def test_observer_reports_method_path_authority_status_and_body_sizes() -> None:
    observer, seen = _observer()
    observer.request_data(REQUEST)
    observer.response_data(RESPONSE)
    [exchange] = seen
    assert (exchange.method, exchange.path, exchange.authority) == (
        "GET",
        "/items?id=7",
        "web:8080",
    )
    assert (exchange.status, exchange.request_bytes, exchange.response_bytes) == (503, 0, 5)
    assert exchange.start_ns < exchange.head_ns <= exchange.end_ns


def test_observer_pairs_pipelined_requests_with_responses_in_order() -> None:
    observer, seen = _observer()
    observer.request_data(REQUEST + POST)
    observer.response_data(RESPONSE + OK)
    assert [(e.method, e.status, e.request_bytes) for e in seen] == [
        ("GET", 503, 0),
        ("POST", 200, 3),
    ]


def test_observer_follows_bytes_split_anywhere() -> None:
    observer, seen = _observer()
    for i in range(len(REQUEST)):
        observer.request_data(REQUEST[i : i + 1])
    observer.response_data(RESPONSE[:10])
    assert seen == []
    observer.response_data(RESPONSE[10:])
    assert [e.path for e in seen] == ["/items?id=7"]


def test_observer_stops_observing_after_a_parse_error_without_raising() -> None:
    observer, seen = _observer()
    observer.request_data(b"NOT HTTP AT ALL\r\n\r\n")
    observer.request_data(REQUEST)
    observer.response_data(OK)
    assert observer.broken
    assert seen == []


def test_event_of_a_failed_exchange_is_an_inbound_http1_failure() -> None:
    exchange = Exchange("GET", "/a", "web", 503, 5 * 10**9, 1_000, 3_000, 11_000, 0, 5)
    who = FloorIdentity("p1")
    event = pb.RequestEvent.FromString(build_event(exchange, 7, who, "127.0.0.1"))
    assert (event.proxy_id, event.proxy_seq, event.direction) == ("p1", 7, pb.INBOUND)
    assert (event.protocol, event.method, event.path, event.http_status) == (
        pb.HTTP1,
        "GET",
        "/a",
        503,
    )
    assert (event.latency_us, event.duration_us, event.response_bytes) == (2, 10, 5)
    assert (event.classification, event.classification_reason) == (pb.FAILURE, "http_status=503")
    assert event.start.seconds == 5
    assert len(event.id) == 16
    assert (event.destination.name, event.destination.meshed, event.source.ip) == (
        "floor",
        True,
        "127.0.0.1",
    )


def test_event_of_a_2xx_exchange_is_a_success_without_reason() -> None:
    exchange = Exchange("GET", "/", "web", 200)
    event = pb.RequestEvent.FromString(build_event(exchange, 1, FloorIdentity("p"), ""))
    assert (event.classification, event.classification_reason) == (pb.SUCCESS, "")


def test_batch_round_trips_events_in_order_behind_the_magic() -> None:
    events = [b"", b"a", b"\x00" * 300]
    record = encode_batch(events)
    assert record.startswith(MAGIC)
    assert decode_batch(record) == events


def test_decoding_a_truncated_or_foreign_batch_is_an_error() -> None:
    with pytest.raises(ValueError, match="truncated"):
        decode_batch(encode_batch([b"abcdef"])[:-1])
    with pytest.raises(ValueError, match="not a floor batch"):
        decode_batch(b"\x0a\x10")


def test_full_buffer_drops_and_counts_instead_of_waiting() -> None:
    buffer = EventBuffer(capacity=2)
    assert [buffer.offer(e) for e in (b"1", b"2", b"3", b"4")] == [True, True, False, False]
    assert (len(buffer), buffer.dropped) == (2, 2)
    assert buffer.take(64) == [b"1", b"2"]
    assert buffer.offer(b"5")


async def test_publisher_sends_full_records_of_per_record_events() -> None:
    buffer, sent, all_sent = EventBuffer(capacity=100), [], asyncio.Event()

    async def send(record: bytes) -> None:
        sent.append(decode_batch(record))
        if sum(len(r) for r in sent) == 10:
            all_sent.set()

    for i in range(10):
        buffer.offer(str(i).encode())
    settings = BatchSettings(per_record=4, linger_s=0)
    task = asyncio.create_task(publish_batches(buffer, send, settings))
    await asyncio.wait_for(all_sent.wait(), 5)
    task.cancel()
    assert [len(r) for r in sent] == [4, 4, 2]
    assert [e for r in sent for e in r] == [str(i).encode() for i in range(10)]


async def test_traffic_keeps_offering_while_the_sender_is_stuck() -> None:
    buffer, stuck = EventBuffer(capacity=3), asyncio.Event()

    async def send(record: bytes) -> None:
        await stuck.wait()  # Kafka away: the publisher waits, traffic must not

    buffer.offer(b"first")
    task = asyncio.create_task(
        publish_batches(buffer, send, BatchSettings(per_record=1, linger_s=0))
    )
    await asyncio.sleep(0.01)
    accepted = [buffer.offer(b"x") for _ in range(5)]
    task.cancel()
    assert accepted == [True, True, True, False, False]
    assert buffer.dropped == 2


def test_command_line_without_kafka_builds_no_events() -> None:
    options = parse_args(["--listen=127.0.0.1:1", "--upstream=127.0.0.1:2"])
    assert options == FloorOptions(
        ("127.0.0.1", 1), ("127.0.0.1", 2), None, "bench-floor", BatchSettings()
    )
