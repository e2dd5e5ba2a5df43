"""The proxy scenario: origin direct, through HAProxy, nginx, one meshproxy hop and the pair."""

from __future__ import annotations

import contextlib
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bench import stall
from bench.loadgen import LoadResult, LoadSpec, closed_loop, constant_rate
from bench.machine import load_average
from bench.peers import OriginPorts
from bench.procs import BenchError, Service, Services
from bench.proxy_figures import Measured, proxy_figures
from bench.report import ScenarioResult, median
from bench.topology import (
    COMPILED_SUBJECTS,
    FLOOR_SUBJECTS,
    MESH_INBOUND,
    MESH_KAFKA_STALLED,
    MESH_NO_KAFKA,
    SUBJECTS,
    Layout,
    Subject,
    start_origin,
    start_subject,
)

T = TypeVar("T")
PERCENTILES = (0.5, 0.99, 0.999)


@dataclass(frozen=True)
class ProxySettings:
    """Durations (seconds), repetitions and rates of the proxy scenario."""

    closed_s: float  # one closed-loop (max rps) run
    rate_s: float  # one constant-rate run
    warmup_s: float  # unmeasured closed-loop load before a subject's runs
    runs: int  # repetitions of every run; figures are medians over them
    rates: tuple[int, ...]  # constant rates for the latency runs, requests/s
    connections: int = 16  # closed-loop connections
    rate_connections: int = 8  # connections of the constant-rate runs
    protocols: tuple[str, ...] = ("http1", "h2c", "grpc")
    # the Kafka-down and Kafka-stalled subjects
    kafka_down_protocols: tuple[str, ...] = ("http1", "h2c", "grpc")
    subjects: tuple[str, ...] | None = None  # only these subjects (None: all)


# Quick checks the harness: no warm-up, and the Kafka-fault subjects for HTTP/1.1 only.
QUICK = ProxySettings(
    closed_s=1, rate_s=1, warmup_s=0, runs=1, rates=(500, 2000), kafka_down_protocols=("http1",)
)
FULL = ProxySettings(closed_s=5, rate_s=8, warmup_s=2, runs=3, rates=(500, 1000, 2000))


class _PeakRss:
    """Samples the resident memory of services every 100 ms while a block runs; keeps the peak."""

    def __init__(self, services: list[Service]) -> None:
        self._services = services
        self._stop = threading.Event()
        self.peak_mib = 0.0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak_mib = max(self.peak_mib, sum(s.rss_mib() for s in self._services))

    def around(self, run: Callable[[], T]) -> T:
        self._thread.start()
        try:
            return run()
        finally:
            self._stop.set()
            self._thread.join()


def _cpu(proxies: list[Service]) -> float:
    return sum(s.cpu_seconds() for s in proxies)


def _closed_runs(subject: Subject, settings: ProxySettings, layout: Layout) -> Measured:
    """Max rps (pinned) with CPU per request and peak RSS: medians over settings.runs."""
    spec = LoadSpec(settings.closed_s, settings.connections, cpus=layout.load_cpus)
    report = layout.workdir / f"closed-{subject.name}.json"  # fortio's (gRPC)
    if settings.warmup_s > 0:
        closed_loop(subject.target, LoadSpec(settings.warmup_s, settings.connections), report)
    rps, cpu_us, rss = [], [], []
    for _ in range(settings.runs):
        before = _cpu(subject.proxies)
        sampler = _PeakRss(subject.proxies)
        result = sampler.around(lambda: closed_loop(subject.target, spec, report))
        _require_success(subject, result)
        rps.append(result.rps)
        if subject.proxies:
            cpu_us.append((_cpu(subject.proxies) - before) * 1e6 / result.succeeded)
            rss.append(sampler.peak_mib)
    return Measured(
        subject.name,
        subject.target.protocol,
        max_rps=median(rps),
        cpu_us_per_request=median(cpu_us) if cpu_us else None,
        rss_mib=median(rss) if rss else None,
    )


def _require_success(subject: Subject, result: LoadResult) -> None:
    for proxy in subject.proxies:
        proxy.check_alive()
    if result.succeeded == 0:
        raise BenchError(f"{subject.name}: no request succeeded ({result.failed} failed)")


def _rate_runs(subject: Subject, settings: ProxySettings, layout: Layout, into: Measured) -> None:
    """Latency percentiles (ms) at each constant rate: medians over settings.runs."""
    log = layout.workdir / f"rate-{subject.name}.log"  # h2load's request log or fortio's report
    for rate in settings.rates:
        per_run: list[tuple[float, ...]] = []
        achieved = []
        for _ in range(settings.runs):
            spec = LoadSpec(settings.rate_s, settings.rate_connections, rate, cpus=layout.load_cpus)
            result = constant_rate(subject.target, spec, log)
            _require_success(subject, result)
            if not result.has_latencies:
                raise BenchError(f"{subject.name}: the load generator gave no request times")
            per_run.append(tuple(result.latency_us(q) / 1000 for q in PERCENTILES))
            achieved.append(result.rps)
        into.latency_ms[rate] = tuple(median([run[i] for run in per_run]) for i in range(3))
        into.achieved_rps[rate] = median(achieved)


