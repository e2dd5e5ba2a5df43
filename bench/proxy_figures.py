"""Turns the proxy scenario's measurements into figures, each next to its peer and the aim."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.report import Figure, compared
from bench.topology import DIRECT, HAPROXY, MESH_KAFKA_STALLED, MESH_NO_KAFKA, NGINX

SCENARIO = "proxy"
PERCENTILE_NAMES = ("p50", "p99", "p99.9")
# The aims: CPU per request <= 2x HAProxy's (HTTP/1.1) or 5x (h2/gRPC), added p99 <= 1 ms
# per hop, sidecar RSS <= 50 MiB under load (issue 16; an earlier issue said 40 MB).
CPU_AIM_FACTOR = {"http1": 2.0, "h2c": 5.0, "grpc": 5.0}
P99_AIM_MS_PER_HOP = 1.0
RSS_AIM_MIB = 50.0


@dataclass
class Measured:
    """What was measured for one subject and protocol (None: not measured)."""

    subject: str
    protocol: str
    max_rps: float | None = None
    cpu_us_per_request: float | None = None
    rss_mib: float | None = None
    latency_ms: dict[int, tuple[float, ...]] = field(default_factory=dict)  # rate -> percentiles
    achieved_rps: dict[int, float] = field(default_factory=dict)
    pipeline: tuple[float, float, float] | None = None  # events published, dropped, queued at end


def _hops(subject: str) -> int:
    return 2 if subject.endswith("-pair") else 1


def _figure(metric: str, m: Measured, value: float, unit: str, **extra: object) -> Figure:
    return Figure(SCENARIO, metric, m.subject, value, unit, protocol=m.protocol, **extra)  # type: ignore[arg-type]


def _with_peer(figure: Figure, peer: Measured | None, peer_value: float | None) -> Figure:
    if peer is None or peer_value is None:
        return Figure(**{**figure.__dict__, "note": "peer not measured in this run"})
    return compared(figure, peer.subject, peer_value)


def _peer_of(subject: str, metric: str) -> str | None:
    """The subject a figure is compared with: HAProxy for proxies; the origin for max rps."""
    if metric == "max_rps":
        return None if subject == DIRECT else DIRECT if subject in (HAPROXY, NGINX) else HAPROXY
    if subject in (DIRECT, HAPROXY):
        return None
    return HAPROXY


def _resource_figures(ms: dict[str, Measured], m: Measured) -> list[Figure]:
    out = []
    metrics: list[tuple[str, float | None, str, float | None]] = [
        ("max_rps", m.max_rps, "rps", None),
        ("cpu_us_per_request", m.cpu_us_per_request, "us", None),
        ("rss_mib", m.rss_mib, "MiB", None),
    ]
    for metric, value, unit, _ in metrics:
        if value is None:
            continue
        figure = _figure(metric, m, value, unit, aim=_aim(metric, m, ms))
        peer_name = _peer_of(m.subject, metric)
        if peer_name is not None:
            peer = ms.get(peer_name)
            figure = _with_peer(figure, peer, getattr(peer, metric) if peer else None)
        out.append(figure)
    return out


def _aim(metric: str, m: Measured, ms: dict[str, Measured]) -> float | None:
    if not m.subject.startswith("meshproxy"):
        return None
    if metric == "rss_mib":
        return RSS_AIM_MIB * _hops(m.subject)
    haproxy = ms.get(HAPROXY)
    if metric == "cpu_us_per_request" and haproxy and haproxy.cpu_us_per_request is not None:
        return CPU_AIM_FACTOR[m.protocol] * haproxy.cpu_us_per_request * _hops(m.subject)
    return None


def _latency_figures(ms: dict[str, Measured], m: Measured, rates: tuple[int, ...]) -> list[Figure]:
    direct = ms.get(DIRECT)
    out = []
    for rate in rates:
        if rate not in m.latency_ms:
            continue
        note = f"achieved {m.achieved_rps[rate]:.0f} rps"
        for i, name in enumerate(PERCENTILE_NAMES):
            value = m.latency_ms[rate][i]
            if m.subject == DIRECT:
                out.append(_figure(f"latency_{name}_at_{rate}rps", m, value, "ms", note=note))
            elif m.subject == MESH_NO_KAFKA:
                out.append(_against_healthy_hop(ms, m, rate, i, "kafka_down"))
            elif direct is not None and rate in direct.latency_ms:
                added = value - direct.latency_ms[rate][i]
                aim = P99_AIM_MS_PER_HOP * _hops(m.subject) if name == "p99" else None
                figure = _figure(
                    f"added_latency_{name}_at_{rate}rps", m, added, "ms", aim=aim, note=note
                )
                if m.subject != HAPROXY:
                    peer = ms.get(HAPROXY)
                    peer_value = None
                    if peer and rate in peer.latency_ms:
                        peer_value = peer.latency_ms[rate][i] - direct.latency_ms[rate][i]
                    figure = _with_peer(figure, peer, peer_value)
                else:
                    figure = Figure(**{**figure.__dict__, "note": note + "; reference peer"})
                out.append(figure)
                if m.subject == MESH_KAFKA_STALLED:
                    out.append(_against_healthy_hop(ms, m, rate, i, "kafka_stalled"))
    return out


def _against_healthy_hop(
    ms: dict[str, Measured], m: Measured, rate: int, i: int, condition: str
) -> Figure:
    """A Kafka-fault subject's latency percentile next to the inbound hop's with Kafka healthy."""
    metric = f"latency_{PERCENTILE_NAMES[i]}_at_{rate}rps_{condition}"
    note = f"achieved {m.achieved_rps[rate]:.0f} rps"
    figure = _figure(metric, m, m.latency_ms[rate][i], "ms", note=note)
    peer = ms.get("meshproxy-inbound")
    peer_value = peer.latency_ms.get(rate, (None,) * 3)[i] if peer else None
    return _with_peer(figure, peer, peer_value)


def proxy_figures(
    measured: dict[tuple[str, str], Measured], rates: tuple[int, ...], inbound: str
) -> list[Figure]:
    """Every figure of the proxy scenario, per protocol, with peers, ratios and aims."""
    del inbound
    out: list[Figure] = []
    for protocol in sorted({p for p, _ in measured}):
        ms = {s: m for (p, s), m in measured.items() if p == protocol}
        for m in ms.values():
            out.extend(_resource_figures(ms, m))
        for m in ms.values():
            out.extend(_latency_figures(ms, m, rates))
    return out
