"""End-to-end fixtures: one real worker per module on its own topics and database."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_stack import Pipeline
from integration.streams_procs import WorkerProc, clickhouse_url

from meshpipe.deploy.dev.stack import DevStack
from meshpipe.deploy.kafka.topics import TopicSet, temporary_topics
from meshpipe.sinks.client import NativeClient
from meshpipe.sinks.migrations import apply_migrations

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")

# Small chunks, so a module's worker commits (and writes ClickHouse) often while tests run.
WORKER_OPTIONS = ("--chunk-records=1000", "--session-timeout=6s")


@pytest.fixture(scope="module")
def module_topics(kafka_bootstrap: str) -> Iterator[TopicSet]:
    """The project's topics under a prefix unique to this module; deleted afterwards."""
    with temporary_topics(kafka_bootstrap, f"e{uuid.uuid4().hex[:10]}.") as unique:
        yield unique


@pytest.fixture(scope="module")
def module_database(dev_stack: DevStack) -> Iterator[tuple[NativeClient, str]]:
    """A fresh database with the migrations applied; dropped afterwards."""
    database = f"e2e_{uuid.uuid4().hex[:12]}"
    with NativeClient(dev_stack.settings.clickhouse.url()) as client:
        client.execute(f"CREATE DATABASE {database}")
        try:
            apply_migrations(client, database)
            yield client, database
        finally:
            client.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(scope="module")
def pipeline(
    dev_stack: DevStack,
    module_topics: TopicSet,
    module_database: tuple[NativeClient, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    """One worker for the whole module, killed at the end (its log is kept in the tmp dir)."""
    client, database = module_database
    ch = dev_stack.settings.clickhouse
    kafka = dev_stack.settings.kafka.bootstrap
    workdir: Path = tmp_path_factory.mktemp("worker")
    worker = WorkerProc(
        kafka,
        clickhouse_url(ch.url(), database),
        module_topics.prefix,
        f"g-{module_topics.prefix}",
        workdir,
        WORKER_OPTIONS,
    )
    try:
        worker.start()
        reader = clickhouse_url(ch.url(user="meshpipe_ro"), database)
        yield Pipeline(kafka, module_topics, client, database, reader, worker)
    finally:
        worker.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium through chromium-driver, one per module."""
    webdriver = pytest.importorskip("selenium.webdriver")
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
def shot(browser: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """shot(name): a PNG of the page in tmp_path and in build/screenshots/<module's SHOTS>/."""
    folder = REPO / "build" / "screenshots" / str(request.module.SHOTS)

    def take(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        browser.save_screenshot(str(path))
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / path.name)
        return path

    return take
