"""Synthetic RequestEvents with a known distribution, the exact truth they imply, and a producer.

The generator is deterministic for a seed: it spreads `events` over several edges and fixed
windows in roughly ascending event time (with jitter, and a fraction of late events that land in
windows already past their grace), gives every event one outcome from a fixed table whose
success/4xx/5xx/gRPC classification is known without running the pipeline's classifier, and
numbers each proxy's events without gaps except for deliberately skipped sequence numbers, so
the expected loss per proxy is known too. Tests compare what the pipeline stored with `Truth`;
benchmarks use `produce` to load a topic (`python -m bench.generate --help`).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from meshpipe.proxy.publisher import PublisherSettings, Record, batch_records
from meshpipe.schemas.edgekey import edge_key
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS

NANOS = 1_000_000_000
IN, OUT = meshpipe_pb2.INBOUND, meshpipe_pb2.OUTBOUND
Msg = meshpipe_pb2.RequestEvent


@dataclass(frozen=True, slots=True)
class EdgeSpec:
    """One edge: which side reports it and the two workloads (deployments in one namespace)."""

    direction: meshpipe_pb2.Direction.ValueType
    source: str
    destination: str
    latency_median_us: int  # median of the edge's log-normal latency, microseconds
    weight: int = 1  # relative share of the events
    namespace: str = "emojivoto"


DEFAULT_EDGES: tuple[EdgeSpec, ...] = (
    EdgeSpec(OUT, "web", "emoji", 800, weight=4),
    EdgeSpec(IN, "web", "emoji", 600, weight=4),
    EdgeSpec(OUT, "web", "voting", 2_500, weight=2),
    EdgeSpec(IN, "web", "voting", 2_000, weight=2),
    EdgeSpec(OUT, "vote-bot", "web", 15_000, weight=1),
    EdgeSpec(IN, "vote-bot", "web", 12_000, weight=1),
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an exchange ended and what that means for the counters."""

    weight: int
    protocol: meshpipe_pb2.Protocol.ValueType
    http_status: int
    grpc_status: int | None = None
    reset_code: int | None = None
    success: bool = True
    grpc_failure: bool = False


OUTCOMES: tuple[Outcome, ...] = (
    Outcome(70, meshpipe_pb2.HTTP1, 200),
    Outcome(6, meshpipe_pb2.HTTP1, 404),
    Outcome(5, meshpipe_pb2.HTTP1, 503, success=False),
    Outcome(10, meshpipe_pb2.GRPC, 200, grpc_status=0),
    Outcome(3, meshpipe_pb2.GRPC, 200, grpc_status=5),  # NotFound is a success, as in Linkerd
    Outcome(4, meshpipe_pb2.GRPC, 200, grpc_status=14, success=False, grpc_failure=True),
    Outcome(2, meshpipe_pb2.HTTP2, 0, reset_code=2, success=False),
)


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    """What to generate."""

    events: int
    start_s: int  # Unix seconds where the first window starts (a multiple of window_s)
    windows: int = 4  # number of consecutive windows the event times span
    window_s: int = 10  # window length, seconds (must match the worker's --window)
    edges: tuple[EdgeSpec, ...] = DEFAULT_EDGES
    proxies_per_workload: int = 2
    skip_every: int = 0  # skip one proxy_seq after every n events of a proxy (0: no loss)
    late_fraction: float = 0.03  # share of events moved back in time
    late_max_s: float = 25.0  # how far back, at most, seconds
    seed: int = 1

    def __post_init__(self) -> None:
        if self.events < 0 or self.windows < 1 or self.window_s < 1:
            raise ValueError("events must be >= 0, windows and window_s >= 1")
        if self.start_s % self.window_s:
            raise ValueError(f"start_s {self.start_s} is not a multiple of {self.window_s}")


@dataclass(slots=True)
class EdgeTruth:
    """The exact counters of one edge in one window."""

    requests: int = 0
    successes: int = 0
    status_4xx: int = 0
    status_5xx: int = 0
    grpc_failures: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    latencies_us: list[int] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return self.requests - self.successes


TruthKey = tuple[int, str, str, str]  # (window_start_s, "in"/"out", source name, dest. name)


