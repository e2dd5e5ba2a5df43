"""The admin endpoints' content: Prometheus metrics with Linkerd's names, readiness, liveness."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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
MAX_CACHED_SERIES = 4096  # label-children lookups kept; beyond it the cache starts over

# What one finished request updates: its request counter, response counter and latency histogram.
_Children = tuple[Counter, Counter, Histogram]
_SeriesKey = tuple[int, str, str, int, bool, int, bool, str, str]


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


class ProxyMetrics:
    """Counters the proxy updates from finished events and connection open/close."""

    def __init__(self, pipeline: Callable[[], PipelineStats]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self._requests = Counter("request", "Requests.", _REQUEST_LABELS, registry=reg)
        self._responses = Counter("response", "Responses.", _RESPONSE_LABELS, registry=reg)
        self._latency = Histogram(
            "response_latency_ms",
            "Time to the response head, milliseconds.",
            (*_REQUEST_LABELS, "status_code"),
            buckets=LATENCY_BUCKETS_MS,
            registry=reg,
        )
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
        # labels() hashes and validates its arguments on every call: the children are kept
        # per label combination instead (bounded; prometheus_client keeps them anyway).
        self._series: dict[_SeriesKey, _Children] = {}
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
        classification = "success" if event.classification == meshpipe_pb2.SUCCESS else "failure"
        if event.protocol == meshpipe_pb2.OPAQUE_TCP:
            self._tcp_closed.labels(direction_label(event.direction), classification).inc()
            return
        dst, end = event.destination, event.WhichOneof("end")
        grpc = str(event.grpc_status) if end == "grpc_status" else ""
        error = event.error.kind if end == "error" else ""
        key: _SeriesKey = (
            int(event.direction),
            event.authority,
            dst.ip,
            dst.port,
            event.tls,
            event.http_status,
            classification == "success",
            grpc,
            error,
        )
        children = self._series.get(key)
        if children is None:
            children = self._children(event, classification, grpc, error)
            if len(self._series) >= MAX_CACHED_SERIES:
                self._series.clear()
            self._series[key] = children
        requests, responses, latency = children
        requests.inc()
        responses.inc()
        if event.http_status:
            latency.observe(event.latency_us / 1000)

    def _children(
        self, event: meshpipe_pb2.RequestEvent, classification: str, grpc: str, error: str
    ) -> _Children:
        dst = event.destination
        base = (
            direction_label(event.direction),
            event.authority,
            f"{dst.ip}:{dst.port}" if dst.ip else "",
            "true" if event.tls else "false",
        )
        status = str(event.http_status) if event.http_status else ""
        return (
            self._requests.labels(*base),
            self._responses.labels(*base, status, classification, grpc, error),
            self._latency.labels(*base, status),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
