"""The result model of a benchmark run (figures with unit, peer and ratio) and its JSON/markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured number, next to the peer it is compared with (measured in the same run)."""

    scenario: str  # proxy, pipeline, tap, query
    metric: str  # e.g. cpu_us_per_request, max_rps, added_latency_p99
    subject: str  # what was measured, e.g. meshproxy-inbound
    value: float
    unit: str  # us, rps, ms, MiB, events/s, ...
    protocol: str = ""  # http1, h2c, grpc; empty when not a protocol figure
    peer: str | None = None  # what the value is compared with; None only for references
    peer_value: float | None = None
    ratio: float | None = None  # value / peer_value
    aim: float | None = None  # where the project aims (the target), same unit
    note: str = ""

    @property
    def is_reference(self) -> bool:
        """A figure other figures are compared with (it has no peer itself)."""
        return self.peer is None


@dataclass(frozen=True)
class Skip:
    """A part of a scenario that did not run, and why."""

    scenario: str
    part: str
    reason: str


@dataclass
class ScenarioResult:
    """What one scenario produced: figures, skips, and the conditions it ran under."""

    scenario: str
    figures: list[Figure] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    conditions: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def skip(self, part: str, reason: str) -> None:
        self.skips.append(Skip(self.scenario, part, reason))


def ratio(value: float, peer_value: float) -> float | None:
    """value / peer_value, or None when the quotient is undefined (peer 0 or not finite)."""
    if peer_value == 0 or not math.isfinite(value) or not math.isfinite(peer_value):
        return None
    return value / peer_value


def compared(figure: Figure, peer: str, peer_value: float) -> Figure:
    """figure with its peer, the peer's value and the ratio filled in."""
    return Figure(
        **{
            **asdict(figure),
            "peer": peer,
            "peer_value": peer_value,
            "ratio": ratio(figure.value, peer_value),
        }
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1) of values; raises ValueError when empty."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 1:
        raise ValueError(f"quantile {q} is not in (0, 1]")
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


def median(values: Sequence[float]) -> float:
    """The median (mean of the middle two for an even count); raises ValueError when empty."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def document(results: Sequence[ScenarioResult], machine: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a run: machine, scenarios with their figures, skips and conditions."""
    return {
        "format": "meshpipe-bench/1",
        "machine": machine,
        "scenarios": [
            {
                "scenario": r.scenario,
                "seconds": round(r.seconds, 1),
                "conditions": r.conditions,
                "figures": [asdict(f) for f in r.figures],
                "skips": [asdict(s) for s in r.skips],
            }
            for r in results
        ],
    }


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def markdown(results: Sequence[ScenarioResult]) -> str:
    """One markdown table per scenario (figure, value, peer, ratio, aim) plus the skips."""
    lines: list[str] = []
    for result in results:
        lines.append(f"### {result.scenario}")
        lines.append("")
        lines.append(
            "| metric | protocol | subject | value | unit | peer | peer value | ratio | aim |"
        )
        lines.append("|---|---|---|--:|---|---|--:|--:|--:|")
        for f in result.figures:
            ratio_text = "-" if f.ratio is None else f"{f.ratio:.2f}x"
            lines.append(
                f"| {f.metric} | {f.protocol or '-'} | {f.subject} | {_number(f.value)} | {f.unit}"
                f" | {f.peer or '(reference)'} | {_number(f.peer_value)} | {ratio_text}"
                f" | {_number(f.aim)} |"
            )
        lines.extend(f"\nskipped {s.part}: {s.reason}" for s in result.skips)
        lines.append("")
    return "\n".join(lines)
