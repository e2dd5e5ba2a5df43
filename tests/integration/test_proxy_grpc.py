"""grpcio client ↔ grpcio server through meshproxy (one hop and the sidecar pair), with the
request events read back from the real Kafka topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import grpc
import pytest
from test_proxy_relay import API, LOOPBACK, WEB, consume, meshproxy

from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.proxy.layer import Address
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS

pytestmark = pytest.mark.integration

SERVICE = "test.Echo"
BIG = 10 * 1024 * 1024
OPTIONS = [
    ("grpc.max_receive_message_length", 2 * BIG),
    ("grpc.max_send_message_length", 2 * BIG),
]
Metadata = Sequence[tuple[str, str | bytes]]


def _app_visible(metadata: Metadata) -> list[str]:
    return [key for key, _ in metadata if key.startswith("meshpipe-")]


class Echo:
    """The gRPC application: every call shape, metadata echo and a failing method."""

    def __init__(self) -> None:
        self.seen_metadata: list[Metadata] = []

    async def unary(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        metadata = tuple(context.invocation_metadata() or ())
        self.seen_metadata.append(metadata)
        blob = dict(metadata).get("x-blob-bin", b"")
        context.set_trailing_metadata((("x-echo-bin", blob),))
        return b"echo:" + request[:16] + b":" + str(len(request)).encode()

    async def watch(
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        for i in range(int(request)):
            yield b"update %d" % i

    async def upload(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> bytes:
        return b"%d" % sum([len(r) async for r in requests])

    async def chat(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        async for request in requests:
            yield b"re:" + request

    async def missing(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such cart")
        raise AssertionError("abort returns never")

    async def slow(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await asyncio.sleep(10)
        return b"late"

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
                "Watch": grpc.unary_stream_rpc_method_handler(self.watch),
                "Upload": grpc.stream_unary_rpc_method_handler(self.upload),
                "Chat": grpc.stream_stream_rpc_method_handler(self.chat),
                "Missing": grpc.unary_unary_rpc_method_handler(self.missing),
                "Slow": grpc.unary_unary_rpc_method_handler(self.slow),
            },
        )


@asynccontextmanager
async def grpc_app() -> AsyncIterator[tuple[Address, Echo]]:
    echo = Echo()
    server = grpc.aio.server(options=OPTIONS)
    server.add_generic_rpc_handlers((echo.handler(),))
    port = server.add_insecure_port(f"{LOOPBACK}:0")
    await server.start()
    try:
        yield Address(LOOPBACK, port), echo
    finally:
        await server.stop(grace=None)


def method(channel: grpc.aio.Channel, name: str) -> str:
    return f"/{SERVICE}/{name}"


async def every_call_shape(channel: grpc.aio.Channel) -> None:
    """Unary with -bin metadata, a 10 MiB message, the three streaming kinds and an error."""
    unary = channel.unary_unary(method(channel, "Unary"))
    call = unary(b"hello", metadata=(("x-blob-bin", b"\x00\x01\xfe\xff"),))
    assert await call == b"echo:hello:5"
    assert ("x-echo-bin", b"\x00\x01\xfe\xff") in tuple(await call.trailing_metadata() or ())
    assert _app_visible(tuple(await call.initial_metadata() or ())) == []
    big = bytes(range(256)) * (BIG // 256)
    assert await unary(big) == b"echo:" + big[:16] + b":" + str(BIG).encode()
    watch = channel.unary_stream(method(channel, "Watch"))
    assert [m async for m in watch(b"50")] == [b"update %d" % i for i in range(50)]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"z" * 100_000

    upload = channel.stream_unary(method(channel, "Upload"))
    assert await upload(chunks()) == b"4000000"
    chat = channel.stream_stream(method(channel, "Chat"))
    bidi = chat()
    for i in range(5):
        await bidi.write(b"m%d" % i)
        assert await bidi.read() == b"re:m%d" % i
    await bidi.done_writing()
    assert await bidi.read() == grpc.aio.EOF
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await channel.unary_unary(method(channel, "Missing"))(b"x")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing.value.details() == "no such cart"


CALLS = 6  # the calls every_call_shape makes


def by_path(events: list[meshpipe_pb2.RequestEvent]) -> dict[str, list[meshpipe_pb2.RequestEvent]]:
    out: dict[str, list[meshpipe_pb2.RequestEvent]] = {}
    for event in events:
        out.setdefault(event.path.rsplit("/", 1)[-1], []).append(event)
    return out


async def test_grpc_call_shapes_through_inbound_each_publish_one_event(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with (
        grpc_app() as (app, echo),
        meshproxy(API, kafka_bootstrap, topic, app) as proxy,
        grpc.aio.insecure_channel(str(proxy.bound("inbound")), options=OPTIONS) as ch,
    ):
        await every_call_shape(ch)
    assert all(_app_visible(md) == [] for md in echo.seen_metadata)
    events = [e for _, e in await consume(kafka_bootstrap, topic, CALLS)]
    assert sorted(e.proxy_seq for e in events) == list(range(1, CALLS + 1))
    paths = by_path(events)
    assert {k: len(v) for k, v in paths.items()} == {
        "Unary": 2, "Watch": 1, "Upload": 1, "Chat": 1, "Missing": 1,
    }  # fmt: skip
    assert all(e.protocol == meshpipe_pb2.GRPC and e.http_status == 200 for e in events)
    assert [e.grpc_status for e in paths["Missing"]] == [5]  # from the Trailers-Only response
    assert max(e.request_bytes for e in paths["Unary"]) == BIG + 5  # gRPC framing adds 5
    assert paths["Upload"][0].request_bytes == 40 * (100_000 + 5)
    assert paths["Watch"][0].response_bytes == sum(len(b"update %d" % i) + 5 for i in range(50))
    ok = [e for e in events if e.path != f"/{SERVICE}/Missing"]
    assert all(e.grpc_status == 0 and e.classification == meshpipe_pb2.SUCCESS for e in ok)
    assert all(e.duration_us >= e.latency_us > 0 for e in events)


async def test_grpc_through_the_sidecar_pair_carries_identity_and_hides_it(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with (
        grpc_app() as (app, echo),
        meshproxy(API, kafka_bootstrap, topic, app) as api_side,
        meshproxy(WEB, kafka_bootstrap, topic, None) as web_side,
    ):
        options = [*OPTIONS, ("grpc.http_proxy", f"http://{web_side.bound('outbound')}")]
        target = str(api_side.bound("inbound"))
        async with grpc.aio.insecure_channel(target, options=options) as ch:
            await every_call_shape(ch)
    assert echo.seen_metadata
    assert all(_app_visible(md) == [] for md in echo.seen_metadata)
    events = [e for _, e in await consume(kafka_bootstrap, topic, 2 * CALLS)]
    out = [e for e in events if e.direction == meshpipe_pb2.OUTBOUND]
    inb = [e for e in events if e.direction == meshpipe_pb2.INBOUND]
    assert len(out) == len(inb) == CALLS
    assert all((e.source.name, e.destination.name, e.destination.meshed) == (
        "web", "api", True) for e in out)  # fmt: skip
    assert all((e.source.name, e.source.pod, e.destination.name) == (
        "web", "web-1", "api") for e in inb)  # fmt: skip
    assert sorted(e.grpc_status for e in out) == sorted(e.grpc_status for e in inb)


async def test_grpc_deadline_and_unreachable_app_end_as_failed_events(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with (
        grpc_app() as (app, _),
        meshproxy(API, kafka_bootstrap, topic, app) as proxy,
        grpc.aio.insecure_channel(str(proxy.bound("inbound"))) as ch,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await ch.unary_unary(method(ch, "Slow"))(b"x", timeout=0.3)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    async with grpc_app() as (gone, _):
        pass  # its port refuses from now on
    async with (
        meshproxy(API, kafka_bootstrap, topic, gone) as proxy,
        grpc.aio.insecure_channel(str(proxy.bound("inbound"))) as ch,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as down:
            await ch.unary_unary(method(ch, "Unary"))(b"x", timeout=5)
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    events = {e.path: e for _, e in await consume(kafka_bootstrap, topic, 2)}
    slow, unary = events[f"/{SERVICE}/Slow"], events[f"/{SERVICE}/Unary"]
    assert slow.classification == unary.classification == meshpipe_pb2.FAILURE
    # Whoever notices the 0.3 s deadline first ends the call: the client (cancel: a reset), the
    # proxy (an error) or the app's own gRPC server (DEADLINE_EXCEEDED in its trailers).
    end = slow.WhichOneof("end")
    assert end in ("reset_code", "error") or (end, slow.grpc_status) == ("grpc_status", 4)
    assert (unary.error.kind, unary.http_status) == ("connect_refused", 200)
