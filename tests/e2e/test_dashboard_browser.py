"""End to end in a real headless browser (Debian's chromium through chromium-driver): the story's
events → Kafka → a real worker → ClickHouse → `meshctl dashboard` → the pages. The workloads
table equals `meshstat -o json` for the same range, the map shows voting → emoji failing, the
time slider replays an earlier, healthy minute, and the tap panel streams the legacy path's 500s.

Screenshots of every page go to the test's tmp dir and to build/screenshots/dashboard/."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from dashboard_story import LEGACY_PATH, NS, Story
from e2e_stack import Pipeline
from integration.streams_procs import stored_request_total, wait_for

from bench.generate import produce
from meshpipe.cli.stat_render import format_latency, format_percent
from meshpipe.cli.top_table import HEADERS
from meshpipe.schemas.durations import format_time
from meshpipe.schemas.edgekey import edge_key
from meshpipe.schemas.topics import REQUESTS

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
SHOTS = REPO / "build" / "screenshots" / "dashboard"
WAIT_S = 30.0
RED = "#c62828"
GREEN = "#2e7d32"

webdriver = pytest.importorskip("selenium.webdriver")


@dataclass(frozen=True)
class Minutes:
    """The story's two stored minutes (Unix seconds of their starts)."""

    healthy_s: int
    broken_s: int


@pytest.fixture(scope="module")
def minutes(pipeline: Pipeline) -> Minutes:
    """A healthy minute 20 minutes ago and a broken one 3 minutes ago, stored by the worker."""
    now = int(time.time())
    base = now - now % 60
    found = Minutes(base - 20 * 60, base - 3 * 60)
    story = Story()
    events = story.minute(found.healthy_s, broken=False) + story.minute(found.broken_s, broken=True)
    asyncio.run(produce(pipeline.kafka, pipeline.topics.name(REQUESTS), events))
    asyncio.run(_send_garbage(pipeline))  # one record for the dead-letter topic
    wait_for(
        lambda: stored_request_total(pipeline.client, pipeline.database),
        lambda stored: stored >= len(events),
        90,
        f"{len(events)} events in the edge windows",
        interval_s=0.5,
    )
    return found


async def _send_garbage(pipeline: Pipeline) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.kafka)
    await producer.start()
    try:
        await producer.send_and_wait(pipeline.topics.name(REQUESTS), b"\xff not an event")
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def dashboard(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`meshctl dashboard` on a free loopback port over the module's database and topics."""
    log = tmp_path_factory.mktemp("dashboard") / "stderr.log"
    env = {**os.environ, "MESHPIPE_TOPIC_PREFIX": pipeline.topics.prefix, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [
                str(BIN / "meshctl"),
                "dashboard",
                "--port",
                "0",
                "--clickhouse",
                pipeline.reader_url,
                "--kafka",
                pipeline.kafka,
                "--group",
                f"g-{pipeline.topics.prefix}",  # the module worker's (tests/e2e/conftest.py)
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (make system)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.add_argument("--disable-dev-shm-usage")
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shot(browser: Any, tmp_path: Path) -> Any:
    """shot(name): a PNG of the page in tmp_path and build/screenshots/dashboard/."""

    def take(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        browser.save_screenshot(str(path))
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SHOTS / path.name)
        return path

    return take


def _until(browser: Any, condition: Any, what: str, timeout_s: float = WAIT_S) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout_s).until(condition, message=f"waiting for {what}")


def _loaded(browser: Any, url: str) -> None:
    """Open url and wait until the page drew from its first API answer."""
    browser.get(url)
    _until(browser, lambda b: b.execute_script("return document.body.dataset.loaded"), url)
    status = browser.find_element("id", "status")
    assert "error" not in (status.get_attribute("class") or ""), status.text


def _meshstat(pipeline: Pipeline, since: int, until: int) -> list[dict[str, Any]]:
    argv = [
        str(BIN / "meshstat"),
        "all",
        "-n",
        NS,
        "-o",
        "json",
        "--since",
        format_time(since),
        "--until",
        format_time(until),
        "--clickhouse",
        pipeline.reader_url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def _map_edges(browser: Any) -> dict[tuple[str, str], dict[str, Any]]:
    raw = browser.find_element("id", "cy").get_attribute("data-edges")
    edges = json.loads(raw or "[]")
    return {(e["source"].split("/")[-1], e["target"].split("/")[-1]): e for e in edges}


def test_overview_lists_the_story_namespace(
    browser: Any, dashboard: str, minutes: Minutes, shot: Any
) -> None:
    _loaded(browser, f"{dashboard}/?since=30m")  # live: refreshed every 5 s
    row = browser.find_element("css selector", f'#namespaces tr[data-name="{NS}"]')
    assert row.find_element("css selector", ".meshed-workloads").text == "3"
    # The worker dead-letters the garbage record; the overview refreshes until it shows.
    _until(browser, lambda b: b.find_element("id", "dead-letters").text == "1", "1 dead letter")
    assert browser.find_element("id", "worker-lag").text.isdigit()
    shot("overview")


def test_workloads_table_shows_meshstats_numbers_for_the_same_range(
    browser: Any, dashboard: str, pipeline: Pipeline, minutes: Minutes, shot: Any
) -> None:
    since, until = minutes.broken_s, minutes.broken_s + 60
    expected = {row["name"]: row for row in _meshstat(pipeline, since, until)}
    _loaded(browser, f"{dashboard}/namespaces/{NS}?start={since}&end={until}")
    rows = browser.find_elements("css selector", "#workloads tbody tr")
    shown = {r.get_attribute("data-name"): r for r in rows}
    assert set(shown) == set(expected) == {"web", "voting", "emoji"}
    for name, want in expected.items():
        cells = {
            c: shown[name].find_element("css selector", f"td.{c}")
            for c in ("success", "rps", "p50", "p95", "p99", "requests")
        }
        assert int(cells["requests"].text) == want["requests"]
        assert cells["success"].text == format_percent(want["success"])
        assert cells["rps"].text == f"{want['rps']:.1f}rps"
        for cell, key in (
            ("p50", "latency_ms_p50"),
            ("p95", "latency_ms_p95"),
            ("p99", "latency_ms_p99"),
        ):
            assert cells[cell].text == format_latency(want[key])
            assert float(cells[cell].get_attribute("data-value")) == pytest.approx(want[key])
    shot("namespace")


def test_map_shows_the_voting_to_emoji_edge_failing(
    browser: Any, dashboard: str, minutes: Minutes, shot: Any
) -> None:
    end = minutes.broken_s + 60
    _loaded(browser, f"{dashboard}/map?namespace={NS}&start={minutes.healthy_s}&end={end}&at={end}")
    edges = _map_edges(browser)
    assert edges[("voting", "emoji")]["color"] == RED
    assert edges[("voting", "emoji")]["success"] < 0.95
    assert edges[("web", "emoji")]["color"] == GREEN
    shot("map-broken")


def test_time_slider_replays_an_earlier_healthy_minute(
    browser: Any, dashboard: str, minutes: Minutes, shot: Any
) -> None:
    end = minutes.broken_s + 60
    _loaded(browser, f"{dashboard}/map?namespace={NS}&start={minutes.healthy_s}&end={end}&at={end}")
    before = browser.execute_script("return document.body.dataset.loaded")
    slider = browser.find_element("id", "map-slider")
    earlier = minutes.healthy_s + 60
    browser.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));",
        slider,
        str(earlier),
    )
    _until(
        browser,
        lambda b: b.execute_script("return document.body.dataset.loaded") != before,
        "the map of the earlier minute",
    )
    assert f"at={earlier}" in browser.current_url
    cy = browser.find_element("id", "cy")
    assert float(cy.get_attribute("data-end")) == earlier
    edges = _map_edges(browser)
    assert edges[("voting", "emoji")]["success"] == 1.0
    assert edges[("voting", "emoji")]["color"] == GREEN
    shot("map-earlier")


