"""`meshstreams worker` processes on real Kafka and ClickHouse store exactly what was produced."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from streams_procs import (
    WorkerProc,
    clickhouse_url,
    free_port,
    stored_edges,
    stored_loss_events,
    stored_losses,
    stored_request_total,
    stored_requests,
    truth_edges,
    wait_for,
)
from test_proxy_relay import LOOPBACK, origin

from bench.generate import (
    IN,
    EdgeSpec,
    GeneratorSpec,
    Truth,
    aligned_start_s,
    exact_quantile,
    generate,
    produce,
    single_event,
)
from meshpipe.deploy.dev.clickhouse import ClickHouseServer, ClickHouseSettings
from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.proxy.layer import Address
from meshpipe.proxy.publisher import EventPublisher, KafkaSender, KafkaSettings, PublisherSettings
from meshpipe.proxy.server import ProxyServer
from meshpipe.proxy.settings import Listener, ServerSettings
from meshpipe.schemas.edgekey import edge_key
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import WorkloadId, WorkloadInstance
from meshpipe.schemas.latency import MAX_ABSOLUTE_ERROR_US, MAX_RELATIVE_ERROR
from meshpipe.schemas.topics import DEADLETTER, REQUESTS
from meshpipe.sinks.client import NativeClient
from meshpipe.sinks.migrations import apply_migrations
from meshpipe.sinks.query import EdgeMode, Peer, Selection, StatQuery, StatRow, stat

pytestmark = pytest.mark.integration

NANOS = 1_000_000_000
Db = tuple[NativeClient, str]
MakeWorker = Callable[..., WorkerProc]
# Small chunks, so offsets get committed (and a crash replays from the middle) while it runs.
FAST = ("--chunk-records=1000", "--session-timeout=6s")


def _fast_spec(events: int, windows: int = 6, seed: int = 7) -> GeneratorSpec:
    start = aligned_start_s(10, windows + 2, time.time())
    return GeneratorSpec(
        events, start, windows, 10, skip_every=89, late_fraction=0.05, late_max_s=25, seed=seed
    )


@pytest.fixture
def stream_db(clickhouse_db: Db) -> Db:
    client, db = clickhouse_db
    apply_migrations(client, db)
    return client, db


@pytest.fixture
def make_worker(
    kafka_bootstrap: str,
    topics: TopicSet,
    stream_db: Db,
    clickhouse_settings: ClickHouseSettings,
    tmp_path: Path,
) -> Iterator[MakeWorker]:
    """Starts workers of one group on the test's topics; kills them all at the end."""
    made: list[WorkerProc] = []

    def make(*extra: str, clickhouse: str | None = None) -> WorkerProc:
        url = clickhouse or clickhouse_url(clickhouse_settings.url(), stream_db[1])
        workdir = tmp_path / f"w{len(made)}"
        workdir.mkdir()
        proc = WorkerProc(kafka_bootstrap, url, topics.prefix, f"g-{topics.prefix}", workdir, extra)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.kill()


def _produce(bootstrap: str, topics: TopicSet, events: list[meshpipe_pb2.RequestEvent]) -> None:
    asyncio.run(produce(bootstrap, topics.name(REQUESTS), events))


def _wait_exact(client: NativeClient, db: str, truth: Truth, timeout_s: float) -> None:
    """Wait until the edge windows hold every event, then compare everything with the truth."""
    wait_for(
        lambda: stored_request_total(client, db),
        lambda n: n >= truth.events,
        timeout_s,
        "edge windows to hold every event",
    )
    wait_for(
        lambda: stored_requests(client, db),
        lambda n: n >= truth.events,
        timeout_s,
        "raw request rows",
    )
    wait_for(
        lambda: stored_loss_events(client, db),
        lambda n: n >= truth.events,
        timeout_s,
        "loss rows for every event",
    )
    assert stored_edges(client, db) == truth_edges(truth)
    assert stored_requests(client, db) == truth.events
    stored_loss = {proxy: lost for proxy, lost in stored_losses(client, db).items() if lost}
    assert stored_loss == truth.lost


