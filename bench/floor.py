"""The Python floor: a minimal HTTP/1.1 relay on uvloop + httptools, with or without events.

Benchmark-only, never a proxy to deploy: no timeouts, no header rewriting, no smuggling
defences, no HTTP/2. It shows what any Python relay costs per request on this machine, so the
proxy table can tell Python's share of meshproxy's cost from ours.

    python -m bench.floor --listen 127.0.0.1:P --upstream 127.0.0.1:Q [--kafka HOST:PORT --topic T]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

import uvloop
from aiokafka import AIOKafkaProducer

from bench.floor_events import (
    BatchSettings,
    EventBuffer,
    Exchange,
    FloorIdentity,
    build_event,
    encode_batch,
    publish_batches,
)
from bench.floor_observe import Observer

FORMAT_HEADER = ("meshpipe-bench-format", b"floor-batch/1")  # marks records no worker reads


class EventSink:
    """Turns finished exchanges into queued events (sequence numbers per process)."""

    def __init__(self, buffer: EventBuffer, who: FloorIdentity) -> None:
        self.buffer = buffer
        self._who = who
        self._seq = 0

    def exchange(self, exchange: Exchange, peer_ip: str) -> None:
        self._seq += 1
        self.buffer.offer(build_event(exchange, self._seq, self._who, peer_ip))


class _Upstream(asyncio.Protocol):
    """The origin side of one relayed connection."""

    def __init__(self, down: _Downstream) -> None:
        self._down = down

    def data_received(self, data: bytes) -> None:
        self._down.from_upstream(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._down.upstream_lost()

    def pause_writing(self) -> None:
        self._down.pause_reading()

    def resume_writing(self) -> None:
        self._down.resume_reading()


class _Downstream(asyncio.Protocol):
    """The client side: connects upstream, then forwards bytes both ways as they arrive."""

    def __init__(
        self, upstream: tuple[str, int], sink: EventSink | None, tasks: set[asyncio.Task[None]]
    ) -> None:
        self._upstream_addr = upstream
        self._sink = sink
        self._tasks = tasks
        self._client: asyncio.Transport | None = None
        self._origin: asyncio.Transport | None = None
        self._early: list[bytes] = []  # client bytes before the upstream connection is up
        self._peer_ip = ""
        self._observer = Observer(self._finished)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._client = cast("asyncio.Transport", transport)  # uvloop's is no asyncio subclass
        self._peer_ip = str(transport.get_extra_info("peername", ("", 0))[0])
        task = asyncio.get_running_loop().create_task(self._connect(), name="floor-upstream")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(
                lambda: _Upstream(self), *self._upstream_addr
            )
        except OSError:
            if self._client is not None:
                self._client.close()
            return
        self._origin = transport
        if self._early:
            transport.write(b"".join(self._early))
            self._early.clear()

    def data_received(self, data: bytes) -> None:
        if self._origin is None:
            self._early.append(data)
        else:
            self._origin.write(data)
        self._observer.request_data(data)

    def from_upstream(self, data: bytes) -> None:
        if self._client is not None:
            self._client.write(data)
        self._observer.response_data(data)

    def _finished(self, exchange: Exchange) -> None:
        if self._sink is not None:
            self._sink.exchange(exchange, self._peer_ip)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._origin is not None:
            self._origin.close()

    def upstream_lost(self) -> None:
        if self._client is not None:
            self._client.close()

    def pause_writing(self) -> None:
        if self._origin is not None:
            self._origin.pause_reading()

    def resume_writing(self) -> None:
        if self._origin is not None:
            self._origin.resume_reading()

    def pause_reading(self) -> None:
        if self._client is not None:
            self._client.pause_reading()

    def resume_reading(self) -> None:
        if self._client is not None:
            self._client.resume_reading()


@dataclass(frozen=True)
class FloorOptions:
    """The command line: where to listen, where the origin is, and Kafka (None: no events)."""

    listen: tuple[str, int]
    upstream: tuple[str, int]
    kafka: str | None
    topic: str
    batch: BatchSettings


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def parse_args(argv: list[str]) -> FloorOptions:
    """FloorOptions from argv (argparse exits with a usage message on bad input)."""
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--listen", type=_address, required=True, help="HOST:PORT")
    parser.add_argument("--upstream", type=_address, required=True, help="HOST:PORT")
    parser.add_argument("--kafka", help="bootstrap servers; without it no events are built")
    parser.add_argument("--topic", default="bench-floor")
    parser.add_argument("--per-record", type=int, default=BatchSettings.per_record)
    args = parser.parse_args(argv)
    if args.kafka is not None and not args.topic:
        parser.error("--kafka needs --topic")
    batch = BatchSettings(per_record=args.per_record)
    return FloorOptions(args.listen, args.upstream, args.kafka, args.topic, batch)


async def _serve(options: FloorOptions) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tasks: set[asyncio.Task[None]] = set()
    sink, producer, publisher = None, None, None
    if options.kafka is not None:
        sink = EventSink(EventBuffer(options.batch.capacity), FloorIdentity(uuid.uuid4().hex))
        producer = AIOKafkaProducer(
            bootstrap_servers=options.kafka, compression_type="lz4", linger_ms=5, acks=1
        )
        await producer.start()
        publisher = loop.create_task(
            publish_batches(sink.buffer, _sender(producer, options.topic), options.batch),
            name="floor-publisher",
        )
    make: Callable[[], asyncio.Protocol] = lambda: _Downstream(options.upstream, sink, tasks)  # noqa: E731
    server = await loop.create_server(make, *options.listen, backlog=1024)
    await stop.wait()
    server.close()
    if publisher is not None and producer is not None and sink is not None:
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_drain(sink.buffer, producer, options), 2.0)
        print(
            f"floor: events published {sink.buffer.published}, dropped {sink.buffer.dropped},"
            f" unsent {len(sink.buffer)}",
            file=sys.stderr,
        )


async def _drain(buffer: EventBuffer, producer: AIOKafkaProducer, options: FloorOptions) -> None:
    """Send what is still queued, then flush and stop the producer (bounded by the caller)."""
    send = _sender(producer, options.topic)
    while len(buffer):
        events = buffer.take(options.batch.per_record)
        await send(encode_batch(events))
        buffer.published += len(events)
    await producer.stop()


def _sender(producer: AIOKafkaProducer, topic: str) -> Callable[[bytes], Awaitable[None]]:
    async def send(record: bytes) -> None:
        # Waits only until aiokafka has queued the record (or its buffer has room again).
        await producer.send(topic, record, headers=[FORMAT_HEADER])

    return send


def main(argv: list[str] | None = None) -> None:
    """Run the floor until SIGTERM or SIGINT."""
    options = parse_args(sys.argv[1:] if argv is None else argv)
    uvloop.run(_serve(options))


if __name__ == "__main__":
    main()
