"""The dashboard's JSON API: each handler turns a page's URL parameters into query-layer
questions (sinks/ through a Backend) and answers with JSON-ready dicts. No I/O of its own.

Stat, edge and route rows are meshstat's `-o json` objects (`row_json`, `edge_json`,
`route_json` of cli/), so the pages show the same numbers as `meshstat -o json` for the range.
Series are the same rows over the parts inside the range of consecutive sub-ranges of whole
windows (`TimeRange.buckets`), read in one query with the whole range's rows (`sinks.series`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from meshpipe.cli.meshstat_edges import edge_json
from meshpipe.cli.meshstat_routes import route_json
from meshpipe.cli.stat_render import row_json
from meshpipe.dashboard.backend import Backend
from meshpipe.dashboard.kafkahealth import UNKNOWN, KafkaHealth, KafkaProbe
from meshpipe.dashboard.timerange import RangeError, TimeRange, parse_range, points
from meshpipe.schemas.clock import Clock
from meshpipe.schemas.kinds import canonical
from meshpipe.sinks.edges import EdgeQuery
from meshpipe.sinks.query import EdgeMode, Peer, Selection, StatQuery, StatRow
from meshpipe.sinks.routes import RouteQuery

Json = dict[str, object]
Params = Mapping[str, str]
SPARK_POINTS = 20  # points of a workloads table's sparklines
SERIES_POINTS = 40  # points of a workload page's charts
FRESHNESS_LOOKBACK_S = 3600.0  # how far back the newest stored window is looked for
_ALL = "all"


class ApiError(ValueError):
    """A request the API cannot answer as asked (HTTP 400); the message says why."""


@dataclass(frozen=True)
class GrafanaLink:
    """One provisioned Grafana dashboard (deploy/mesh/grafana)."""

    uid: str
    title: str


def _range(params: Params, clock: Clock) -> TimeRange:
    try:
        return parse_range(params, clock.time())
    except RangeError as exc:
        raise ApiError(str(exc)) from None


def _points(params: Params, default: int) -> int:
    try:
        return points(params, default)
    except RangeError as exc:
        raise ApiError(str(exc)) from None


def _kind(text: str) -> str:
    kind = canonical(text)
    if kind is None:
        raise ApiError(f"unknown resource kind {text!r}")
    return kind


def _stat(
    selection: Selection,
    span: tuple[float, float],
    mode: EdgeMode = EdgeMode.SERVER,
    peer: Peer | None = None,
) -> StatQuery:
    """A stat query over span; edges to and from a peer include unmeshed ends."""
    return StatQuery(selection, mode, peer, span[0], span[1], include_unmeshed=peer is not None)


def node_id(namespace: str, kind: str, name: str) -> str:
    """A map node's id: `ns/kind/name` for a meshed workload, the peer text otherwise."""
    return f"{namespace}/{kind}/{name}" if kind else name


def _series_point(row: StatRow | None, span: tuple[float, float]) -> Json:
    return {
        "t": span[0],
        "rps": 0.0 if row is None else row.rps,
        "success": None if row is None else row.success,
        "p50": None if row is None else row.latency_ms_p50,
        "p95": None if row is None else row.latency_ms_p95,
        "p99": None if row is None else row.latency_ms_p99,
    }


