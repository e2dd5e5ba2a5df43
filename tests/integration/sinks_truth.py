"""A generated set of mesh calls with known statistics, and the proxies' connection reports, as
the rows the stream workers write."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from meshpipe.schemas.identity import UnmeshedPeer, WorkloadId
from meshpipe.schemas.latency import Histogram
from meshpipe.schemas.rows import (
    CONNECTION_LOOKBACK_S,
    CONNECTION_REPORT_S,
    DIRECTION_BITS,
    ConnectionRow,
    EdgeWindowRow,
    LossRow,
    RequestRow,
    RowBatch,
)

WINDOW_S = 10
WINDOWS = 6
PARTITIONS = 3
WEB = WorkloadId("shop", "deployment", "web")
API = WorkloadId("shop", "deployment", "api")
DB = WorkloadId("shop", "statefulset", "db")
BILLING = WorkloadId("pay", "deployment", "billing")
PODS = {WEB: ("web-1", "web-2"), API: ("api-1",), DB: ("db-0",), BILLING: ("billing-1",)}
OUTSIDER = UnmeshedPeer(ip="10.9.9.9")
EXTERNAL = UnmeshedPeer(authority="ext.example.com", port=443)
Peer = WorkloadId | UnmeshedPeer
# (caller, callee): meshed callers report "out", meshed callees report "in".
CALLS: tuple[tuple[Peer, Peer], ...] = (
    (WEB, API),
    (WEB, BILLING),
    (API, DB),
    (OUTSIDER, WEB),
    (API, EXTERNAL),
)
PATHS = ("/items", "/cart", "/pay")


@dataclass(frozen=True)
class Event:
    """One event as a proxy reports it."""

    direction: str
    source: Peer
    source_pod: str
    destination: Peer
    destination_pod: str
    start_us: int
    latency_us: int
    http_status: int
    request_bytes: int
    response_bytes: int
    path: str
    proxy_id: str
    proxy_seq: int

    @property
    def success(self) -> bool:
        return self.http_status < 500

    @property
    def window_start_s(self) -> int:
        seconds = self.start_us // 1_000_000
        return seconds - seconds % WINDOW_S


@dataclass(frozen=True)
class Gauge:
    """One connection report: the connections one proxy had on one edge at one time."""

    proxy_id: str
    pod: str  # the proxy's pod
    direction: str
    source: Peer
    destination: Peer
    report_s: int
    open: int
    opened: int
    closed: int

    @property
    def window_start_s(self) -> int:
        return self.report_s - self.report_s % CONNECTION_REPORT_S


@dataclass(frozen=True)
class Truth:
    """Generated events: delivered ones, and per proxy how many it produced but were lost; and
    the connection reports of every proxy edge."""

    events: tuple[Event, ...]
    lost: dict[str, int]
    base_s: int
    gauges: tuple[Gauge, ...] = ()


def generate(base_s: int, calls: int = 1500, seed: int = 7) -> Truth:
    """Events for `calls` calls spread over WINDOWS windows from base_s (a window boundary)."""
    rng = random.Random(seed)
    seqs: dict[str, int] = defaultdict(int)
    events: list[Event] = []
    lost: dict[str, int] = defaultdict(int)
    middle = base_s + WINDOW_S * (WINDOWS // 2)
    for _ in range(calls):
        caller, callee = rng.choice(CALLS)
        src_pod = rng.choice(PODS[caller]) if isinstance(caller, WorkloadId) else ""
        dst_pod = rng.choice(PODS[callee]) if isinstance(callee, WorkloadId) else ""
        start_us = base_s * 1_000_000 + rng.randrange(WINDOWS * WINDOW_S * 1_000_000)
        latency = int(rng.lognormvariate(math.log(20_000), 1.0)) + 1
        status = rng.choices((200, 404, 503), weights=(85, 10, 5))[0]
        sizes = (rng.randrange(50, 500), rng.randrange(100, 5000))
        path = rng.choice(PATHS)
        for direction, pod in (("out", src_pod), ("in", dst_pod)):
            if not pod:
                continue  # unmeshed side: no proxy, no event
            proxy = f"{pod}-proxy"
            seqs[proxy] += 1
            event = Event(
                direction,
                caller,
                src_pod,
                callee,
                dst_pod,
                start_us,
                latency,
                status,
                *sizes,
                path,
                proxy,
                seqs[proxy],
            )
            # Drop a few events of api-1 well inside the range: upstream loss, never stored.
            if proxy == "api-1-proxy" and event.window_start_s == middle and seqs[proxy] % 7 == 0:
                lost[proxy] += 1
                continue
            events.append(event)
    return Truth(tuple(events), dict(lost), base_s, gauges(base_s, seed))


def gauges(base_s: int, seed: int) -> tuple[Gauge, ...]:
    """Two reports of each proxy edge of CALLS, in the last two windows: an older, the latest."""
    rng = random.Random(seed + 1)  # apart from the events' generator: their truth stays as is
    out = []
    for caller, callee in CALLS:
        for direction, own in (("out", caller), ("in", callee)):
            if not isinstance(own, WorkloadId):
                continue  # an unmeshed side has no proxy
            for pod in PODS[own]:
                for window in (WINDOWS - 2, WINDOWS - 1):
                    report_s = base_s + window * WINDOW_S + rng.randrange(WINDOW_S)
                    counts = (rng.randrange(12), rng.randrange(5), rng.randrange(5))
                    proxy = f"{pod}-proxy"
                    out.append(Gauge(proxy, pod, direction, caller, callee, report_s, *counts))
    return tuple(out)


def _partition(event: Event | Gauge) -> int:
    key = f"{event.direction}|{event.source}|{event.destination}"
    return sum(key.encode()) % PARTITIONS


def _side(peer: Peer) -> tuple[str, str, str, bool]:
    if isinstance(peer, WorkloadId):
        return peer.namespace, peer.kind, peer.name, True
    return "", "", "", False


def with_offsets(truth: Truth) -> list[tuple[int, int, Event]]:
    """(partition, offset, event) in production order."""
    next_offset = [0] * PARTITIONS
    placed = []
    for event in sorted(truth.events, key=lambda e: e.start_us):
        partition = _partition(event)
        placed.append((partition, next_offset[partition], event))
        next_offset[partition] += 1
    return placed


def _edge_row(partition: int, segment: list[tuple[int, Event]]) -> EdgeWindowRow:
    first = segment[0][1]
    s_ns, s_kind, s_name, s_meshed = _side(first.source)
    d_ns, d_kind, d_name, d_meshed = _side(first.destination)
    latency = sorted(Histogram.of(e.latency_us for _, e in segment).counts.items())
    return EdgeWindowRow(
        window_start_s=first.window_start_s,
        window_s=WINDOW_S,
        direction=first.direction,
        source=str(first.source),
        source_namespace=s_ns,
        source_kind=s_kind,
        source_name=s_name,
        source_meshed=s_meshed,
        destination=str(first.destination),
        destination_namespace=d_ns,
        destination_kind=d_kind,
        destination_name=d_name,
        destination_meshed=d_meshed,
        partition=partition,
        first_offset=segment[0][0],
        version=segment[-1][0],
        requests=len(segment),
        successes=sum(e.success for _, e in segment),
        failures=sum(not e.success for _, e in segment),
        status_4xx=sum(400 <= e.http_status < 500 for _, e in segment),
        status_5xx=sum(500 <= e.http_status < 600 for _, e in segment),
        grpc_failures=0,
        request_bytes=sum(e.request_bytes for _, e in segment),
        response_bytes=sum(e.response_bytes for _, e in segment),
        latency_sum_us=sum(e.latency_us for _, e in segment),
        duration_sum_us=sum(e.latency_us for _, e in segment),
        latency_buckets=tuple(i for i, _ in latency),
        latency_counts=tuple(c for _, c in latency),
        duration_buckets=tuple(i for i, _ in latency),
        duration_counts=tuple(c for _, c in latency),
    )


def edge_rows(placed: Iterable[tuple[int, int, Event]]) -> list[EdgeWindowRow]:
    """Two segments per (window, edge, partition), each written as a stale snapshot, then final."""
    groups: dict[tuple[object, ...], list[tuple[int, Event]]] = defaultdict(list)
    for partition, offset, e in placed:
        groups[
            (e.window_start_s, e.direction, str(e.source), str(e.destination), partition)
        ].append((offset, e))
    rows = []
    for key, members in groups.items():
        half = max(1, len(members) // 2)
        for segment in (members[:half], members[half:]):
            if not segment:
                continue
            partition = int(str(key[4]))
            if len(segment) > 1:  # an earlier cumulative snapshot, replaced by the final one
                rows.append(_edge_row(partition, segment[: len(segment) // 2]))
            rows.append(_edge_row(partition, segment))
    return rows


def request_rows(placed: Iterable[tuple[int, int, Event]]) -> list[RequestRow]:
    """One row per event."""
    rows = []
    for partition, offset, e in placed:
        s_ns, s_kind, s_name, s_meshed = _side(e.source)
        d_ns, d_kind, d_name, d_meshed = _side(e.destination)
        rows.append(
            RequestRow(
                partition=partition,
                offset=offset,
                id=f"{partition:04x}{offset:028x}",
                proxy_id=e.proxy_id,
                proxy_seq=e.proxy_seq,
                direction=e.direction,
                source_namespace=s_ns,
                source_kind=s_kind,
                source_name=s_name,
                source_pod=e.source_pod,
                source_ip=e.source.ip if isinstance(e.source, UnmeshedPeer) else "10.0.0.1",
                source_port=40000,
                source_meshed=s_meshed,
                source_authority="",
                destination_namespace=d_ns,
                destination_kind=d_kind,
                destination_name=d_name,
                destination_pod=e.destination_pod,
                destination_ip="10.0.1.1",
                destination_port=443 if isinstance(e.destination, UnmeshedPeer) else 8080,
                destination_meshed=d_meshed,
                destination_authority=(
                    e.destination.authority if isinstance(e.destination, UnmeshedPeer) else ""
                ),
                protocol="http1",
                method="GET",
                scheme="http",
                authority="svc",
                path=e.path,
                http_status=e.http_status,
                grpc_status=-1,
                reset_code=-1,
                error_kind="",
                error_message="",
                start_us=e.start_us,
                latency_us=e.latency_us,
                duration_us=e.latency_us,
                request_bytes=e.request_bytes,
                response_bytes=e.response_bytes,
                tls=False,
                trace_id="",
                classification="success" if e.success else "failure",
                classification_reason="ok" if e.success else f"http_status={e.http_status}",
                header_names=("user-agent",),
                header_values=("gen",),
            )
        )
    return rows


def loss_rows(placed: Iterable[tuple[int, int, Event]]) -> list[LossRow]:
    """Per proxy, window and partition, the sequence numbers delivered (one segment each)."""
    groups: dict[tuple[str, int, int], list[tuple[int, int]]] = defaultdict(list)
    owners: dict[str, tuple[WorkloadId, str]] = {}
    directions: dict[tuple[str, int, int], int] = defaultdict(int)
    for partition, offset, e in placed:
        groups[(e.proxy_id, e.window_start_s, partition)].append((offset, e.proxy_seq))
        directions[(e.proxy_id, e.window_start_s, partition)] |= DIRECTION_BITS[e.direction]
        inbound = e.direction == "in"
        own, pod = (e.destination, e.destination_pod) if inbound else (e.source, e.source_pod)
        assert isinstance(own, WorkloadId)  # only meshed workloads have proxies
        owners[e.proxy_id] = (own, pod)
    return [
        LossRow(
            proxy_id=proxy,
            window_start_s=window,
            window_s=WINDOW_S,
            partition=partition,
            first_offset=members[0][0],
            version=members[-1][0],
            events=len(members),
            duplicates=0,
            seq_min=min(s for _, s in members),
            seq_max=max(s for _, s in members),
            proxy_namespace=owners[proxy][0].namespace,
            proxy_kind=owners[proxy][0].kind,
            proxy_name=owners[proxy][0].name,
            proxy_pod=owners[proxy][1],
            proxy_directions=directions[(proxy, window, partition)],
        )
        for (proxy, window, partition), members in groups.items()
    ]


def connection_rows(truth: Truth) -> list[ConnectionRow]:
    """One row per report (each its own chunk, after the events' offsets)."""
    rows = []
    for offset, g in enumerate(truth.gauges, start=len(truth.events)):
        s_ns, s_kind, s_name, s_meshed = _side(g.source)
        d_ns, d_kind, d_name, d_meshed = _side(g.destination)
        rows.append(
            ConnectionRow(
                window_start_s=g.window_start_s,
                report_us=g.report_s * 1_000_000,
                proxy_id=g.proxy_id,
                direction=g.direction,
                source=str(g.source),
                source_namespace=s_ns,
                source_kind=s_kind,
                source_name=s_name,
                source_pod=g.pod if g.direction == "out" else "",
                source_meshed=s_meshed,
                destination=str(g.destination),
                destination_namespace=d_ns,
                destination_kind=d_kind,
                destination_name=d_name,
                destination_pod=g.pod if g.direction == "in" else "",
                destination_meshed=d_meshed,
                partition=_partition(g),
                first_offset=offset,
                version=offset,
                open_connections=g.open,
                opened=g.opened,
                closed=g.closed,
            )
        )
    return rows


def batch(truth: Truth) -> RowBatch:
    """Every row of truth; requests are written twice (a replay) to check they collapse."""
    placed = with_offsets(truth)
    requests = request_rows(placed)
    return RowBatch(
        tuple(edge_rows(placed)),
        tuple(requests + requests[::5]),
        tuple(loss_rows(placed)),
        tuple(connection_rows(truth)),
    )


K = TypeVar("K")


def open_connections(
    truth: Truth, keep: Callable[[Gauge], bool], key: Callable[[Gauge], K], end: float
) -> dict[K, int]:
    """TCP_CONN per row key at end: each kept proxy edge's latest report of the lookback, summed."""
    high = math.ceil(end)
    latest: dict[tuple[object, ...], Gauge] = {}
    for g in truth.gauges:
        if high - CONNECTION_LOOKBACK_S <= g.window_start_s < high and keep(g):
            series = (g.proxy_id, g.direction, g.source, g.destination)
            if series not in latest or g.report_s > latest[series].report_s:
                latest[series] = g
    total: dict[K, int] = defaultdict(int)
    for g in latest.values():
        total[key(g)] += g.open
    return dict(total)
