"""Unit tests for bench's readers of tool output and /proc files."""

from __future__ import annotations

import pytest

from bench.loadgen import parse_h2load, parse_wrk
from bench.machine import cpu_model
from bench.procs import BenchError, stat_cpu_ticks, status_rss_kib

WRK = """Running 2s test @ http://127.0.0.1:1/
  1 threads and 16 connections
  15604 requests in 2.00s, 17.98MB read
  Non-2xx or 3xx responses: 4
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:   7796.11
"""

H2LOAD = """finished in 2.00s, 200.00 req/s, 229.30KB/s
requests: 400 total, 402 started, 400 done, 398 succeeded, 2 failed, 1 errored, 0 timeout
"""


def test_wrk_counts_non_2xx_and_socket_errors_as_failed() -> None:
    result = parse_wrk(WRK)
    assert (result.succeeded, result.failed, result.seconds) == (15600, 7, 2.0)
    assert result.rps == 7800.0


def test_wrk_output_without_a_request_count_is_an_error() -> None:
    with pytest.raises(BenchError, match="unrecognised wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_h2load_reads_counts_and_only_2xx_request_times_from_its_log() -> None:
    log = "1795792666530835\t200\t214\n1795792666530841\t502\t9000\n1795792666541246\t200\t183\n"
    result = parse_h2load(H2LOAD, log)
    assert (result.succeeded, result.failed, result.seconds) == (398, 3, 2.0)
    assert result.latencies_us == (214.0, 183.0)


def test_h2load_output_without_a_summary_is_an_error() -> None:
    with pytest.raises(BenchError, match="unrecognised h2load output"):
        parse_h2load("starting benchmark...")


def test_cpu_ticks_are_utime_plus_stime_even_with_spaces_in_the_name() -> None:
    stat = "42 (my (odd) proc) S 1 42 42 0 -1 4194560 100 0 0 0 250 17 0 0 20 0 3 0 100"
    assert stat_cpu_ticks(stat) == 267


def test_rss_is_read_from_vmrss_and_zero_when_absent() -> None:
    assert status_rss_kib("Name:\tx\nVmHWM:\t9000 kB\nVmRSS:\t  4096 kB\n") == 4096
    assert status_rss_kib("Name:\tx\nState:\tZ (zombie)\n") == 0


def test_cpu_model_is_the_first_model_name() -> None:
    text = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n"
    assert cpu_model(text) == "AMD EPYC 7B13"
    assert cpu_model("") == ""
