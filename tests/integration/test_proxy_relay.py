"""meshproxy through real sockets and real clients, events read back from the real Kafka topic."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.proxy.layer import Address
from meshpipe.proxy.publisher import EventPublisher, KafkaSender, KafkaSettings, PublisherSettings
from meshpipe.proxy.server import ProxyServer
from meshpipe.proxy.settings import Listener, ServerSettings
from meshpipe.schemas import eventbatch
from meshpipe.schemas.edgekey import edge_key
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import WorkloadId, WorkloadInstance
from meshpipe.schemas.topics import REQUESTS

pytestmark = pytest.mark.integration

LOOPBACK = "127.0.0.1"
WEB = WorkloadInstance(WorkloadId("emojivoto", "deployment", "web"), "web-1")
API = WorkloadInstance(WorkloadId("emojivoto", "deployment", "api"), "api-1")


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text="hello world")


async def _headers(request: web.Request) -> web.Response:
    return web.json_response({k.lower(): v for k, v in request.headers.items()})


async def _echo(request: web.Request) -> web.Response:
    total = 0
    async for chunk in request.content.iter_any():
        total += len(chunk)
    return web.json_response({"received": total})


async def _stream(request: web.Request) -> web.StreamResponse:
    size = int(request.query["bytes"])
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    block = b"x" * 65536
    for start in range(0, size, len(block)):
        await response.write(block[: size - start])
    await response.write_eof()
    return response


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(f"echo {message.data}")
    return ws


async def _slow(request: web.Request) -> web.Response:
    request.app[ARRIVED].set()
    await asyncio.sleep(float(request.query["s"]))
    return web.Response(text="slow")


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status")


ARRIVED = web.AppKey("arrived", asyncio.Event)


@asynccontextmanager
async def origin(arrived: asyncio.Event | None = None) -> AsyncIterator[Address]:
    """An aiohttp application server on a free loopback port; arrived is set by /slow."""
    app = web.Application()
    app[ARRIVED] = arrived or asyncio.Event()
    app.add_routes(
        [
            web.get("/hello", _hello),
            web.get("/headers", _headers),
            web.post("/echo", _echo),
            web.get("/stream", _stream),
            web.get("/status/{code}", _status),
            web.get("/ws", _websocket),
            web.get("/slow", _slow),
        ]
    )
    runner = web.AppRunner(app, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Address(LOOPBACK, port)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def meshproxy(
    workload: WorkloadInstance, bootstrap: str, topic: str, app: Address | None
) -> AsyncIterator[ProxyServer]:
    """An in-process proxy: inbound in front of app when given, else an explicit outbound."""
    if app is not None:
        listener = Listener("inbound", Address(LOOPBACK, 0), meshpipe_pb2.INBOUND, app)
    else:
        listener = Listener("outbound", Address(LOOPBACK, 0), meshpipe_pb2.OUTBOUND, None)
    settings = ServerSettings(
        workload=workload,
        proxy_id=f"test-{workload.workload.name}",
        listeners=(listener,),
        admin=Address(LOOPBACK, 0),
        drain_timeout_s=5,
    )
    kafka = KafkaSettings(bootstrap=bootstrap, topic=topic, linger_ms=5)
    publisher = EventPublisher(KafkaSender(kafka), edge_key, PublisherSettings())
    server = ProxyServer(settings, publisher)
    await server.start()
    try:
        yield server
    finally:
        await server.shutdown()


async def consume(
    bootstrap: str, topic: str, count: int
) -> list[tuple[bytes, meshpipe_pb2.RequestEvent]]:
    """The first count request events of the topic, batched or not (waits up to 60 s for them);
    connection reports, which a proxy sends every 10 s while it has connections, are left out."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list[tuple[bytes, meshpipe_pb2.RequestEvent]] = []
    try:
        async with asyncio.timeout(60):
            while len(out) < count:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    decoded = [
                        (r.key, event)
                        for r in records
                        for event in eventbatch.decode_record(r.value, r.headers)
                    ]
                    out += [(k, e) for k, e in decoded if not e.HasField("connections")]
    finally:
        await consumer.stop()
    return out


