"""A unique set of the project's Kafka topics for one benchmark run, deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from meshpipe.deploy.kafka.topics import TopicSet, temporary_topics


@contextmanager
def bench_topics(bootstrap: str, label: str) -> Iterator[TopicSet]:
    """The spec's topics under the prefix `bench-LABEL-<random>.`; deleted when the block ends."""
    with temporary_topics(bootstrap, f"bench-{label}-{uuid.uuid4().hex[:8]}.", 20.0) as topics:
        yield topics
