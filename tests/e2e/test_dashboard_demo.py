"""End to end in a real headless browser over the running demo: `meshctl demo` (emojivoto's apps
behind real meshproxy sidecars, its own meshstreams worker) → Kafka → ClickHouse →
`meshctl dashboard`. One demo run serves the module, on its own topics, group and database.

The workloads table equals `meshstat -o json` for a fixed range of whole windows; the map shows
voting → emoji failing; the time slider replays the window before the demo started (its story
breaks from the first vote, so the earlier map is the empty one); the tap panel streams the legacy
path's 500s; `meshctl top` shows that route from the same live traffic.

Screenshots of every page go to the test's tmp dir and to build/screenshots/dashboard-demo/."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dashboard_pages import (
    BIN,
    GREEN,
    RED,
    Sources,
    assert_table_matches,
    loaded,
    map_edges,
    meshstat_json,
    running_dashboard,
    slide_map_to,
    until,
    workloads_table,
)
from integration.streams_procs import clickhouse_url, wait_for

from meshpipe.cli.top_table import HEADERS
from meshpipe.demo.plan import NAMESPACE, PlanError, check_ports_free
from meshpipe.demo.story import LEGACY_PATH
from meshpipe.deploy.dev.stack import DevStack
from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.schemas.rows import WINDOW_S
from meshpipe.schemas.topics import REQUESTS
from meshpipe.sinks.client import NativeClient
from meshpipe.sinks.health import newest_window_s

pytestmark = pytest.mark.e2e

SHOTS = "dashboard-demo"
RUNNING = "The emoji-voting demo is running"
START_TIMEOUT_S = 120.0
RANGE_S = 30  # the fixed range compared with meshstat: three whole windows of demo traffic
FLUSHED_AFTER_S = 2 * WINDOW_S  # a window this far past the range is stored: the range is whole


@dataclass(frozen=True)
class Demo:
    """A running `meshctl demo` and the fixed times the tests read."""

    sources: Sources
    before_s: int  # a window boundary before the demo's first request
    start_s: int  # [start_s, end_s): whole windows of the demo's traffic, all stored
    end_s: int


def _free_port_base() -> int:
    for base in range(27000, 64001, 1000):
        try:
            check_ports_free(base)
        except PlanError:
            continue
        return base
    pytest.skip("no free port range for the demo")


def _wait_running(proc: subprocess.Popen[str], out: Path, log_dir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while RUNNING not in out.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            logs = {p.name: p.read_text()[-2000:] for p in log_dir.glob("*.log")}
            pytest.fail(f"the demo did not start: {out.read_text()}\n{logs}")
        time.sleep(0.5)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM: the demo stops every process it started (as on Ctrl-C)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def demo(
    dev_stack: DevStack,
    module_topics: TopicSet,
    module_database: tuple[NativeClient, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Demo]:
    """`meshctl demo` on the module's topics, group and database until the module ends."""
    client, database = module_database
    ch = dev_stack.settings.clickhouse
    group = f"g-{module_topics.prefix}"
    work = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "MESHPIPE_CLICKHOUSE_DATABASE": database,  # the demo's worker writes there
        "MESHPIPE_TOPIC_PREFIX": module_topics.prefix,  # the worker's topics
        "MESHPIPE_TOPIC": module_topics.name(REQUESTS),  # the sidecars' topic
        "MESHPIPE_GROUP": group,
        "MESHPIPE_STREAMS_DATA_DIR": str(work / "faust"),
        "MESHPIPE_SESSION_TIMEOUT": "6s",
    }
    now = int(time.time())
    before = now - now % WINDOW_S
    out = work / "stdout.log"
    argv = [str(BIN / "meshctl"), "demo", "--run-dir", str(work / "run")]
    argv += ["--port-base", str(_free_port_base())]
    with out.open("w") as stdout:
        proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        _wait_running(proc, out, work / "run")
        running = int(time.time())
        # The bot votes from its first second on; a window later every edge carries traffic.
        start = running - running % WINDOW_S + 2 * WINDOW_S
        end = start + RANGE_S
        wait_for(
            lambda: newest_window_s(client, database, end),
            lambda newest: newest is not None and newest >= end + FLUSHED_AFTER_S,
            RANGE_S + 120,
            f"a window stored {FLUSHED_AFTER_S}s after the range",
            interval_s=1.0,
        )
        reader = clickhouse_url(ch.url(user="meshpipe_ro"), database)
        yield Demo(
            Sources(dev_stack.settings.kafka.bootstrap, module_topics.prefix, group, reader),
            before,
            start,
            end,
        )
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def dashboard(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("dashboard") / "stderr.log"
    with running_dashboard(demo.sources, log) as url:
        yield url


def test_overview_shows_the_demo_namespace_live(
    browser: Any, dashboard: str, shot: Callable[[str], Path]
) -> None:
    loaded(browser, f"{dashboard}/?since=5m")
    row = browser.find_element("css selector", f'#namespaces tr[data-name="{NAMESPACE}"]')
    assert int(row.find_element("css selector", ".meshed-workloads").text) >= 3
    assert browser.find_element("id", "dead-letters").text == "0"
    shot("overview")


def test_workloads_table_shows_meshstats_numbers_for_the_same_range(
    browser: Any, dashboard: str, demo: Demo, shot: Callable[[str], Path]
) -> None:
    rows = meshstat_json(
        demo.sources.reader_url, ["all", "-n", NAMESPACE], demo.start_s, demo.end_s
    )
    loaded(browser, f"{dashboard}/namespaces/{NAMESPACE}?start={demo.start_s}&end={demo.end_s}")
    shown = workloads_table(browser)
    assert {"web", "voting", "emoji"} <= set(shown)
    assert_table_matches(shown, rows)
    shot("namespace")


def test_map_shows_voting_to_emoji_failing_and_the_slider_the_map_before_the_demo(
    browser: Any, dashboard: str, demo: Demo, shot: Callable[[str], Path]
) -> None:
    start, end = demo.before_s - 60, demo.end_s
    loaded(browser, f"{dashboard}/map?namespace={NAMESPACE}&start={start}&end={end}&at={end}")
    edges = map_edges(browser)
    assert edges[("voting", "emoji")]["color"] == RED
    assert edges[("voting", "emoji")]["success"] < 0.95
    assert edges[("web", "emoji")]["color"] == GREEN  # the gRPC calls all succeed
    assert ("vote-bot", "web") in edges
    shot("map")
    slide_map_to(browser, demo.before_s)  # the minute before the demo's first request
    assert map_edges(browser) == {}
    shot("map-earlier")


def test_workload_page_and_tap_panel_stream_500s_on_the_legacy_path(
    browser: Any, dashboard: str, demo: Demo, shot: Callable[[str], Path]
) -> None:
    loaded(browser, f"{dashboard}/workloads/{NAMESPACE}/deployment/emoji?since=5m")
    shot("workload")
    browser.find_element("id", "tap-path").send_keys(LEGACY_PATH)
    browser.find_element("id", "tap-status").send_keys("5xx")
    browser.find_element("id", "tap-max_rps").send_keys("20")
    browser.find_element("id", "tap-start").click()
    until(
        browser,
        lambda b: b.find_element("id", "tap-lines").text.count(":status=500") >= 3,
        "tapped :status=500 lines",
        45,
    )
    lines = browser.find_element("id", "tap-lines").text.splitlines()
    rsp = [line for line in lines if line.startswith("rsp ")]
    assert rsp
    assert all(":status=500" in line for line in rsp)
    assert any(f":path={LEGACY_PATH}" in line for line in lines)
    browser.execute_script("document.getElementById('tap-lines').scrollIntoView()")
    shot("workload-tap")
    browser.find_element("id", "tap-start").click()  # stop: the browser closes the stream


def test_meshctl_top_shows_the_legacy_route_from_the_demos_traffic(demo: Demo) -> None:
    """`meshctl top` (not a terminal: --count) over the demo's live tap."""
    env = {**os.environ, "MESHPIPE_TOPIC_PREFIX": demo.sources.topic_prefix}
    argv = [str(BIN / "meshctl"), "top", "deploy/emoji", "-n", NAMESPACE, "--count", "20"]
    done = subprocess.run(
        [*argv, "--kafka", demo.sources.kafka],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == list(HEADERS)
    rows = [line.split() for line in lines[1:]]
    assert sum(int(row[4]) for row in rows) == 20
    legacy = [row for row in rows if row[3] == LEGACY_PATH]
    assert legacy[0][:4] == ["voting-0", "emoji-0", "GET", LEGACY_PATH]  # templated: no query