@dataclass(slots=True)
class Truth:
    """What a correct pipeline stores for the generated events."""

    edges: dict[TruthKey, EdgeTruth] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)  # proxy id -> skipped sequence numbers
    events: int = 0

    def total(self, keys: Iterable[TruthKey] | None = None) -> EdgeTruth:
        """The counters summed over the given keys (all when None)."""
        out = EdgeTruth()
        for key in self.edges if keys is None else keys:
            part = self.edges[key]
            out.requests += part.requests
            out.successes += part.successes
            out.status_4xx += part.status_4xx
            out.status_5xx += part.status_5xx
            out.grpc_failures += part.grpc_failures
            out.request_bytes += part.request_bytes
            out.response_bytes += part.response_bytes
            out.latencies_us.extend(part.latencies_us)
        return out


def exact_quantile(values: Sequence[int], q: float) -> int:
    """The nearest-rank q-quantile of values (the value `schemas.latency.quantile` estimates)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class _Sequencer:
    """Per-proxy sequence numbers, skipping one after every n events when asked to."""

    def __init__(self, skip_every: int) -> None:
        self._skip_every = skip_every
        self._next: dict[str, int] = {}
        self._emitted: dict[str, int] = {}
        self.skipped: dict[str, int] = {}

    def next(self, proxy: str) -> int:
        seq = self._next.get(proxy, 1)
        emitted = self._emitted.get(proxy, 0)
        if self._skip_every and emitted and emitted % self._skip_every == 0:
            seq += 1  # the skipped one lies between two emitted ones, so it is countable
            self.skipped[proxy] = self.skipped.get(proxy, 0) + 1
        self._next[proxy] = seq + 1
        self._emitted[proxy] = emitted + 1
        return seq


def _workload(name: str, namespace: str, pod: int) -> meshpipe_pb2.Workload:
    return meshpipe_pb2.Workload(
        namespace=namespace, kind="deployment", name=name, pod=f"{name}-{pod}", meshed=True
    )


def _event(
    spec: EdgeSpec, outcome: Outcome, proxy: tuple[str, int], start_ns: int, rng: random.Random
) -> meshpipe_pb2.RequestEvent:
    proxy_id, seq = proxy
    pod = int(proxy_id.rsplit("-", 1)[1])
    latency = max(1, int(rng.lognormvariate(math.log(spec.latency_median_us), 0.7)))
    event = meshpipe_pb2.RequestEvent(
        id=rng.getrandbits(128).to_bytes(16, "big"),
        proxy_id=proxy_id,
        proxy_seq=seq,
        direction=spec.direction,
        source=_workload(spec.source, spec.namespace, pod),
        destination=_workload(spec.destination, spec.namespace, pod),
        protocol=outcome.protocol,
        method="POST" if outcome.protocol == meshpipe_pb2.GRPC else rng.choice(("GET", "POST")),
        scheme="http",
        authority=f"{spec.destination}-svc.{spec.namespace}:8080",
        path=f"/api/{spec.destination}/{rng.randrange(5)}",
        http_status=outcome.http_status,
        latency_us=latency,
        duration_us=latency + rng.randrange(0, 2_000),
        request_bytes=rng.randrange(0, 2_000),
        response_bytes=rng.randrange(0, 20_000),
        classification=meshpipe_pb2.SUCCESS if outcome.success else meshpipe_pb2.FAILURE,
    )
    if outcome.grpc_status is not None:
        event.grpc_status = outcome.grpc_status
    if outcome.reset_code is not None:
        event.reset_code = outcome.reset_code
    event.start.FromNanoseconds(start_ns)
    return event


def single_event(edge: EdgeSpec, start_ns: int, proxy_seq: int, seed: int = 0) -> Msg:
    """One successful HTTP/1 event of edge from proxy `<reporter>-<side>-0`."""
    reporter, side = (edge.source, "out") if edge.direction == OUT else (edge.destination, "in")
    rng = random.Random(seed)
    return _event(edge, OUTCOMES[0], (f"{reporter}-{side}-0", proxy_seq), start_ns, rng)


def _start_ns(spec: GeneratorSpec, index: int, rng: random.Random) -> int:
    span_s = spec.windows * spec.window_s
    at = spec.start_s + span_s * index / max(1, spec.events) + rng.uniform(-0.5, 0.5)
    if rng.random() < spec.late_fraction:
        at -= rng.uniform(0, spec.late_max_s)
    at = min(max(at, spec.start_s), spec.start_s + span_s - 1e-3)
    return int(at * NANOS)


def _count(truth: Truth, spec: GeneratorSpec, edge: EdgeSpec, out: Outcome, event: Msg) -> None:
    seconds = event.start.seconds
    window = seconds - seconds % spec.window_s
    direction = "in" if edge.direction == IN else "out"
    key = (window, direction, edge.source, edge.destination)
    cell = truth.edges.setdefault(key, EdgeTruth())
    cell.requests += 1
    cell.successes += out.success
    cell.status_4xx += 400 <= out.http_status <= 499
    cell.status_5xx += 500 <= out.http_status <= 599
    cell.grpc_failures += out.grpc_failure
    cell.request_bytes += event.request_bytes
    cell.response_bytes += event.response_bytes
    cell.latencies_us.append(event.latency_us)
    truth.events += 1


def generate(spec: GeneratorSpec) -> tuple[list[Msg], Truth]:
    """The events, in production order, and the truth they imply."""
    rng = random.Random(spec.seed)
    sequencer = _Sequencer(spec.skip_every)
    truth = Truth()
    events: list[Msg] = []
    edge_weights = [edge.weight for edge in spec.edges]
    outcome_weights = [outcome.weight for outcome in OUTCOMES]
    for index in range(spec.events):
        edge = rng.choices(spec.edges, edge_weights)[0]
        outcome = rng.choices(OUTCOMES, outcome_weights)[0]
        reporter = edge.source if edge.direction == OUT else edge.destination
        side = "out" if edge.direction == OUT else "in"
        proxy_id = f"{reporter}-{side}-{rng.randrange(spec.proxies_per_workload)}"
        seq = sequencer.next(proxy_id)
        event = _event(edge, outcome, (proxy_id, seq), _start_ns(spec, index, rng), rng)
        events.append(event)
        _count(truth, spec, edge, outcome, event)
    truth.lost = dict(sequencer.skipped)
    return events, truth


def sidecar_records(events: Iterable[Msg], send_events: int) -> Iterator[Record]:
    """The records busy sidecars would send for these events: each proxy's events grouped as
    its publisher groups a send of `send_events` queued events (proxy.publisher)."""
    settings = PublisherSettings()
    queued: dict[str, list[Msg]] = {}
    for event in events:
        mine = queued.setdefault(event.proxy_id, [])
        mine.append(event)
        if len(mine) >= send_events:
            yield from batch_records(mine, edge_key, settings)
            mine.clear()
    for mine in queued.values():
        yield from batch_records(mine, edge_key, settings)


async def produce(bootstrap: str, topic: str, events: Iterable[Msg], send_events: int = 0) -> int:
    """Send the events keyed by edge and wait until the broker acknowledged all; return count.

    send_events 0: one event per record (the format before batches); else in batch records as
    sidecars that find that many events queued per send would write them.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=262_144
    )
    records: Iterable[Record] = (
        sidecar_records(events, send_events)
        if send_events
        else (Record(edge_key(e), e.SerializeToString()) for e in events)
    )
    await producer.start()
    try:
        pending = []
        sent = 0
        for r in records:
            sent += r.events
            headers = list(r.headers)
            pending.append(await producer.send(topic, r.value, r.key, headers=headers))
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def aligned_start_s(window_s: int, windows_ago: int, clock: float) -> int:
    """The start of the window windows_ago windows before the one holding clock (Unix s)."""
    now = int(clock)
    return now - now % window_s - windows_ago * window_s


def main(argv: Sequence[str] | None = None) -> None:
    """Generate events into a topic and print how long producing took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--topic", default=REQUESTS)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--windows", type=int, default=6)
    parser.add_argument("--window-s", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--send-events", type=int, default=0, help="batch as sidecars sending this many (0: one)"
    )
    args = parser.parse_args(argv)
    start = aligned_start_s(args.window_s, args.windows + 1, time.time())
    spec = GeneratorSpec(args.events, start, args.windows, args.window_s, seed=args.seed)
    events, truth = generate(spec)
    began = time.monotonic()
    asyncio.run(produce(args.kafka, args.topic, events, args.send_events))
    took = time.monotonic() - began
    print(f"produced {truth.events} events in {took:.2f} s ({truth.events / took:.0f}/s)")


if __name__ == "__main__":
    main()
