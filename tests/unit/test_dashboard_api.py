"""The dashboard's API handlers over an in-memory Backend: which queries they ask, what JSON
they answer."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from dashboard_fakes import NOW, FakeBackend, FixedClock, edge_row, stat_row

from meshpipe.dashboard.api import Api, ApiError, GrafanaLink
from meshpipe.dashboard.kafkahealth import KafkaHealth
from meshpipe.sinks.query import EdgeMode, Peer


def _api(backend: FakeBackend) -> Api:
    return Api(
        backend, FixedClock(), "http://grafana:3000/", [GrafanaLink("meshpipe-edge", "Edge")]
    )


async def test_overview_counts_meshed_workloads_per_namespace() -> None:
    backend = FakeBackend(
        rows={
            ("namespace", None, "server"): [stat_row("emojivoto", kind="namespace")],
            ("all", None, "server"): [
                stat_row("web"),
                stat_row("emoji"),
                stat_row("api.example.com", namespace="", kind="", meshed=False),
            ],
        }
    )
    body = await _api(backend).overview({})
    [ns] = body["namespaces"]  # type: ignore[misc]
    assert ns["name"] == "emojivoto"
    assert ns["meshed_workloads"] == 2


async def test_overview_lists_the_workloads_whose_proxies_lost_events() -> None:
    backend = FakeBackend(
        rows={
            ("namespace", None, "server"): [stat_row("emojivoto", kind="namespace", events_lost=7)],
            ("all", None, "server"): [stat_row("web", events_lost=7), stat_row("emoji")],
        }
    )
    body = await _api(backend).overview({})
    pipeline = body["pipeline"]
    assert pipeline["events_lost"] == 7  # type: ignore[index]
    assert [w["name"] for w in pipeline["workloads_losing_events"]] == ["web"]  # type: ignore[index]


async def test_overview_defaults_to_the_last_15_minutes_live() -> None:
    backend = FakeBackend()
    body = await _api(backend).overview({})
    assert body["range"] == {"start": NOW - 900, "end": NOW, "live": True}
    assert {(q.start_s, q.end_s) for q in backend.stat_queries} == {(NOW - 900, NOW)}


async def test_a_fixed_range_is_not_live() -> None:
    backend = FakeBackend()
    body = await _api(backend).overview({"start": str(NOW - 3600), "end": str(NOW - 1800)})
    assert body["range"] == {"start": NOW - 3600, "end": NOW - 1800, "live": False}


async def test_namespace_rows_are_meshstat_json_with_a_series_point_per_bucket() -> None:
    backend = FakeBackend(rows={("all", "emojivoto", "server"): [stat_row("web")]})
    body = await _api(backend).namespace({"since": "10m", "points": "6"}, "emojivoto")
    [web] = body["workloads"]  # type: ignore[misc]
    assert web["success"] == 0.9
    assert len(web["series"]) == 6
    assert all(p["rps"] == 1.0 for p in web["series"])
    # One query for the whole range and a series of 6 buckets; all for the namespace's workloads.
    assert len(backend.stat_queries) == 7
    assert [len(b) for b in backend.series_buckets] == [6]
    assert all(q.selection.namespace == "emojivoto" for q in backend.stat_queries)


async def test_workload_asks_callers_with_to_and_destinations_with_from() -> None:
    backend = FakeBackend()
    await _api(backend).workload({}, "emojivoto", "deploy", "web")
    modes = {q.mode: q for q in backend.stat_queries}
    peer = Peer("deployment", "web", "emojivoto")
    assert modes[EdgeMode.TO].peer == peer
    assert modes[EdgeMode.FROM].peer == peer
    assert modes[EdgeMode.TO].include_unmeshed
    [routes] = backend.route_queries
    assert routes.selection.names == ("web",)


async def test_workload_of_an_unknown_kind_is_a_bad_request() -> None:
    with pytest.raises(ApiError, match="unknown resource kind"):
        await _api(FakeBackend()).workload({}, "emojivoto", "gadget", "web")


async def test_a_bad_duration_is_a_bad_request() -> None:
    with pytest.raises(ApiError, match="since"):
        await _api(FakeBackend()).overview({"since": "7 days"})


async def test_map_names_unmeshed_ends_by_their_peer_text() -> None:
    backend = FakeBackend(
        edge_rows=[
            edge_row("web", "emoji"),
            edge_row("voting", "emoji", success=0.5),
            edge_row("web", "api.example.com:443", dst_namespace="", dst_kind=""),
        ]
    )
    body = await _api(backend).service_map({"namespace": "emojivoto"})
    ids = [n["id"] for n in body["nodes"]]  # type: ignore[index]
    assert ids == [
        "api.example.com:443",
        "emojivoto/deployment/emoji",
        "emojivoto/deployment/voting",
        "emojivoto/deployment/web",
    ]
    failing = [e for e in body["edges"] if e["success"] == 0.5]  # type: ignore[index]
    assert failing[0]["source"] == "emojivoto/deployment/voting"
    assert backend.edge_queries[0].namespace == "emojivoto"


async def test_config_links_every_grafana_dashboard() -> None:
    body = await _api(FakeBackend()).config({})
    assert body["grafana"] == [
        {"uid": "meshpipe-edge", "title": "Edge", "url": "http://grafana:3000/d/meshpipe-edge"}
    ]


async def test_overview_says_how_old_the_newest_stored_window_is() -> None:
    body = await _api(FakeBackend(newest=NOW - 12)).overview({})
    assert body["pipeline"]["freshness_s"] == 12  # type: ignore[index]


async def test_overview_without_recent_windows_has_no_freshness() -> None:
    body = await _api(FakeBackend(newest=NOW - 7200)).overview({})
    assert body["pipeline"]["freshness_s"] is None  # type: ignore[index]


@dataclass
class _Probe:
    health_now: KafkaHealth

    async def health(self) -> KafkaHealth:
        return self.health_now


async def test_overview_shows_dead_letters_and_worker_lag_from_kafka() -> None:
    api = Api(FakeBackend(), FixedClock(), "http://g", [], _Probe(KafkaHealth(3, 120)))
    pipeline = (await api.overview({}))["pipeline"]
    assert (pipeline["dead_letters"], pipeline["worker_lag"]) == (3, 120)  # type: ignore[index]


async def test_overview_without_kafka_says_it_does_not_know() -> None:
    pipeline = (await _api(FakeBackend()).overview({}))["pipeline"]
    assert (pipeline["dead_letters"], pipeline["worker_lag"]) == (None, None)  # type: ignore[index]
