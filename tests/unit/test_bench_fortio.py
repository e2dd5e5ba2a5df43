"""Unit tests for bench's gRPC pieces: fortio's report and command lines, the peers' gRPC config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.fortio import load_argv, parse_report
from bench.loadgen import LoadResult
from bench.peers import OriginPorts, PeerPorts, haproxy_conf, nginx_proxy_conf
from bench.procs import BenchError


def _report(codes: dict[str, int], errors: int = 0) -> str:
    return json.dumps(
        {
            "RetCodes": codes,
            "ActualDuration": 2_000_000_000,
            "DurationHistogram": {
                "Count": sum(codes.values()),
                "Percentiles": [
                    {"Percentile": 50, "Value": 0.00067},
                    {"Percentile": 99.9, "Value": 0.004},
                ],
            },
            "ErrorsDurationHistogram": {"Count": errors},
        }
    )


def test_fortio_report_counts_serving_pings_as_succeeded_and_others_as_failed() -> None:
    succeeded, failed, seconds, quantiles = parse_report(_report({"SERVING": 998, "-1": 2}))
    assert (succeeded, failed, seconds) == (998, 2, 2.0)
    assert quantiles == {50.0: pytest.approx(670.0), 99.9: pytest.approx(4000.0)}


def test_fortio_report_counts_errors_without_a_ret_code_as_failed() -> None:
    assert parse_report(_report({"SERVING": 10}, errors=3))[1] == 3


def test_fortio_report_that_is_not_json_is_an_error() -> None:
    with pytest.raises(BenchError, match="unrecognised fortio report"):
        parse_report("Aborting because of dial error")


def test_fortio_load_without_a_rate_runs_as_fast_as_possible() -> None:
    argv = load_argv("fortio", 9000, 16, 5, None, Path("r.json"))
    assert "-qps=-1" in argv
    assert "-c=16" in argv
    assert argv[-1] == "127.0.0.1:9000"


def test_latency_quantile_comes_from_the_tool_when_there_is_no_request_log() -> None:
    result = LoadResult(10, 0, 1.0, quantiles_us=((50.0, 670.0), (99.9, 4000.0)))
    assert result.has_latencies
    assert result.latency_us(0.999) == 4000.0
    with pytest.raises(BenchError, match="did not report"):
        result.latency_us(0.99)


def test_haproxy_relays_grpc_over_h2_to_the_grpc_origin() -> None:
    conf = haproxy_conf(PeerPorts(1, 2, 3), OriginPorts(11, 12, 13))
    assert "bind 127.0.0.1:3 proto h2" in conf
    assert "server origin 127.0.0.1:13 proto h2" in conf


def test_nginx_uses_grpc_pass_with_keepalive_for_grpc(tmp_path: Path) -> None:
    conf = nginx_proxy_conf(tmp_path, PeerPorts(1, 2, 3), OriginPorts(11, 12, 13))
    assert "upstream grpc_origin { server 127.0.0.1:13; keepalive 64; }" in conf
    assert "listen 127.0.0.1:3 http2;" in conf
    assert "grpc_pass grpc://grpc_origin;" in conf


def test_peers_have_no_grpc_listener_without_a_grpc_origin(tmp_path: Path) -> None:
    assert "frontend grpc" not in haproxy_conf(PeerPorts(1, 2), OriginPorts(11, 12))
    assert "grpc_pass" not in nginx_proxy_conf(tmp_path, PeerPorts(1, 2), OriginPorts(11, 12))


def test_port_for_grpc_without_a_grpc_origin_is_an_error() -> None:
    assert OriginPorts(1, 2, 3).port("grpc") == 3
    with pytest.raises(ValueError, match="no gRPC port"):
        OriginPorts(1, 2).port("grpc")