def _legacy_failures(pipeline: Pipeline, stop: threading.Event) -> None:
    """Live voting → emoji legacy calls, every other one a 500, until stop is set (≤ 60 s)."""

    async def send() -> None:
        story = Story(seed=9)
        producer = AIOKafkaProducer(bootstrap_servers=pipeline.kafka, linger_ms=1)
        await producer.start()
        try:
            for n in range(600):
                if stop.is_set():
                    return
                path = f"{LEGACY_PATH}?code=:x{n}:"
                status = 500 if n % 2 == 0 else 200
                for event in story.request("voting", "emoji", "GET", path, status, time.time_ns()):
                    await producer.send_and_wait(
                        pipeline.topics.name(REQUESTS), event.SerializeToString(), edge_key(event)
                    )
                await asyncio.sleep(0.1)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_tap_panel_streams_500s_on_the_legacy_path(
    browser: Any, dashboard: str, pipeline: Pipeline, shot: Any
) -> None:
    _loaded(browser, f"{dashboard}/workloads/{NS}/deployment/emoji?since=5m")
    shot("workload")
    browser.find_element("id", "tap-path").send_keys(LEGACY_PATH)
    browser.find_element("id", "tap-status").send_keys("5xx")
    browser.find_element("id", "tap-max_rps").send_keys("20")
    browser.find_element("id", "tap-start").click()
    stop = threading.Event()
    sender = threading.Thread(target=_legacy_failures, args=(pipeline, stop), daemon=True)
    sender.start()
    try:
        _until(
            browser,
            lambda b: ":status=500" in b.find_element("id", "tap-lines").text,
            "a tapped :status=500 line",
            45,
        )
    finally:
        stop.set()
        sender.join(30)
    lines = browser.find_element("id", "tap-lines").text.splitlines()
    rsp = [line for line in lines if line.startswith("rsp ")]
    assert rsp
    assert all(":status=500" in line for line in rsp)
    assert any(f":path={LEGACY_PATH}" in line for line in lines)
    browser.execute_script("document.getElementById('tap-lines').scrollIntoView()")
    shot("workload-tap")
    browser.find_element("id", "tap-start").click()  # stop: the browser closes the stream


def test_meshctl_top_shows_the_legacy_route_from_live_tap(pipeline: Pipeline) -> None:
    """`meshctl top` (not a terminal: --count) over the real worker's tap matches."""
    env = {**os.environ, "MESHPIPE_TOPIC_PREFIX": pipeline.topics.prefix}
    argv = [str(BIN / "meshctl"), "top", "deploy/emoji", "-n", NS, "--count", "10"]
    top = subprocess.Popen(
        [*argv, "--kafka", pipeline.kafka],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stop = threading.Event()
    sender = threading.Thread(target=_legacy_failures, args=(pipeline, stop), daemon=True)
    sender.start()
    try:
        out, err = top.communicate(timeout=60)
    finally:
        stop.set()
        sender.join(30)
        if top.poll() is None:
            top.kill()
    assert top.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].split() == list(HEADERS)
    legacy = [line.split() for line in lines[1:] if LEGACY_PATH in line]
    assert legacy[0][:4] == ["voting-0", "emoji-0", "GET", LEGACY_PATH]  # templated: no query
    assert sum(int(row[4]) for row in legacy) == 10