def _positions(worker: WorkerProc) -> int:
    health = worker.health() or {}
    return sum(health.get("positions", {}).values())


def _committed(worker: WorkerProc) -> int:
    health = worker.health() or {}
    return sum(health.get("committed", {}).values())


async def _group_offsets(bootstrap: str, group: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


# --- poison records -----------------------------------------------------------------------------


async def _dead_letters(bootstrap: str, topic: str, count: int) -> list[meshpipe_pb2.DeadLetter]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    letters: list[meshpipe_pb2.DeadLetter] = []
    try:
        deadline = time.monotonic() + 60
        while len(letters) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                letters.extend(meshpipe_pb2.DeadLetter.FromString(r.value) for r in records)
    finally:
        await consumer.stop()
    return letters


def test_poison_records_go_to_the_dead_letter_topic_and_later_events_are_stored(
    kafka_bootstrap: str, topics: TopicSet, stream_db: Db, make_worker: MakeWorker
) -> None:
    events, truth = generate(_fast_spec(600, windows=3))
    key = edge_key(events[0])
    no_proxy = meshpipe_pb2.RequestEvent()
    no_proxy.CopyFrom(events[0])
    no_proxy.proxy_id = ""
    bad_latency = meshpipe_pb2.RequestEvent()
    bad_latency.CopyFrom(events[0])
    bad_latency.latency_us, bad_latency.duration_us = 50, 10
    poison = [
        b"\xff\xfe not a protobuf",
        no_proxy.SerializeToString(),
        bad_latency.SerializeToString(),
    ]

    async def send_all() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for value in poison:  # same key as the first edge: same partition, before its events
                await producer.send_and_wait(topics.name(REQUESTS), value, key=key)
        finally:
            await producer.stop()
        await produce(kafka_bootstrap, topics.name(REQUESTS), events)

    asyncio.run(send_all())
    worker = make_worker(*FAST).start()

    letters = asyncio.run(_dead_letters(kafka_bootstrap, topics.name(DEADLETTER), len(poison)))
    assert [letter.value for letter in letters] == poison
    assert "undecodable" in letters[0].reason
    assert "missing proxy_id" in letters[1].reason
    assert "latency_us 50 exceeds duration_us 10" in letters[2].reason
    assert {letter.topic for letter in letters} == {topics.name(REQUESTS)}
    assert [letter.offset for letter in letters] == [0, 1, 2]
    client, db = stream_db
    _wait_exact(client, db, truth, 60)
    assert not list(worker.workdir.glob("*-data"))  # Faust's files stay under --data-dir


# --- ground truth, throughput and freshness -----------------------------------------------------


def _percentiles_within_grid_bound(
    client: NativeClient, db: str, truth: Truth, spec: GeneratorSpec
) -> None:
    end = spec.start_s + spec.windows * spec.window_s
    query = StatQuery(
        Selection("deployment", (), "emojivoto"), EdgeMode.SERVER, start_s=spec.start_s, end_s=end
    )
    rows = {row.name: row for row in stat(client, db, query)}
    destinations = {key[3] for key in truth.edges if key[1] == "in"}
    assert set(rows) == destinations
    for name in destinations:
        cell = truth.total(key for key in truth.edges if key[1] == "in" and key[3] == name)
        row = rows[name]
        assert (row.requests, row.successes, row.status_4xx, row.status_5xx) == (
            cell.requests,
            cell.successes,
            cell.status_4xx,
            cell.status_5xx,
        )
        for q, got_ms in (
            (0.5, row.latency_ms_p50),
            (0.95, row.latency_ms_p95),
            (0.99, row.latency_ms_p99),
        ):
            exact = exact_quantile(cell.latencies_us, q)
            assert got_ms is not None
            bound = max(MAX_ABSOLUTE_ERROR_US, MAX_RELATIVE_ERROR * exact) + 1e-6
            assert abs(got_ms * 1000 - exact) <= bound, (name, q, got_ms, exact)


def _freshness_s(kafka: str, topics: TopicSet, client: NativeClient, db: str) -> list[float]:
    """Seconds from producing one event to seeing it in the query layer, for a few events."""
    edge = EdgeSpec(IN, "fresh-client", "fresh", 1_000)
    took = []
    for seq in range(1, 6):
        now = time.time()
        event = single_event(edge, int(now * NANOS), seq, seed=seq)
        query = StatQuery(
            Selection("deployment", ("fresh",), "emojivoto"),
            EdgeMode.SERVER,
            start_s=now - 60,
            end_s=now + 60,
        )
        began = time.monotonic()
        _produce(kafka, topics, [event])
        wait_for(
            lambda q=query: [r.requests for r in stat(client, db, q)],  # type: ignore[misc]
            lambda counts, n=seq: counts == [n],
            30,
            "the fresh event in the query layer",
        )
        took.append(time.monotonic() - began)
    return took


def test_stored_stats_equal_the_generated_truth(
    kafka_bootstrap: str, topics: TopicSet, stream_db: Db, make_worker: MakeWorker
) -> None:
    count = int(os.environ.get("MESHPIPE_STREAMS_EVENTS", "40000"))
    spec = GeneratorSpec(
        count,
        aligned_start_s(10, 8, time.time()),
        windows=6,
        window_s=10,
        skip_every=97,
        late_fraction=0.03,
        late_max_s=25.0,
        seed=3,
    )
    events, truth = generate(spec)
    _produce(kafka_bootstrap, topics, events)
    worker = make_worker().start()
    began = time.monotonic()
    wait_for(lambda: _positions(worker), lambda n: n >= count, 300, "every record read", 0.5)
    folded = time.monotonic() - began
    client, db = stream_db
    wait_for(lambda: stored_requests(client, db), lambda n: n >= count, 120, "raw rows", 0.5)
    stored = time.monotonic() - began
    _wait_exact(client, db, truth, 60)
    _percentiles_within_grid_bound(client, db, truth, spec)
    fresh = _freshness_s(kafka_bootstrap, topics, client, db)
    print(
        f"\none worker, {count} events: read and folded at {count / folded:.0f}/s,"
        f" stored in ClickHouse at {count / stored:.0f}/s; production -> query layer:"
        f" median {statistics.median(fresh):.2f} s, max {max(fresh):.2f} s"
    )
    assert worker.health() is not None


# --- failures -----------------------------------------------------------------------------------


def test_totals_stay_exact_after_the_worker_is_killed_mid_stream(
    kafka_bootstrap: str, topics: TopicSet, stream_db: Db, make_worker: MakeWorker
) -> None:
    events, truth = generate(_fast_spec(60_000))
    _produce(kafka_bootstrap, topics, events)
    worker = make_worker(*FAST).start()
    wait_for(
        lambda: (_committed(worker), _positions(worker)),
        lambda cp: cp[0] > 0 and cp[1] < len(events) * 0.8,
        60,
        "commits mid-stream",
    )
    worker.kill()
    group = f"g-{topics.prefix}"
    committed = asyncio.run(_group_offsets(kafka_bootstrap, group))
    assert 0 < sum(committed.values()) < len(events)  # the restart replays from the middle
    worker.start()
    client, db = stream_db
    _wait_exact(client, db, truth, 120)


def test_nothing_is_lost_while_clickhouse_is_down(
    kafka_bootstrap: str, topics: TopicSet, make_worker: MakeWorker, tmp_path: Path
) -> None:
    down_s = float(os.environ.get("MESHPIPE_CLICKHOUSE_DOWN_S", "30"))
    settings = ClickHouseSettings(
        tcp_port=free_port(), http_port=free_port(), data_dir=tmp_path / "clickhouse"
    )
    server = ClickHouseServer(settings)
    server.start()
    try:
        with NativeClient(settings.url()) as client:
            client.execute("CREATE DATABASE streams")
            apply_migrations(client, "streams")
        events, truth = generate(_fast_spec(30_000))
        half = len(events) // 2
        worker = make_worker(*FAST, clickhouse=clickhouse_url(settings.url(), "streams")).start()
        _produce(kafka_bootstrap, topics, events[:half])
        with NativeClient(settings.url()) as client:
            wait_for(
                lambda: stored_request_total(client, "streams"),
                lambda n: n > 0,
                60,
                "rows before the outage",
            )
        server.stop()
        stopped = time.monotonic()
        _produce(kafka_bootstrap, topics, events[half:])
        wait_for(
            lambda: _positions(worker),
            lambda n: n >= len(events),
            60,
            "the worker to read everything while ClickHouse is down",
        )
        time.sleep(max(0.0, down_s - (time.monotonic() - stopped)))
        server.start()
        with NativeClient(settings.url()) as client:
            _wait_exact(client, "streams", truth, 120)
        assert worker.health() is not None  # the same process rode out the outage
    finally:
        server.stop()


def test_two_workers_in_one_group_store_the_same_totals_as_one(
    kafka_bootstrap: str, topics: TopicSet, stream_db: Db, make_worker: MakeWorker
) -> None:
    events, truth = generate(_fast_spec(40_000))
    half = len(events) // 2
    first = make_worker(*FAST).start()
    _produce(kafka_bootstrap, topics, events[:half])
    wait_for(lambda: _committed(first), lambda n: n > 0, 60, "the first worker to commit")
    second = make_worker(*FAST).start()  # joins mid-stream: a real rebalance
    _produce(kafka_bootstrap, topics, events[half:])
    owned = wait_for(
        lambda: (first.partitions(), second.partitions()),
        lambda fs: bool(fs[0]) and bool(fs[1]),
        60,
        "both workers to own partitions",
    )
    assert sorted(owned[0] + owned[1]) == list(range(topics.partitions(REQUESTS)))
    client, db = stream_db
    _wait_exact(client, db, truth, 120)


def test_worker_exits_without_committing_when_clickhouse_refuses_its_rows(
    kafka_bootstrap: str,
    topics: TopicSet,
    clickhouse_db: Db,
    clickhouse_settings: ClickHouseSettings,
    tmp_path: Path,
) -> None:
    _, db = clickhouse_db  # no migrations: the tables do not exist, so every insert is refused
    events, _ = generate(_fast_spec(200, windows=1))
    _produce(kafka_bootstrap, topics, events)
    url = clickhouse_url(clickhouse_settings.url(), db)
    worker = WorkerProc(kafka_bootstrap, url, topics.prefix, f"g-{topics.prefix}", tmp_path)
    worker.launch()
    try:
        assert worker.wait_exit(60) == 1, worker.log_tail()
    finally:
        worker.kill()
    assert "Code: 60" in worker.log_file.read_text()  # UNKNOWN_TABLE, on 18.16 and newer servers
    assert asyncio.run(_group_offsets(kafka_bootstrap, f"g-{topics.prefix}")) == {}


# --- open connections through real proxies ------------------------------------------------------

NS = "emojivoto"
CONNECTIONS = 5


@asynccontextmanager
async def _sidecar(
    workload: str, listener: Listener, kafka: str, topics: TopicSet
) -> AsyncIterator[ProxyServer]:
    """An in-process meshproxy of emojivoto/deployment/<workload> reporting every second."""
    settings = ServerSettings(
        workload=WorkloadInstance(WorkloadId(NS, "deployment", workload), f"{workload}-1"),
        proxy_id=f"{workload}-proxy",
        listeners=(listener,),
        admin=Address(LOOPBACK, 0),
        drain_timeout_s=2,
        connection_report_s=1.0,
    )
    sender = KafkaSender(KafkaSettings(kafka, topics.name(REQUESTS), linger_ms=5))
    server = ProxyServer(settings, EventPublisher(sender, edge_key, PublisherSettings()))
    await server.start()
    try:
        yield server
    finally:
        await server.shutdown()


async def _open_client(web_outbound: Address, api: Address) -> asyncio.StreamWriter:
    """A client connection through web's outbound proxy that made one request to api."""
    reader, writer = await asyncio.open_connection(web_outbound.host, web_outbound.port)
    writer.write(f"GET http://{api}/hello HTTP/1.1\r\nHost: {api}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    assert await reader.readexactly(length) == b"hello world"
    return writer


def _views(now: float) -> dict[str, StatQuery]:
    """meshstat deploy -n emojivoto, with --from deploy/web, with --to deploy/api."""
    deploy = Selection("deployment", (), NS)
    return {
        "server": StatQuery(deploy, start_s=now - 60, end_s=now + 1),
        "from": StatQuery(deploy, EdgeMode.FROM, Peer("deployment", "web", NS), now - 60, now + 1),
        "to": StatQuery(deploy, EdgeMode.TO, Peer("deployment", "api", NS), now - 60, now + 1),
    }


async def _tcp_conn(client: NativeClient, db: str) -> dict[str, dict[str, int | None]]:
    """TCP_CONN per row name of each view, as of now."""
    views = _views(time.time())
    found: dict[str, dict[str, int | None]] = {}
    for view, query in views.items():
        rows: list[StatRow] = await asyncio.to_thread(stat, client, db, query)
        found[view] = {row.name: row.tcp_open_connections for row in rows}
    return found


async def _until_tcp_conn(client: NativeClient, db: str, count: int) -> None:
    """Wait until the server view shows api's, --from web api's, --to api web's TCP_CONN = count."""
    want = {"server": {"api": count}, "from": {"api": count}, "to": {"web": count}}
    seen: dict[str, dict[str, int | None]] = {}
    async with asyncio.timeout(60):
        while seen != want:
            await asyncio.sleep(0.5)
            seen = await _tcp_conn(client, db)


async def test_tcp_conn_counts_the_connections_open_through_real_sidecars(
    kafka_bootstrap: str, topics: TopicSet, stream_db: Db, make_worker: MakeWorker
) -> None:
    """Client --N connections--> web's outbound sidecar --> api's inbound sidecar --> app: each
    view of meshstat shows N open, then N - 2 after two close, then 0 once the sidecars stop."""
    client, db = stream_db
    make_worker(*FAST).start()
    async with AsyncExitStack() as stack:
        app = await stack.enter_async_context(origin())
        inbound = Listener("inbound", Address(LOOPBACK, 0), meshpipe_pb2.INBOUND, app)
        api = await stack.enter_async_context(_sidecar("api", inbound, kafka_bootstrap, topics))
        outbound = Listener("outbound", Address(LOOPBACK, 0), meshpipe_pb2.OUTBOUND, None)
        web = await stack.enter_async_context(_sidecar("web", outbound, kafka_bootstrap, topics))
        clients = [
            await _open_client(web.bound("outbound"), api.bound("inbound"))
            for _ in range(CONNECTIONS)
        ]
        await _until_tcp_conn(client, db, CONNECTIONS)
        for writer in clients[:2]:
            writer.close()
            await writer.wait_closed()
        await _until_tcp_conn(client, db, CONNECTIONS - 2)
        for writer in clients[2:]:
            writer.close()
    # the sidecars stopped: their last reports say nothing is open, the requests stay counted
    await _until_tcp_conn(client, db, 0)
    [api_row] = await asyncio.to_thread(stat, client, db, _views(time.time())["server"])
    assert (api_row.name, api_row.requests) == ("api", CONNECTIONS)
