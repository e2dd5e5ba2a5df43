"""The admin endpoints' content: Prometheus metrics with Linkerd's names, readiness, liveness."""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from meshpipe.proxy.http1_parse import ParseError, parse_request_head, take_head
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

# Linkerd's response_latency_ms buckets, so dashboards and queries carry over.
LATENCY_BUCKETS_MS = (
    1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
    1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
)  # fmt: skip
_REQUEST_LABELS = ("direction", "authority", "target_addr", "tls")
_RESPONSE_LABELS = (*_REQUEST_LABELS, "status_code", "classification", "grpc_status", "error")
_DIRECTIONS = {meshpipe_pb2.INBOUND: "inbound", meshpipe_pb2.OUTBOUND: "outbound"}

_SeriesKey = tuple[int, str, str, int, bool, int, bool, str, str]
_BOUNDS = (*(float(b) for b in LATENCY_BUCKETS_MS), math.inf)
_LE = (*(repr(b) for b in _BOUNDS[:-1]), "+Inf")  # as prometheus_client writes `le`


def direction_label(direction: meshpipe_pb2.Direction.ValueType) -> str:
    return _DIRECTIONS.get(direction, "unknown")


@dataclass(frozen=True)
class PipelineStats:
    """The event publisher's counters at one moment."""

    published: int
    dropped: int
    depth: int


