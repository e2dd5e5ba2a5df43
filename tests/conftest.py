"""Session-wide fixtures: the real dev stack (started once, reused if up) and per-test isolation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from deploy.kafka.topics import TopicSet, ensure_topics, load_spec
from sinks.client import ChdbClient

if TYPE_CHECKING:
    from deploy.devstack import DevStack


@pytest.fixture(scope="session")
def chdb_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbClient]:
    """The modern engine in-process (chdb allows one data path per process, hence one session)."""
    path: Path = tmp_path_factory.mktemp("chdb")
    with ChdbClient(path) as client:
        yield client


@pytest.fixture(scope="session")
def dev_stack() -> Iterator[DevStack]:
    """Kafka and ClickHouse via `meshctl dev up`'s code; stops at the end only what it started."""
    from deploy.devstack import DevStack, DevStackSettings  # server code: integration tests only

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
    unique = load_spec().with_prefix(f"t{uuid.uuid4().hex[:10]}.")
    asyncio.run(ensure_topics(kafka_bootstrap, unique))
    yield unique
    asyncio.run(_delete_topics(kafka_bootstrap, [t.name for t in unique.resolved()]))


async def _delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()
