"""Brings the local dev stack (Kafka, ClickHouse, topics, schema) up, reports it, takes it down."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from meshpipe.deploy.dev.clickhouse import ClickHouseServer, ClickHouseSettings
from meshpipe.deploy.dev.kafka import (
    KafkaRunner,
    KafkaSettings,
    default_cache_dir,
    default_data_dir,
)
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.deploy.kafka.topics import (
    Growth,
    TopicSet,
    ensure_topics,
    grow_partitions,
    load_spec,
    missing_topics,
)
from meshpipe.sinks.client import NativeClient
from meshpipe.sinks.migrations import apply_migrations, pending_migrations

Say = Callable[[str], None]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise DevStackError(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class DevStackSettings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = field(default_factory=ClickHouseSettings)
    database: str = "meshpipe"
    cache_dir: Path = field(default_factory=default_cache_dir)  # Kafka jars, operator CRDs

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DevStackSettings:
        """Defaults, overridden by MESHPIPE_* variables (ports, dirs, versions)."""
        env = os.environ if env is None else env
        data = Path(env.get("MESHPIPE_DEV_DIR") or default_data_dir())
        cache = Path(env.get("MESHPIPE_CACHE_DIR") or default_cache_dir())
        kafka = KafkaSettings(
            port=_int(env, "MESHPIPE_KAFKA_PORT", 9092),
            controller_port=_int(env, "MESHPIPE_KAFKA_CONTROLLER_PORT", 9093),
            version=env.get("MESHPIPE_KAFKA_VERSION") or KafkaSettings.version,
            heap_mb=_int(env, "MESHPIPE_KAFKA_HEAP_MB", 512),
            cache_dir=cache,
            data_dir=data / "kafka",
        )
        clickhouse = ClickHouseSettings(
            tcp_port=_int(env, "MESHPIPE_CLICKHOUSE_PORT", 9000),
            http_port=_int(env, "MESHPIPE_CLICKHOUSE_HTTP_PORT", 8123),
            data_dir=data / "clickhouse",
            binary=env.get("MESHPIPE_CLICKHOUSE_BINARY") or None,
        )
        database = env.get("MESHPIPE_CLICKHOUSE_DATABASE") or "meshpipe"
        return cls(kafka, clickhouse, database, cache)

    @property
    def clickhouse_url(self) -> str:
        c = self.clickhouse
        return f"clickhouse://default@{c.host}:{c.tcp_port}/{self.database}"


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    ready: bool
    detail: str


class DevStack:
    """The dev stack as one thing: idempotent up, status, down."""

    def __init__(self, settings: DevStackSettings, topics: TopicSet | None = None) -> None:
        self.settings = settings
        self.topics = topics or load_spec()
        self.kafka = KafkaRunner(settings.kafka)
        self.clickhouse = ClickHouseServer(settings.clickhouse)

    def up(self, say: Say) -> list[str]:
        """Start what is not running, create topics and schema; return the names started."""
        s = self.settings
        started = [
            name
            for name, server in (("kafka", self.kafka), ("clickhouse", self.clickhouse))
            if _start(name, server, say)
        ]
        created = asyncio.run(ensure_topics(s.kafka.bootstrap, self.topics))
        say(f"topics      {len(created)} created, {len(self.topics.topics) - len(created)} present")
        for growth in asyncio.run(grow_partitions(s.kafka.bootstrap, self.topics)):
            say(_growth_line(growth))
        with NativeClient.connect(s.clickhouse.host, s.clickhouse.tcp_port) as client:
            applied = apply_migrations(client, s.database)
        say(f"schema      {s.database}: {len(applied)} migrations applied")
        for line in self.endpoints():
            say(line)
        return started

    def endpoints(self) -> list[str]:
        s = self.settings
        return [
            f"Kafka bootstrap:    {s.kafka.bootstrap}",
            f"ClickHouse native:  {s.clickhouse_url}",
            f"ClickHouse HTTP:    http://{s.clickhouse.host}:{s.clickhouse.http_port}/",
        ]

    def status(self) -> list[ComponentStatus]:
        k = self.kafka.status()
        rows = [
            ComponentStatus("kafka", k.ready, _describe(k.ready, k.pid, k.endpoint, k.log_file))
        ]
        c = self.clickhouse.status()
        rows.append(
            ComponentStatus(
                "clickhouse", c.ready, _describe(c.ready, c.pid, c.endpoint, c.log_file)
            )
        )
        if k.ready:
            missing = asyncio.run(missing_topics(self.settings.kafka.bootstrap, self.topics))
            detail = "all present" if not missing else f"missing: {', '.join(missing)}"
            rows.append(ComponentStatus("topics", not missing, detail))
        if c.ready:
            with NativeClient.connect(
                self.settings.clickhouse.host, self.settings.clickhouse.tcp_port
            ) as client:
                pending = pending_migrations(client, self.settings.database)
            detail = "up to date" if not pending else f"{len(pending)} pending migrations"
            rows.append(ComponentStatus("schema", not pending, detail))
        return rows

    def down(self, only: Iterable[str] = ("clickhouse", "kafka")) -> list[str]:
        """Stop the named servers; return the names of those that were running."""
        servers: dict[str, _Server] = {"clickhouse": self.clickhouse, "kafka": self.kafka}
        return [name for name in only if servers[name].stop()]


class _Server(Protocol):
    def start(self) -> bool: ...
    def stop(self) -> bool: ...


def _start(name: str, server: _Server, say: Say) -> bool:
    started = server.start()
    say(f"{name:<11} {'started' if started else 'already running'}")
    return started


def _describe(ready: bool, pid: int | None, endpoint: str, log: Path) -> str:
    if pid is None:
        return "not running"
    state = "ready" if ready else "starting or unhealthy"
    return f"{state} on {endpoint} (pid {pid}, log {log})"


def _growth_line(growth: Growth) -> str:
    if growth.after > growth.before:
        return f"topics      {growth.name}: {growth.before} -> {growth.after} partitions"
    return (
        f"topics      {growth.name} keeps its {growth.before} partitions "
        "(Kafka cannot remove partitions; recreate the topic to have fewer)"
    )
