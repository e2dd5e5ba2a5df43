"""The Python floor's events: one exchange observed by httptools, its RequestEvent, and batching.

Benchmark-only. A batch is `MAGIC` followed by, per event, a 4-byte big-endian length and the
serialised RequestEvent. No meshpipe worker reads this format: the floor publishes it only to
measure what building and shipping every event costs a minimal Python relay.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2 as pb

MAGIC = b"MPFLOOR1"  # marks a benchmark-only batch
_LENGTH = struct.Struct(">I")
NS_PER_US = 1000


@dataclass
class Exchange:
    """One request and its response as the floor saw them (times: clock nanoseconds)."""

    method: str = ""
    path: str = ""
    authority: str = ""
    status: int = 0
    start_wall_ns: int = 0  # wall clock at the request's first byte
    start_ns: int = 0  # monotonic, request's first byte
    head_ns: int = 0  # monotonic, response headers complete
    end_ns: int = 0  # monotonic, response complete
    request_bytes: int = 0  # body bytes
    response_bytes: int = 0  # body bytes


@dataclass(frozen=True)
class FloorIdentity:
    """Who publishes: the floor's process id and the (fixed) workload it pretends to front."""

    proxy_id: str
    namespace: str = "bench"
    kind: str = "deployment"
    name: str = "floor"
    pod: str = "floor-0"


def build_event(exchange: Exchange, seq: int, who: FloorIdentity, peer_ip: str) -> bytes:
    """The serialised inbound RequestEvent for one finished HTTP/1.1 exchange."""
    failed = exchange.status >= 500 or exchange.status == 0
    event = pb.RequestEvent(
        id=os.urandom(16),
        proxy_id=who.proxy_id,
        proxy_seq=seq,
        direction=pb.INBOUND,
        source=pb.Workload(ip=peer_ip),
        destination=pb.Workload(
            namespace=who.namespace, kind=who.kind, name=who.name, pod=who.pod, meshed=True
        ),
        protocol=pb.HTTP1,
        method=exchange.method,
        scheme="http",
        authority=exchange.authority,
        path=exchange.path,
        http_status=exchange.status,
        latency_us=max(0, exchange.head_ns - exchange.start_ns) // NS_PER_US,
        duration_us=max(0, exchange.end_ns - exchange.start_ns) // NS_PER_US,
        request_bytes=exchange.request_bytes,
        response_bytes=exchange.response_bytes,
        classification=pb.FAILURE if failed else pb.SUCCESS,
        classification_reason=f"http_status={exchange.status}" if failed else "",
    )
    event.start.FromNanoseconds(exchange.start_wall_ns)
    return event.SerializeToString()


def encode_batch(events: list[bytes]) -> bytes:
    """MAGIC, then each event prefixed by its length (benchmark-only format)."""
    return MAGIC + b"".join(_LENGTH.pack(len(e)) + e for e in events)


def decode_batch(record: bytes) -> list[bytes]:
    """The events of a batch made by encode_batch (for tests and for checking a run)."""
    if not record.startswith(MAGIC):
        raise ValueError("not a floor batch")
    out, at = [], len(MAGIC)
    while at < len(record):
        (size,) = _LENGTH.unpack_from(record, at)
        at += _LENGTH.size
        if at + size > len(record):
            raise ValueError("truncated floor batch")
        out.append(record[at : at + size])
        at += size
    return out


class EventBuffer:
    """A bounded queue between traffic and the publisher: offering never blocks; when full the
    event is dropped and counted."""

    def __init__(self, capacity: int) -> None:
        self._queue: deque[bytes] = deque()
        self._capacity = capacity
        self._waiting = asyncio.Event()
        self.dropped = 0
        self.published = 0

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, event: bytes) -> bool:
        """Queue event; False (and counted as dropped) when the buffer is full."""
        if len(self._queue) >= self._capacity:
            self.dropped += 1
            return False
        self._queue.append(event)
        self._waiting.set()
        return True

    def take(self, most: int) -> list[bytes]:
        """Up to `most` of the oldest events."""
        n = min(most, len(self._queue))
        out = [self._queue.popleft() for _ in range(n)]
        if not self._queue:
            self._waiting.clear()
        return out

    async def wait(self) -> None:
        """Until at least one event is queued."""
        await self._waiting.wait()


@dataclass(frozen=True)
class BatchSettings:
    """How events are grouped into Kafka records."""

    per_record: int = 64  # events per record
    linger_s: float = 0.02  # wait this long for a record to fill before sending it part-full
    capacity: int = 65536  # events held while Kafka is slow or away; beyond that they drop


async def publish_batches(
    buffer: EventBuffer, send: Callable[[bytes], Awaitable[None]], settings: BatchSettings
) -> None:
    """Forever: take up to per_record events (lingering when fewer wait) and send them as one
    record. Only this task waits for Kafka; traffic only offers to the buffer."""
    while True:
        await buffer.wait()
        if len(buffer) < settings.per_record:
            await asyncio.sleep(settings.linger_s)
        events = buffer.take(settings.per_record)
        if events:
            await send(encode_batch(events))
            buffer.published += len(events)