class _PipelineCollector(Collector):
    def __init__(self, stats: Callable[[], PipelineStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        yield CounterMetricFamily(
            "events_published",
            "Events (requests, connection reports) acknowledged by Kafka.",
            value=s.published,
        )
        yield CounterMetricFamily(
            "events_dropped", "Events dropped because the queue was full.", value=s.dropped
        )
        yield GaugeMetricFamily(
            "event_queue_depth", "Events waiting to be published.", value=s.depth
        )


@dataclass(slots=True)
class _Series:
    """What the finished requests of one label combination added up to since the start."""

    request: tuple[str, ...]  # the request counter's label values
    status: str
    response: tuple[str, ...]  # the response counter's label values
    created: float  # Unix seconds of its first request
    count: int = 0
    buckets: list[int] = field(default_factory=list)  # requests per bound, not cumulative
    latency_sum_ms: float = 0.0


class _RequestCollector(Collector):
    """request_total, response_total and response_latency_ms, built from the series at scrape
    time: a request only adds to its series' numbers, the families are made when asked for."""

    def __init__(self, series: dict[_SeriesKey, _Series]) -> None:
        self._series = series

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("request", "Requests.", labels=_REQUEST_LABELS)
        responses = CounterMetricFamily("response", "Responses.", labels=_RESPONSE_LABELS)
        latency = HistogramMetricFamily(
            "response_latency_ms",
            "Time to the response head, milliseconds.",
            labels=(*_REQUEST_LABELS, "status_code"),
        )
        by_request: dict[tuple[str, ...], list[float]] = {}
        by_response: dict[tuple[str, ...], list[float]] = {}
        by_latency: dict[tuple[str, ...], _Series] = {}
        for s in list(self._series.values()):
            _add(by_request, s.request, s.count, s.created)
            _add(by_response, s.response, s.count, s.created)
            labels = (*s.request, s.status)
            total = by_latency.get(labels)
            if total is None:
                total = by_latency[labels] = _Series(
                    s.request, s.status, s.response, s.created, buckets=[0] * len(_BOUNDS)
                )
            total.buckets = [a + b for a, b in zip(total.buckets, s.buckets, strict=True)]
            total.latency_sum_ms += s.latency_sum_ms
            total.created = min(total.created, s.created)
        for labels, (value, created) in by_request.items():
            requests.add_metric(labels, value, created=created)
        for labels, (value, created) in by_response.items():
            responses.add_metric(labels, value, created=created)
        names = (*_REQUEST_LABELS, "status_code")
        for labels, total in by_latency.items():
            cumulative = itertools.accumulate(total.buckets)
            latency.add_metric(
                labels, list(zip(_LE, cumulative, strict=True)), total.latency_sum_ms
            )
            named = dict(zip(names, labels, strict=True))
            latency.samples.append(Sample(f"{latency.name}_created", named, total.created))
        yield requests
        yield responses
        yield latency


def _add(
    into: dict[tuple[str, ...], list[float]], labels: tuple[str, ...], n: int, t: float
) -> None:
    found = into.get(labels)
    if found is None:
        into[labels] = [n, t]
    else:
        found[0] += n
        found[1] = min(found[1], t)


class ProxyMetrics:
    """Counters the proxy updates from finished events and connection open/close.

    Requests are counted per label combination in plain Python numbers (a dict lookup and an
    addition per request) and turned into Prometheus families when /metrics is scraped, instead
    of prometheus_client's locked counters and histogram updated per request.
    """

    def __init__(self, pipeline: Callable[[], PipelineStats]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self._series: dict[_SeriesKey, _Series] = {}
        reg.register(_RequestCollector(self._series))
        self._tcp_open = Gauge(
            "tcp_open_connections", "Open connections.", ("direction",), registry=reg
        )
        self._tcp_opened = Counter(
            "tcp_open", "Accepted connections.", ("direction",), registry=reg
        )
        self._tcp_closed = Counter(
            "tcp_close", "Closed connections.", ("direction", "classification"), registry=reg
        )
        reg.register(_PipelineCollector(pipeline))
        self._tcp: dict[meshpipe_pb2.Direction.ValueType, tuple[Gauge, Counter]] = {}

    def _tcp_children(self, direction: meshpipe_pb2.Direction.ValueType) -> tuple[Gauge, Counter]:
        found = self._tcp.get(direction)
        if found is None:
            label = direction_label(direction)
            found = self._tcp[direction] = (
                self._tcp_open.labels(label),
                self._tcp_opened.labels(label),
            )
        return found

    def connection_opened(self, direction: meshpipe_pb2.Direction.ValueType) -> None:
        gauge, counter = self._tcp_children(direction)
        gauge.inc()
        counter.inc()

    def connection_closed(self, direction: meshpipe_pb2.Direction.ValueType) -> None:
        self._tcp_children(direction)[0].dec()

    def observe(self, event: meshpipe_pb2.RequestEvent) -> None:
        """Count one finished request (or opaque connection) from its event."""
        success = event.classification == meshpipe_pb2.SUCCESS
        if event.protocol == meshpipe_pb2.OPAQUE_TCP:
            classification = "success" if success else "failure"
            self._tcp_closed.labels(direction_label(event.direction), classification).inc()
            return
        dst, end = event.destination, event.WhichOneof("end")
        grpc = str(event.grpc_status) if end == "grpc_status" else ""
        error = event.error.kind if end == "error" else ""
        status = event.http_status
        key: _SeriesKey = (
            event.direction,
            event.authority,
            dst.ip,
            dst.port,
            event.tls,
            status,
            success,
            grpc,
            error,
        )
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _new_series(event, success, grpc, error)
        series.count += 1
        if status:
            ms = event.latency_us / 1000
            series.buckets[bisect.bisect_left(_BOUNDS, ms)] += 1
            series.latency_sum_ms += ms

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _new_series(event: meshpipe_pb2.RequestEvent, success: bool, grpc: str, error: str) -> _Series:
    dst = event.destination
    request = (
        direction_label(event.direction),
        event.authority,
        f"{dst.ip}:{dst.port}" if dst.ip else "",
        "true" if event.tls else "false",
    )
    status = str(event.http_status) if event.http_status else ""
    response = (*request, status, "success" if success else "failure", grpc, error)
    # A series without a status (no response head) still shows an empty histogram, as
    # prometheus_client's labelled children did.
    return _Series(request, status, response, time.time(), buckets=[0] * len(_BOUNDS))


@dataclass(frozen=True)
class AdminResponse:
    status: int
    content_type: str
    body: bytes


class AdminApp:
    """Answers admin requests: /metrics, /ready (503 while starting or draining), /live."""

    def __init__(self, metrics: ProxyMetrics, ready: Callable[[], bool]) -> None:
        self._metrics = metrics
        self._ready = ready

    def respond(self, method: str, path: str) -> AdminResponse:
        if method not in ("GET", "HEAD"):
            return AdminResponse(405, "text/plain", b"method not allowed\n")
        route = path.split("?", 1)[0]
        if route == "/metrics":
            return AdminResponse(200, "text/plain; version=0.0.4", self._metrics.render())
        if route == "/live":
            return AdminResponse(200, "text/plain", b"live\n")
        if route == "/ready":
            if self._ready():
                return AdminResponse(200, "text/plain", b"ready\n")
            return AdminResponse(503, "text/plain", b"not ready\n")
        return AdminResponse(404, "text/plain", b"not found\n")

    def answer(self, buffer: bytearray) -> bytes | None:
        """The whole HTTP/1.1 response once buffer holds a request head, else None."""
        try:
            raw = take_head(buffer, 8192)
            if raw is None:
                return None
            head = parse_request_head(raw)
            reply = self.respond(head.method, head.target)
            if head.method == "HEAD":
                reply = AdminResponse(reply.status, reply.content_type, b"")
        except ParseError as err:
            reply = AdminResponse(err.status, "text/plain", err.message.encode() + b"\n")
        status = reply.status
        return (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"content-type: {reply.content_type}\r\ncontent-length: {len(reply.body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode() + reply.body