class Api:
    """The handlers; each takes the request's parameters and returns the JSON body."""

    def __init__(
        self,
        backend: Backend,
        clock: Clock,
        grafana_url: str,
        grafana: Sequence[GrafanaLink],
        kafka: KafkaProbe | None = None,
    ) -> None:
        self._backend = backend
        self._kafka = kafka
        self._clock = clock
        self._grafana_url = grafana_url.rstrip("/")
        self._grafana = tuple(grafana)

    async def config(self, _params: Params) -> Json:
        """What every page needs once: the Grafana dashboards to link to."""
        return {
            "grafana": [
                {"uid": g.uid, "title": g.title, "url": f"{self._grafana_url}/d/{g.uid}"}
                for g in self._grafana
            ]
        }

    async def overview(self, params: Params) -> Json:
        """Namespaces with their numbers and meshed workloads, and the pipeline's health."""
        span = _range(params, self._clock)
        window = (span.start_s, span.end_s)
        # The namespaces' rows are summed from the workloads' (one read of the sums).
        workloads, namespaces = await self._backend.stat_with_namespaces(
            _stat(Selection(_ALL, (), None), window)
        )
        meshed: dict[str, int] = {}
        for row in workloads:
            if row.meshed:
                meshed[row.namespace] = meshed.get(row.namespace, 0) + 1
        lossy = [row_json(r) for r in workloads if r.events_lost > 0]
        now = self._clock.time()
        newest, kafka = await asyncio.gather(
            self._backend.newest_window(now - FRESHNESS_LOOKBACK_S), self._kafka_health()
        )
        return {
            "range": span.as_json(),
            "namespaces": [
                {**row_json(r), "meshed_workloads": meshed.get(r.name, 0)} for r in namespaces
            ],
            "pipeline": {
                # Age of the newest stored window's start: ≤ a window plus the flush delay when
                # the workers keep up; None when nothing was stored within the lookback.
                "newest_window": newest,
                "freshness_s": None if newest is None else now - newest,
                "dead_letters": kafka.dead_letters,
                "worker_lag": kafka.worker_lag,
                "events_lost": sum(r.events_lost for r in namespaces),
                "workloads_losing_events": lossy,
            },
        }

    async def _kafka_health(self) -> KafkaHealth:
        return UNKNOWN if self._kafka is None else await self._kafka.health()

    async def namespace(self, params: Params, namespace: str) -> Json:
        """A namespace's workloads (`meshstat all -n NS`) with sparklines of rps and success."""
        span = _range(params, self._clock)
        selection = Selection(_ALL, (), namespace)
        buckets = span.buckets(_points(params, SPARK_POINTS))
        # The table's rows and the sparklines' from one read of the sums.
        whole, per_bucket = await self._backend.stat_series(
            _stat(selection, (span.start_s, span.end_s)), buckets
        )
        lines: dict[tuple[str, str], list[Json]] = {(r.kind, r.name): [] for r in whole}
        for bucket, rows in zip(buckets, per_bucket, strict=True):
            found = {(r.kind, r.name): r for r in rows}
            for key, points_of in lines.items():
                points_of.append(_series_point(found.get(key), bucket))
        return {
            "range": span.as_json(),
            "namespace": namespace,
            "workloads": [{**row_json(r), "series": lines[(r.kind, r.name)]} for r in whole],
        }

    async def workload(self, params: Params, namespace: str, kind: str, name: str) -> Json:
        """One workload: its numbers, series, inbound and outbound edges, and routes."""
        span = _range(params, self._clock)
        kind = _kind(kind)
        window = (span.start_s, span.end_s)
        own = Selection(kind, (name,), namespace)
        peer = Peer(kind, name, namespace)
        anyone = Selection(_ALL, (), None)
        buckets = span.buckets(_points(params, SERIES_POINTS))
        queries = [
            _stat(anyone, window, mode=EdgeMode.TO, peer=peer),
            _stat(anyone, window, mode=EdgeMode.FROM, peer=peer),
        ]
        (inbound, outbound), (whole, per_bucket), route_rows = await asyncio.gather(
            self._backend.stat(queries),
            self._backend.stat_series(_stat(own, window), buckets),
            self._backend.routes(RouteQuery(own, start_s=window[0], end_s=window[1])),
        )
        return {
            "range": span.as_json(),
            "workload": {"namespace": namespace, "kind": kind, "name": name},
            "stat": row_json(whole[0]) if whole else None,
            "inbound": [row_json(r) for r in inbound],
            "outbound": [row_json(r) for r in outbound],
            "series": [
                _series_point(rows[0] if rows else None, b)
                for b, rows in zip(buckets, per_bucket, strict=True)
            ],
            "routes": [route_json(r) for r in route_rows],
        }

    async def service_map(self, params: Params) -> Json:
        """Workloads as nodes and edges with success and rps (`meshstat edges`), for a range."""
        span = _range(params, self._clock)
        namespace = params.get("namespace") or None
        rows = await self._backend.edges(
            EdgeQuery(namespace, start_s=span.start_s, end_s=span.end_s)
        )
        nodes: dict[str, Json] = {}
        for r in rows:
            for ns, kind, name in (
                (r.src_namespace, r.src_kind, r.src),
                (r.dst_namespace, r.dst_kind, r.dst),
            ):
                key = node_id(ns, kind, name)
                nodes.setdefault(
                    key,
                    {"id": key, "namespace": ns, "kind": kind, "name": name, "meshed": bool(kind)},
                )
        return {
            "range": span.as_json(),
            "namespace": namespace,
            "nodes": [nodes[k] for k in sorted(nodes)],
            "edges": [
                {
                    **edge_json(r),
                    "source": node_id(r.src_namespace, r.src_kind, r.src),
                    "target": node_id(r.dst_namespace, r.dst_kind, r.dst),
                }
                for r in rows
            ],
        }
