"""End to end in a real headless browser over a controlled history: the story's events produced
into Kafka → a real worker → ClickHouse → `meshctl dashboard`. What the running demo cannot show
lives here: the overview counting a dead letter, and the time slider replaying an earlier,
healthy minute of an edge that broke later (the demo's voting → emoji edge fails from its first
vote). The demo's own traffic is tested in test_dashboard_demo.py.

Screenshots go to the test's tmp dir and to build/screenshots/dashboard/."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from dashboard_pages import GREEN, RED, Sources, loaded, map_edges, running_dashboard, slide_map_to
from dashboard_pages import until as wait_until
from dashboard_story import NS, Story
from e2e_stack import Pipeline
from integration.streams_procs import stored_request_total, wait_for

from bench.generate import produce
from meshpipe.schemas.topics import REQUESTS

pytestmark = pytest.mark.e2e

SHOTS = "dashboard"


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
    """`meshctl dashboard` over the module's database and topics."""
    # The group is the module worker's (tests/e2e/conftest.py): its lag shows on the overview.
    sources = Sources(
        pipeline.kafka, pipeline.topics.prefix, f"g-{pipeline.topics.prefix}", pipeline.reader_url
    )
    log = tmp_path_factory.mktemp("dashboard") / "stderr.log"
    with running_dashboard(sources, log) as url:
        yield url


def test_overview_counts_the_dead_letter(
    browser: Any, dashboard: str, minutes: Minutes, shot: Callable[[str], Path]
) -> None:
    loaded(browser, f"{dashboard}/?since=30m")  # live: refreshed every 5 s
    row = browser.find_element("css selector", f'#namespaces tr[data-name="{NS}"]')
    assert row.find_element("css selector", ".meshed-workloads").text == "3"
    # The worker dead-letters the garbage record; the overview refreshes until it shows.
    wait_until(browser, lambda b: b.find_element("id", "dead-letters").text == "1", "1 dead letter")
    assert browser.find_element("id", "worker-lag").text.isdigit()
    shot("overview")


def test_time_slider_replays_the_healthy_minute_before_the_edge_broke(
    browser: Any, dashboard: str, minutes: Minutes, shot: Callable[[str], Path]
) -> None:
    end = minutes.broken_s + 60
    loaded(browser, f"{dashboard}/map?namespace={NS}&start={minutes.healthy_s}&end={end}&at={end}")
    broken = map_edges(browser)
    assert broken[("voting", "emoji")]["color"] == RED
    assert broken[("web", "emoji")]["color"] == GREEN
    shot("map-broken")
    slide_map_to(browser, minutes.healthy_s + 60)
    edges = map_edges(browser)
    assert edges[("voting", "emoji")]["success"] == 1.0
    assert edges[("voting", "emoji")]["color"] == GREEN
    shot("map-earlier")