async def curl(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", "20", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def test_curl_through_inbound_gets_the_response_and_one_event(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with origin() as app, meshproxy(API, kafka_bootstrap, topic, app) as proxy:
        inbound = proxy.bound("inbound")
        rc, body = await curl(f"http://{inbound}/hello?x=1")
        assert (rc, body) == (0, "hello world")
    [(key, ev)] = await consume(kafka_bootstrap, topic, 1)
    assert (ev.direction, ev.protocol, ev.method, ev.path) == (
        meshpipe_pb2.INBOUND, meshpipe_pb2.HTTP1, "GET", "/hello?x=1",
    )  # fmt: skip
    assert (ev.http_status, ev.response_bytes, ev.proxy_seq) == (200, 11, 1)
    assert ev.authority == str(inbound)
    assert (ev.destination.name, ev.destination.port, ev.destination.meshed) == (
        "api", app.port, True,
    )  # fmt: skip
    assert (ev.source.ip, ev.source.meshed) == (LOOPBACK, False)
    assert ev.classification == meshpipe_pb2.SUCCESS
    assert ev.duration_us >= ev.latency_us > 0
    assert key == edge_key(ev)


def _send_then_half_close(address: Address, data: bytes) -> bytes:
    """Send data, shut down writing (TCP half-close), read until the proxy closes."""
    with socket.create_connection((address.host, address.port), timeout=20) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


async def test_pipelined_requests_then_a_half_close_get_every_response_and_event(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    request = b"GET /hello HTTP/1.1\r\nHost: api\r\n\r\n"
    async with origin() as app, meshproxy(API, kafka_bootstrap, topic, app) as proxy:
        received = await asyncio.to_thread(
            _send_then_half_close, proxy.bound("inbound"), request * 3
        )
    assert received.count(b"HTTP/1.1 200 OK") == 3
    assert received.endswith(b"hello world")
    events = [ev for _, ev in await consume(kafka_bootstrap, topic, 3)]
    assert [(ev.proxy_seq, ev.http_status, ev.classification) for ev in events] == [
        (seq, 200, meshpipe_pb2.SUCCESS) for seq in (1, 2, 3)
    ]


async def test_malformed_request_line_is_answered_400_by_the_proxy_with_an_event(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    request = b"GET  /hello  HTTP/1.1\r\nHost: api\r\n\r\n"
    async with origin() as app, meshproxy(API, kafka_bootstrap, topic, app) as proxy:
        received = await asyncio.to_thread(_send_then_half_close, proxy.bound("inbound"), request)
    assert received.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert received.endswith(b"meshproxy: malformed request line\n")  # not the app's own 400
    [(_, ev)] = await consume(kafka_bootstrap, topic, 1)
    assert (ev.protocol, ev.http_status, ev.error.kind) == (
        meshpipe_pb2.HTTP1, 400, "bad_request",
    )  # fmt: skip


@asynccontextmanager
async def raw_origin(received: bytearray) -> AsyncIterator[Address]:
    """An app that keeps the bytes of one chunked request (up to its trailer end) and says ok."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not (b"\r\n0\r\n" in received and received.endswith(b"\r\n\r\n")):
            data = await reader.read(65536)
            if not data:
                break
            received.extend(data)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, LOOPBACK, 0)
    try:
        yield Address(LOOPBACK, server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def test_framing_fields_in_request_trailers_never_reach_the_app(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    request = (
        b"POST /up HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nContent-Length: 50\r\nX-Checksum: 1\r\n\r\n"
    )
    received = bytearray()
    async with raw_origin(received) as app, meshproxy(API, kafka_bootstrap, topic, app) as proxy:
        answer = await asyncio.to_thread(_send_then_half_close, proxy.bound("inbound"), request)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n")
    assert b"content-length" not in received.lower()
    [(_, ev)] = await consume(kafka_bootstrap, topic, 1)
    assert (ev.http_status, ev.request_bytes, ev.trailer_fields_dropped) == (200, 3, 1)


async def test_sidecar_pair_carries_identity_both_ways_and_hides_it_from_the_apps(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with (
        origin() as app,
        meshproxy(API, kafka_bootstrap, topic, app) as api_side,
        meshproxy(WEB, kafka_bootstrap, topic, None) as web_side,
    ):
        target = api_side.bound("inbound")
        outbound = web_side.bound("outbound")
        rc, body = await curl("-i", "-x", f"http://{outbound}", f"http://{target}/headers")
    assert rc == 0
    assert "meshpipe" not in body.lower()  # neither the app's request nor the client's response
    events = {e.direction: e for _, e in await consume(kafka_bootstrap, topic, 2)}
    out, inb = events[meshpipe_pb2.OUTBOUND], events[meshpipe_pb2.INBOUND]
    assert (out.source.name, out.source.pod, out.destination.name, out.destination.meshed) == (
        "web", "web-1", "api", True,
    )  # fmt: skip
    assert (inb.source.name, inb.source.pod, inb.source.meshed, inb.destination.name) == (
        "web", "web-1", True, "api",
    )  # fmt: skip
    assert out.authority == inb.authority == str(target)
    assert out.http_status == inb.http_status == 200


async def test_python_client_keep_alive_streams_bodies_both_ways_with_gapless_seqs(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    size = 8 * 1024 * 1024

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(size // 65536):
            yield b"y" * 65536

    async with (
        origin() as app,
        meshproxy(API, kafka_bootstrap, topic, app) as proxy,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session,
    ):
        base = f"http://{proxy.bound('inbound')}"
        async with session.post(f"{base}/echo", data=upload()) as resp:
            assert json.loads(await resp.text()) == {"received": size}
        async with session.get(f"{base}/stream", params={"bytes": str(size)}) as resp:
            assert len(await resp.read()) == size
        async with session.head(f"{base}/hello") as resp:
            assert resp.status == 200
        async with session.get(f"{base}/status/503") as resp:
            assert resp.status == 503
    events = sorted(
        (e for _, e in await consume(kafka_bootstrap, topic, 4)), key=lambda e: e.proxy_seq
    )
    assert [e.proxy_seq for e in events] == [1, 2, 3, 4]
    assert (events[0].request_bytes, events[1].response_bytes) == (size, size)
    assert (events[2].method, events[2].response_bytes) == ("HEAD", 0)
    assert (events[3].classification, events[3].classification_reason) == (
        meshpipe_pb2.FAILURE, "http_status=503",
    )  # fmt: skip
    assert len({e.source.port for e in events}) == 1  # one kept-alive client connection


async def test_refused_upstream_is_a_502_with_the_error_in_the_event(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with origin() as app:
        closed = app  # the origin is gone once this block ends: its port refuses
    async with meshproxy(API, kafka_bootstrap, topic, closed) as proxy:
        rc, body = await curl(
            "-o", "/dev/null", "-w", "%{http_code}", f"http://{proxy.bound('inbound')}/"
        )
        assert (rc, body) == (0, "502")
    [(_, ev)] = await consume(kafka_bootstrap, topic, 1)
    assert (ev.http_status, ev.error.kind, ev.classification) == (
        502, "connect_refused", meshpipe_pb2.FAILURE,
    )  # fmt: skip


async def test_admin_serves_linkerd_metrics_readiness_and_liveness(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with origin() as app, meshproxy(API, kafka_bootstrap, topic, app) as proxy:
        await curl(f"http://{proxy.bound('inbound')}/hello")
        admin = f"http://{proxy.bound('admin')}"
        for _ in range(100):  # until the event is acknowledged by Kafka
            if proxy.publisher.published:
                break
            await asyncio.sleep(0.1)
        rc, metrics = await curl(f"{admin}/metrics")
        _, ready = await curl("-w", " %{http_code}", f"{admin}/ready")
        _, live = await curl("-w", " %{http_code}", f"{admin}/live")
    assert rc == 0
    assert 'request_total{authority="' in metrics
    assert "response_total{" in metrics
    assert 'status_code="200"' in metrics
    assert "response_latency_ms_bucket{" in metrics
    assert 'tcp_open_connections{direction="inbound"}' in metrics
    assert "events_published_total 1.0" in metrics
    assert "events_dropped_total 0.0" in metrics
    assert "event_queue_depth 0.0" in metrics
    assert (ready, live) == ("ready\n 200", "live\n 200")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def _forward(kafka: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    host, port = kafka.rsplit(":", 1)
    up_reader, up_writer = await asyncio.open_connection(host, int(port))
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)


async def test_a_sidecar_freezes_its_startup_heap_and_still_relays(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    """Startup objects leave the collected generations (issue 16: young collections scanned
    them on the request path); traffic is relayed and its events published as before."""
    async with origin() as app:
        listener = Listener("inbound", Address(LOOPBACK, 0), meshpipe_pb2.INBOUND, app)
        settings = ServerSettings(
            workload=API,
            proxy_id="test-freeze",
            listeners=(listener,),
            admin=Address(LOOPBACK, 0),
            freeze_startup_heap=True,
        )
        kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic=topics.name(REQUESTS), linger_ms=5)
        server = ProxyServer(
            settings, EventPublisher(KafkaSender(kafka), edge_key, PublisherSettings())
        )
        frozen_before = gc.get_freeze_count()
        try:
            await server.start()
            frozen = gc.get_freeze_count()
            status, body = await curl(f"http://{server.bound('inbound')}/hello")
        finally:
            await server.shutdown()
            gc.unfreeze()  # the test process's heap is not a sidecar's: leave it as found
    assert frozen_before == 0
    assert frozen > 0
    assert (status, body) == (0, "hello world")
    events = await consume(kafka_bootstrap, topics.name(REQUESTS), 1)
    assert [e.http_status for _, e in events] == [200]


async def test_kafka_unreachable_leaves_traffic_alone_drops_oldest_and_recovers(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    """Kafka's bootstrap address refuses at first, then forwards to the real broker."""
    topic = topics.name(REQUESTS)
    port = free_port()
    async with origin() as app:
        listener = Listener("inbound", Address(LOOPBACK, 0), meshpipe_pb2.INBOUND, app)
        settings = ServerSettings(
            workload=API, proxy_id="test-down", listeners=(listener,), admin=Address(LOOPBACK, 0)
        )
        kafka = KafkaSettings(bootstrap=f"{LOOPBACK}:{port}", topic=topic, linger_ms=5)
        queue = PublisherSettings(max_queue=5, retry_backoff_s=0.05, max_retry_backoff_s=0.2)
        server = ProxyServer(settings, EventPublisher(KafkaSender(kafka), edge_key, queue))
        await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(20):
                    async with session.get(f"http://{server.bound('inbound')}/hello") as resp:
                        assert resp.status == 200
            assert (server.publisher.dropped, server.publisher.depth) == (15, 5)
            _, metrics = await curl(f"http://{server.bound('admin')}/metrics")
            assert "events_dropped_total 15.0" in metrics
            forwarder = await asyncio.start_server(
                lambda r, w: _forward(kafka_bootstrap, r, w), LOOPBACK, port
            )
            async with forwarder:
                events = await consume(kafka_bootstrap, topic, 5)
        finally:
            await server.shutdown()
    assert sorted(e.proxy_seq for _, e in events) == [16, 17, 18, 19, 20]


async def test_connect_tunnel_through_the_pair_gets_requests_detected_inside(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with (
        origin() as app,
        meshproxy(API, kafka_bootstrap, topic, app) as api_side,
        meshproxy(WEB, kafka_bootstrap, topic, None) as web_side,
    ):
        target, outbound = api_side.bound("inbound"), web_side.bound("outbound")
        rc, body = await curl("-p", "-x", f"http://{outbound}", f"http://{target}/hello")
    assert (rc, body) == (0, "hello world")
    events = {e.direction: e for _, e in await consume(kafka_bootstrap, topic, 2)}
    out = events[meshpipe_pb2.OUTBOUND]
    assert (out.protocol, out.path, out.http_status) == (meshpipe_pb2.HTTP1, "/hello", 200)
    assert (out.destination.name, out.destination.port) == ("api", target.port)
    assert events[meshpipe_pb2.INBOUND].source.name == "web"


async def test_curl_upload_with_expect_continue_through_the_pair(
    kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> None:
    topic = topics.name(REQUESTS)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"z" * 3_000_000)
    async with (
        origin() as app,
        meshproxy(API, kafka_bootstrap, topic, app) as api_side,
        meshproxy(WEB, kafka_bootstrap, topic, None) as web_side,
    ):
        target, outbound = api_side.bound("inbound"), web_side.bound("outbound")
        rc, body = await curl(
            "-x", f"http://{outbound}", "-H", "Expect: 100-continue",
            "--data-binary", f"@{upload}", f"http://{target}/echo",
        )  # fmt: skip
    assert rc == 0
    assert json.loads(body) == {"received": 3_000_000}
    events = [e for _, e in await consume(kafka_bootstrap, topic, 2)]
    assert [e.request_bytes for e in events] == [3_000_000, 3_000_000]


async def test_websocket_is_relayed_after_101_and_reported_when_closed(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with (
        origin() as app,
        meshproxy(API, kafka_bootstrap, topic, app) as proxy,
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://{proxy.bound('inbound')}/ws") as ws,
    ):
        await ws.send_str("ping")
        reply = await ws.receive_str()
        await ws.close()
    assert reply == "echo ping"
    [(_, ev)] = await consume(kafka_bootstrap, topic, 1)
    assert (ev.path, ev.http_status) == ("/ws", 101)
    assert ev.request_bytes > 0
    assert ev.response_bytes > 0


async def test_shutdown_refuses_new_connections_but_finishes_the_request_in_flight(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    arrived = asyncio.Event()
    async with origin(arrived) as app, meshproxy(API, kafka_bootstrap, topic, app) as proxy:
        url = f"http://{proxy.bound('inbound')}"
        request = asyncio.create_task(curl(f"{url}/slow?s=0.5"))
        await arrived.wait()
        shutdown = asyncio.create_task(proxy.shutdown())
        await asyncio.sleep(0.1)
        rc_new, _ = await curl(f"{url}/hello")
        assert await request == (0, "slow")
        await shutdown
    assert rc_new == 7  # curl: connection refused
    [(_, ev)] = await consume(kafka_bootstrap, topic, 1)
    assert (ev.path, ev.http_status, ev.WhichOneof("end")) == ("/slow?s=0.5", 200, None)


async def test_request_still_running_at_the_drain_deadline_gets_its_event(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    arrived = asyncio.Event()
    async with origin(arrived) as app:
        listener = Listener("inbound", Address(LOOPBACK, 0), meshpipe_pb2.INBOUND, app)
        settings = ServerSettings(
            workload=API, proxy_id="t", listeners=(listener,), admin=Address(LOOPBACK, 0),
            drain_timeout_s=0.2,
        )  # fmt: skip
        kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic=topic, linger_ms=5)
        server = ProxyServer(
            settings, EventPublisher(KafkaSender(kafka), edge_key, PublisherSettings())
        )
        await server.start()
        request = asyncio.create_task(curl(f"http://{server.bound('inbound')}/slow?s=30"))
        await arrived.wait()
        assert await server.shutdown() == 0
        await request
    [(_, ev)] = await consume(kafka_bootstrap, topic, 1)
    assert (ev.path, ev.error.kind, ev.classification) == (
        "/slow?s=30",
        "upstream_reset",
        meshpipe_pb2.FAILURE,
    )
    assert ev.error.message == "proxy shut down before the request finished"


async def test_python_client_through_the_sidecar_pair_as_its_http_proxy(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with (
        origin() as app,
        meshproxy(API, kafka_bootstrap, topic, app) as api_side,
        meshproxy(WEB, kafka_bootstrap, topic, None) as web_side,
        aiohttp.ClientSession() as session,
    ):
        proxy_url = f"http://{web_side.bound('outbound')}"
        target = f"http://{api_side.bound('inbound')}"
        for _ in range(3):
            async with session.post(f"{target}/echo", data=b"abc", proxy=proxy_url) as resp:
                assert await resp.json() == {"received": 3}
                assert not any(h.lower().startswith("meshpipe") for h in resp.headers)
    events = [e for _, e in await consume(kafka_bootstrap, topic, 6)]
    for direction in (meshpipe_pb2.OUTBOUND, meshpipe_pb2.INBOUND):
        side = [e for e in events if e.direction == direction]
        assert sorted(e.proxy_seq for e in side) == [1, 2, 3]
        assert {(e.method, e.path, e.request_bytes, e.http_status) for e in side} == {
            ("POST", "/echo", 3, 200)
        }
