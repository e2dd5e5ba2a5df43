"""The compiled meshproxy's place in the proxy scenario (`python -m bench proxy --compiled`)."""

from __future__ import annotations

from bench.peers import MESHPROXY, MeshproxyArgs, meshproxy_argv
from bench.proxy import QUICK, _subjects
from bench.proxy_figures import Measured, proxy_figures
from bench.topology import COMPILED_SUBJECTS, HAPROXY, MESH_PAIR


def test_compiled_subjects_run_only_when_asked_right_after_the_pure_ones() -> None:
    assert not set(COMPILED_SUBJECTS) & set(_subjects(QUICK, "http1"))
    for protocol in ("http1", "h2c", "grpc"):
        subjects = _subjects(QUICK, protocol, compiled=True)
        after_pair = subjects.index(MESH_PAIR) + 1
        assert subjects[after_pair : after_pair + 2] == COMPILED_SUBJECTS


def test_a_compiled_hop_runs_the_given_meshproxy_on_either_loop() -> None:
    args = MeshproxyArgs("ns/deployment/x", 1, "k:1", "t", program="/c/bin/meshproxy")
    assert meshproxy_argv(args)[0] == "/c/bin/meshproxy"
    stdlib = meshproxy_argv(MeshproxyArgs("ns/deployment/x", 1, "k:1", "t", loop="asyncio"))
    assert stdlib[0].endswith("/python")
    assert stdlib[1] == "-c"
    assert meshproxy_argv(MeshproxyArgs("ns/deployment/x", 1, "k:1", "t"))[0] == MESHPROXY


def test_the_compiled_pair_counts_two_hops_in_its_aims() -> None:
    measured = {
        ("http1", HAPROXY): Measured(HAPROXY, "http1", cpu_us_per_request=10.0),
        ("http1", "meshproxy-compiled-pair"): Measured(
            "meshproxy-compiled-pair", "http1", cpu_us_per_request=100.0, rss_mib=80.0
        ),
    }
    figures = {
        f.metric: f
        for f in proxy_figures(measured, (), "meshproxy-inbound")
        if f.subject == "meshproxy-compiled-pair"
    }
    assert figures["cpu_us_per_request"].aim == 40.0  # 2x HAProxy per hop, two hops
    assert figures["rss_mib"].aim == 100.0