def _measure(
    name: str, protocol: str, settings: ProxySettings, layout: Layout, origin_ports: OriginPorts
) -> Measured:
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(_broker_stall(layout)) if name == MESH_KAFKA_STALLED else None
        services = stack.enter_context(Services())  # stopped before the stall is undone
        wrap = broker.wrap if broker is not None else None
        subject = start_subject(name, protocol, origin_ports, layout, services, wrap)
        if broker is not None:
            _stall_once_publishing(subject, broker, layout)
        if name == MESH_NO_KAFKA:
            measured = Measured(name, protocol)
        else:
            measured = _closed_runs(subject, settings, layout)
        _rate_runs(subject, settings, layout, measured)
        if subject.admin is not None:  # every single meshproxy hop: did it shed events?
            measured.pipeline = _pipeline(subject.admin)
        return measured


def _broker_stall(layout: Layout) -> stall.PortStall:
    reason = stall.unavailable()
    if reason is not None:
        raise BenchError(f"a stalled Kafka {reason}")
    host, _, port = layout.kafka.split(",")[0].rpartition(":")
    return stall.PortStall(host, int(port), "bench")


def _stall_once_publishing(subject: Subject, broker: stall.PortStall, layout: Layout) -> None:
    """Let the proxy connect and publish (1 s of load), then stall its Kafka for the runs:
    its producer's connections stay open and unanswered, as with a paused broker."""
    assert subject.admin is not None
    warm = LoadSpec(1, 4, cpus=layout.load_cpus)
    closed_loop(subject.target, warm, layout.workdir / f"warm-{subject.name}.json")
    deadline = time.monotonic() + 15
    while (stats := _pipeline(subject.admin))[0] == 0 or stats[2] > 0:
        if time.monotonic() > deadline:
            raise BenchError(f"{subject.name}: no event published before the stall: {stats}")
        time.sleep(0.1)
    broker.stall()


def _pipeline(admin: int) -> tuple[float, float, float]:
    """(events published, dropped, queued) from a meshproxy's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    names = ("events_published_total", "events_dropped_total", "event_queue_depth")
    found = [re.search(rf"^{n} (\S+)$", text, re.MULTILINE) for n in names]
    if not all(found):
        raise BenchError(f"meshproxy /metrics lacks the event counters {names}")
    return tuple(float(m.group(1)) for m in found if m)  # type: ignore[return-value]


def _protocols(
    settings: ProxySettings, origin: OriginPorts, result: ScenarioResult
) -> tuple[str, ...]:
    if "grpc" in settings.protocols and origin.grpc is None:
        result.skip("grpc", "fortio (gRPC origin and load generator) is not installed: make tools")
        return tuple(p for p in settings.protocols if p != "grpc")
    return settings.protocols


def _subjects(settings: ProxySettings, protocol: str, compiled: bool = False) -> tuple[str, ...]:
    faults = (MESH_NO_KAFKA, MESH_KAFKA_STALLED)
    kafka_faults = faults if protocol in settings.kafka_down_protocols else ()
    mypyc = COMPILED_SUBJECTS if compiled else ()
    floor = FLOOR_SUBJECTS if protocol == "http1" else ()
    # The floor right after the peers, before meshproxy: read top to bottom, the table goes from
    # C proxies to the least a Python relay costs to ours.
    peers, ours = SUBJECTS[: SUBJECTS.index(MESH_INBOUND)], SUBJECTS[SUBJECTS.index(MESH_INBOUND) :]
    every = (*peers, *floor, *ours, *mypyc, *kafka_faults)
    return every if settings.subjects is None else tuple(s for s in every if s in settings.subjects)


def _note_pipeline(result: ScenarioResult, protocol: str, m: Measured | None) -> None:
    """A hop's event counters at the end: proof a stalled Kafka was really stalled, and whether
    a healthy hop kept up publishing (events dropped under closed-loop load make its CPU per
    request lower than it would be with every event sent)."""
    if m is not None and m.pipeline is not None:
        published, dropped, queued = (int(n) for n in m.pipeline)
        result.conditions[f"events_{protocol}_{m.subject}"] = (
            f"published {published}, dropped {dropped}, queued {queued}"
        )


def run_proxy(settings: ProxySettings, layout: Layout, result: ScenarioResult) -> None:
    """Measure every subject for every protocol and add the figures (and skips) to result."""
    result.conditions.update(
        {
            "proxy_cpus": layout.proxy_cpus,
            "load_and_origin_cpus": layout.load_cpus,
            "closed_loop_s": settings.closed_s,
            "constant_rate_s": settings.rate_s,
            "runs": settings.runs,
            "connections": settings.connections,
            "rate_connections": settings.rate_connections,
            "load_average_before": load_average(),
        }
    )
    measured: dict[tuple[str, str], Measured] = {}
    with Services() as services:
        origin_ports = start_origin(layout, services)
        for protocol in _protocols(settings, origin_ports, result):
            compiled = layout.compiled_meshproxy is not None
            for name in _subjects(settings, protocol, compiled):
                began = time.monotonic()
                try:
                    measured[protocol, name] = _measure(
                        name, protocol, settings, layout, origin_ports
                    )
                except BenchError as exc:
                    result.skip(f"{protocol} {name}", str(exc)[:300])
                result.conditions[f"seconds_{protocol}_{name}"] = round(time.monotonic() - began, 1)
                _note_pipeline(result, protocol, measured.get((protocol, name)))
    result.conditions["load_average_after"] = load_average()
    for figure in proxy_figures(measured, settings.rates, MESH_INBOUND):
        result.add(figure)
