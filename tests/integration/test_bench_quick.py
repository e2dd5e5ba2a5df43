"""`python -m bench all --quick` runs against the real dev stack and reports every figure properly.

This checks the harness, never speed: figures are whatever the machine gives.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import stall
from meshpipe.deploy.dev.stack import DevStack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_run(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON document of one quick run of every scenario."""
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    ch = dev_stack.settings.clickhouse
    argv = [
        sys.executable, "-m", "bench", "all", "--quick", "--no-save", f"--json={out}",
        f"--kafka={dev_stack.settings.kafka.bootstrap}",
        f"--clickhouse=clickhouse://default@{ch.host}:{ch.tcp_port}",
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(out.read_text()))


def _figures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for s in doc["scenarios"] for f in s["figures"]]


def _names(doc: dict[str, Any], scenario: str) -> set[tuple[str, str, str]]:
    [s] = [s for s in doc["scenarios"] if s["scenario"] == scenario]
    return {(f["protocol"], f["subject"], f["metric"]) for f in s["figures"]}


def test_every_compared_figure_has_unit_peer_value_and_ratio(quick_run: dict[str, Any]) -> None:
    figures = _figures(quick_run)
    assert figures
    for f in figures:
        assert f["unit"], f
        assert math.isfinite(f["value"]), f
        if f["peer"] is not None and f["peer_value"]:
            assert f["ratio"] == pytest.approx(f["value"] / f["peer_value"]), f


def test_non_reference_figures_have_a_measured_peer(quick_run: dict[str, Any]) -> None:
    missing = [f for f in _figures(quick_run) if f["peer"] is not None and f["ratio"] is None]
    assert missing == []


def test_document_describes_the_machine(quick_run: dict[str, Any]) -> None:
    machine = quick_run["machine"]
    assert machine["cores"] >= 1
    assert len(machine["load_average_at_start"]) == 3
    assert set(machine["tools"]) == {"nginx", "haproxy", "wrk", "h2load", "fortio"}


def test_every_scenario_ran(quick_run: dict[str, Any]) -> None:
    assert [s["scenario"] for s in quick_run["scenarios"]] == [
        "proxy",
        "pipeline",
        "tap",
        "query",
        "dashboard",
    ]
    for scenario in quick_run["scenarios"]:
        assert [s for s in scenario["skips"] if s["part"] == "all"] == [], scenario["skips"]


def test_proxy_figures_cover_peers_and_meshproxy_for_http1(quick_run: dict[str, Any]) -> None:
    names = _names(quick_run, "proxy")
    [proxy] = [s for s in quick_run["scenarios"] if s["scenario"] == "proxy"]
    for subject in ("haproxy", "nginx-proxy", "meshproxy-inbound", "meshproxy-pair"):
        why = [s["reason"] for s in proxy["skips"] if s["part"] == f"http1 {subject}"]
        assert ("http1", subject, "cpu_us_per_request") in names, (subject, why)
        assert ("http1", subject, "added_latency_p99_at_2000rps") in names, (subject, why)
    assert ("http1", "meshproxy-inbound", "rss_mib") in names
    for floor in ("python-floor", "python-floor+events"):
        why = [s["reason"] for s in proxy["skips"] if s["part"] == f"http1 {floor}"]
        assert ("http1", floor, "cpu_us_per_request") in names, (floor, why)
        assert ("http1", floor, "added_latency_p99_at_2000rps") in names, (floor, why)
    assert not any(subject.startswith("python-floor") for p, subject, _ in names if p != "http1")
    assert ("http1", "meshproxy-inbound-kafka-down", "latency_p99_at_500rps_kafka_down") in names


def test_proxy_kafka_stalled_subject_measured_while_its_events_pile_up(
    quick_run: dict[str, Any],
) -> None:
    names = _names(quick_run, "proxy")
    [proxy] = [s for s in quick_run["scenarios"] if s["scenario"] == "proxy"]
    stalled = "meshproxy-inbound-kafka-stalled"
    reason = stall.unavailable()
    if reason is not None:  # not root: skipped, saying why
        assert any(
            s["part"] == f"http1 {stalled}" and reason in s["reason"] for s in proxy["skips"]
        )
        return
    assert ("http1", stalled, "latency_p99_at_500rps_kafka_stalled") in names
    assert ("http1", stalled, "added_latency_p99_at_500rps") in names
    # The stall was real: events waited in the proxy's queue instead of reaching Kafka.
    counters = proxy["conditions"][f"events_http1_{stalled}"]
    queued = int(counters.rpartition("queued ")[2])
    assert queued > 0, counters


def test_proxy_figures_cover_grpc_through_every_path(quick_run: dict[str, Any]) -> None:
    names = _names(quick_run, "proxy")
    [proxy] = [s for s in quick_run["scenarios"] if s["scenario"] == "proxy"]
    for subject in ("haproxy", "nginx-proxy", "meshproxy-inbound", "meshproxy-pair"):
        why = [s["reason"] for s in proxy["skips"] if s["part"] in ("grpc", f"grpc {subject}")]
        assert ("grpc", subject, "cpu_us_per_request") in names, (subject, why)
        assert ("grpc", subject, "added_latency_p99.9_at_500rps") in names, (subject, why)


def test_pipeline_tap_and_query_report_their_headline_figures(quick_run: dict[str, Any]) -> None:
    assert ("", "meshstreams worker", "events_per_s") in _names(quick_run, "pipeline")
    assert any(m == "freshness_p99" for _, _, m in _names(quick_run, "pipeline"))
    assert any(m == "tap_latency_p99" for _, _, m in _names(quick_run, "tap"))
    assert any(m == "stat_ms_median" for _, _, m in _names(quick_run, "query"))
    assert any(m == "api_ms_median" for _, _, m in _names(quick_run, "dashboard"))
