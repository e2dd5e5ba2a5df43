"""What end-to-end tests share: the running pipeline a module's tests drive."""

from __future__ import annotations

from dataclasses import dataclass

from integration.streams_procs import WorkerProc

from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.sinks.client import NativeClient


@dataclass(frozen=True)
class Pipeline:
    """A running `meshstreams worker` with the topics and database it uses."""

    kafka: str
    topics: TopicSet
    client: NativeClient  # writer on the database; tests read what was stored with it
    database: str
    reader_url: str  # --clickhouse for the CLIs: the read-only user on the database
    worker: WorkerProc
