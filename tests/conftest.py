"""Session-wide fixtures: the real dev stack (started once, reused if up) and per-test isolation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from meshpipe.deploy.kafka.topics import TopicSet, temporary_topics
from meshpipe.sinks.client import ChdbClient

if TYPE_CHECKING:
    from meshpipe.deploy.dev.stack import DevStack


@pytest.fixture(scope="session")
def chdb_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbClient]:
    """The modern engine in-process (chdb allows one data path per process, hence one session)."""
    path: Path = tmp_path_factory.mktemp("chdb")
    with ChdbClient(path) as client:
        yield client


@pytest.fixture(scope="session")
def dev_stack() -> Iterator[DevStack]:
    """Kafka and ClickHouse via `meshctl dev up`'s code; stops at the end only what it started."""
    from meshpipe.deploy.dev.stack import (  # server code: integration tests only
        DevStack,
        DevStackSettings,
    )

    stack = DevStack(DevStackSettings.from_env())
    started = stack.up(lambda _line: None)
    yield stack
    stack.down(only=started)


@pytest.fixture(scope="session")
def kafka_bootstrap(dev_stack: DevStack) -> str:
    return dev_stack.settings.kafka.bootstrap


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[TopicSet]:
    """The project's topics under a unique prefix for this test; deleted afterwards."""
    with temporary_topics(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}.") as unique:
        yield unique
