"""meshstat's output: cell formats, and golden files for every output format."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from golden import GOLDEN, check_golden

from meshpipe.cli.stat_render import (
    StatView,
    aggregate,
    format_latency,
    format_percent,
    render,
    row_json,
)
from meshpipe.cli.terminal import Terminal
from meshpipe.sinks.query import StatRow

START, END = 1_795_773_540.0, 1_795_773_600.0  # the minute up to 2026-11-27T10:00:00Z
PLAIN = Terminal()


def stat_row(name: str, **changes: object) -> StatRow:
    row = StatRow(
        namespace="emojivoto",
        kind="deployment",
        name=name,
        meshed=True,
        requests=120,
        successes=114,
        failures=6,
        status_4xx=3,
        status_5xx=6,
        success=0.95,
        rps=2.0,
        latency_ms_p50=12.4,
        latency_ms_p95=48.0,
        latency_ms_p99=96.6,
        read_bytes_per_s=310.5,
        write_bytes_per_s=2048.0,
        tcp_open_connections=3,
        events_lost=0,
        start_s=START,
        end_s=END,
    )
    return replace(row, **changes)  # type: ignore[arg-type]


ROWS = [
    stat_row(
        "emoji",
        success=1.0,
        successes=120,
        failures=0,
        status_4xx=0,
        status_5xx=0,
        latency_ms_p50=0.4,
        latency_ms_p95=0.9,
        latency_ms_p99=1.2,
    ),
    stat_row(
        "vote-bot",
        meshed=False,
        requests=0,
        successes=0,
        failures=0,
        status_4xx=0,
        status_5xx=0,
        success=None,
        rps=0.0,
        latency_ms_p50=None,
        latency_ms_p95=None,
        latency_ms_p99=None,
        read_bytes_per_s=0.0,
        write_bytes_per_s=0.0,
        tcp_open_connections=None,
    ),
    stat_row("web", events_lost=2),
    stat_row("db", namespace="data", kind="statefulset", rps=10.5, requests=630, success=0.9984),
]

VIEWS = {
    "table": StatView("table"),
    "wide": StatView("wide"),
    "all-namespaces": StatView("table", all_namespaces=True),
    "all-namespaces-wide": StatView("wide", all_namespaces=True),
    "mixed-kinds": StatView("table", mixed_kinds=True),
}


@pytest.mark.parametrize("variant", VIEWS)
def test_text_output_matches_golden(variant: str) -> None:
    text = render(aggregate([ROWS]), VIEWS[variant], PLAIN)
    check_golden(GOLDEN / "meshstat" / f"{variant}.txt", text)


def test_json_output_matches_golden() -> None:
    check_golden(
        GOLDEN / "meshstat" / "json.json", render(aggregate([ROWS]), StatView("json"), PLAIN)
    )


def test_empty_json_output_is_an_empty_list() -> None:
    assert json.loads(render([], StatView("json"), PLAIN)) == []


def test_empty_table_output_is_empty_so_the_caller_says_no_traffic() -> None:
    assert render([], StatView("table"), PLAIN) == ""


def test_json_fields_are_the_documented_ones() -> None:
    assert list(row_json(ROWS[0])) == [
        "namespace",
        "kind",
        "name",
        "meshed",
        "success",
        "rps",
        "latency_ms_p50",
        "latency_ms_p95",
        "latency_ms_p99",
        "requests",
        "successes",
        "failures",
        "status_4xx",
        "status_5xx",
        "tcp_open_connections",
        "read_bytes_per_s",
        "write_bytes_per_s",
        "events_lost",
        "start",
        "end",
    ]


def test_colour_terminal_makes_only_the_header_bold() -> None:
    text = render(ROWS[:1], StatView("table"), Terminal(is_tty=True, color=True))
    header, body = text.split("\n", 1)
    assert header.startswith("\x1b[1mNAME")
    assert header.endswith("\x1b[0m")
    assert "\x1b" not in body


def test_aggregate_sorts_by_namespace_kind_name_and_drops_repeats() -> None:
    rows = aggregate([[ROWS[2], ROWS[0]], [ROWS[3], ROWS[2]]])
    assert [(r.namespace, r.name) for r in rows] == [
        ("data", "db"),
        ("emojivoto", "emoji"),
        ("emojivoto", "web"),
    ]


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "-"),
        (0.0, "<0.1ms"),
        (0.04, "<0.1ms"),
        (0.4, "0.4ms"),
        (1.0, "1ms"),
        (123.4, "123ms"),
        (1999.6, "2000ms"),
    ],
)
def test_latency_format(ms: float | None, text: str) -> None:
    assert format_latency(ms) == text


@pytest.mark.parametrize(
    ("fraction", "text"), [(None, "-"), (1.0, "100.00%"), (0.99951, "99.95%"), (0.0, "0.00%")]
)
def test_percent_format(fraction: float | None, text: str) -> None:
    assert format_percent(fraction) == text


def test_a_row_with_open_connections_but_no_requests_shows_only_its_tcp_conn() -> None:
    row = replace(ROWS[1], meshed=True, tcp_open_connections=4)
    [header, line] = render([row], StatView("table"), PLAIN).splitlines()
    assert header.split()[-1] == "TCP_CONN"
    assert line.split() == ["vote-bot", "yes", "-", "-", "-", "-", "-", "4"]
    [doc] = json.loads(render([row], StatView("json"), PLAIN))
    assert doc["tcp_open_connections"] == 4
