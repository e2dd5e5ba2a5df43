"""What the dashboard's browser tests share: `meshctl dashboard` as a process, waiting on pages,
reading the map's drawn edges and `meshstat -o json` for a fixed range."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshpipe.cli.stat_render import format_latency, format_percent
from meshpipe.schemas.durations import format_time

BIN = Path(sys.executable).parent
WAIT_S = 30.0
RED = "#c62828"
GREEN = "#2e7d32"


@dataclass(frozen=True)
class Sources:
    """Where a dashboard reads: Kafka and its topic prefix, the worker's group, ClickHouse."""

    kafka: str
    topic_prefix: str
    group: str  # the worker's consumer group (its lag on the overview)
    reader_url: str  # the read-only user on the test's database


@contextmanager
def running_dashboard(sources: Sources, log: Path) -> Iterator[str]:
    """`meshctl dashboard` on a free loopback port; yields its base URL."""
    env = {**os.environ, "MESHPIPE_TOPIC_PREFIX": sources.topic_prefix, "PYTHONUNBUFFERED": "1"}
    argv = [str(BIN / "meshctl"), "dashboard", "--port", "0", "--clickhouse", sources.reader_url]
    argv += ["--kafka", sources.kafka, "--group", sources.group]
    with log.open("w") as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "available at http://127.0.0.1:" in line, f"{line!r}; {log.read_text()}"
        yield line.rsplit(" ", 1)[1].strip().rstrip("/")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def until(browser: Any, condition: Any, what: str, timeout_s: float = WAIT_S) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout_s).until(condition, message=f"waiting for {what}")


def loaded(browser: Any, url: str) -> None:
    """Open url and wait until the page drew from its first API answer."""
    browser.get(url)
    until(browser, lambda b: b.execute_script("return document.body.dataset.loaded"), url)
    status = browser.find_element("id", "status")
    assert "error" not in (status.get_attribute("class") or ""), status.text


def slide_map_to(browser: Any, at_s: int) -> None:
    """Move the map's time slider to at_s and wait for the map of that window."""
    before = browser.execute_script("return document.body.dataset.loaded")
    slider = browser.find_element("id", "map-slider")
    browser.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));",
        slider,
        str(at_s),
    )
    until(
        browser,
        lambda b: b.execute_script("return document.body.dataset.loaded") != before,
        "the map of the earlier window",
    )
    assert f"at={at_s}" in browser.current_url
    assert float(browser.find_element("id", "cy").get_attribute("data-end")) == at_s


def map_edges(browser: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The drawn map's edges by (source name, destination name)."""
    raw = browser.find_element("id", "cy").get_attribute("data-edges")
    edges = json.loads(raw or "[]")
    return {(e["source"].split("/")[-1], e["target"].split("/")[-1]): e for e in edges}


def meshstat_json(reader_url: str, args: list[str], since: int, until_s: int) -> Any:
    """`meshstat ARGS -o json` over [since, until_s) as the read-only user."""
    argv = [str(BIN / "meshstat"), *args, "-o", "json", "--since", format_time(since)]
    argv += ["--until", format_time(until_s), "--clickhouse", reader_url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def workloads_table(browser: Any) -> dict[str, dict[str, Any]]:
    """The namespace page's rows: name → {cell class → (text, data-value)}."""
    shown: dict[str, dict[str, Any]] = {}
    for row in browser.find_elements("css selector", "#workloads tbody tr"):
        cells = {
            c: row.find_element("css selector", f"td.{c}")
            for c in ("success", "rps", "p50", "p95", "p99", "requests")
        }
        shown[row.get_attribute("data-name")] = {
            c: (cell.text, cell.get_attribute("data-value")) for c, cell in cells.items()
        }
    return shown


def assert_table_matches(shown: dict[str, dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """Each shown workload's cells are its meshstat row's numbers, as meshstat prints them."""
    expected = {row["name"]: row for row in rows}
    assert set(shown) == set(expected)
    for name, want in expected.items():
        cells = shown[name]
        assert int(cells["requests"][0]) == want["requests"]
        assert cells["success"][0] == format_percent(want["success"])
        assert cells["rps"][0] == f"{want['rps']:.1f}rps"
        for cell, key in (
            ("p50", "latency_ms_p50"),
            ("p95", "latency_ms_p95"),
            ("p99", "latency_ms_p99"),
        ):
            assert cells[cell][0] == format_latency(want[key])
            assert float(cells[cell][1]) == pytest.approx(want[key])
