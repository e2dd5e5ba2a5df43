"""Unit tests for the floor's place in the proxy scenario: its command lines and subjects."""

from __future__ import annotations

from bench.peers import FloorArgs, floor_argv
from bench.proxy import QUICK, _subjects


def test_floor_argv_passes_kafka_only_for_the_events_subject() -> None:
    plain = floor_argv(FloorArgs(1, 2, None, "t"))
    events = floor_argv(FloorArgs(1, 2, "127.0.0.1:9092", "t"))
    assert plain[1:3] == ["-m", "bench.floor"]
    assert not any(a.startswith("--kafka") for a in plain)
    assert "--kafka=127.0.0.1:9092" in events
    assert "--topic=t" in events


def test_floor_subjects_run_for_http1_only_between_the_peers_and_meshproxy() -> None:
    http1 = _subjects(QUICK, "http1")
    assert (
        http1.index("nginx-proxy") < http1.index("python-floor") < http1.index("meshproxy-inbound")
    )
    assert "python-floor+events" in http1
    assert not any(s.startswith("python-floor") for s in _subjects(QUICK, "h2c"))
