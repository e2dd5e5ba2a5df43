"""Settings of a stream worker, from command-line options or MESHPIPE_* environment variables."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from meshpipe.schemas.durations import DurationError, parse_duration
from meshpipe.schemas.topics import Topics
from meshpipe.sinks.retention import Retention
from meshpipe.streams.chunks import ChunkSettings
from meshpipe.streams.retention import RetentionSchedule
from meshpipe.streams.windows import WindowSettings

# What decides freshness: an event waits for the next flush, then for its insert. Shorter means
# fresher stats and more, smaller inserts (each flush writes every changed edge window again).
FLUSH_INTERVAL_S = 0.5


class SettingsError(ValueError):
    """A setting that cannot be used; the message is one line for the user."""


def parse_duration_s(text: str, *, zero_ok: bool = False) -> float:
    """Seconds in a duration of the shared grammar (schemas.durations), as a SettingsError."""
    try:
        return parse_duration(text, zero_ok=zero_ok)
    except DurationError as exc:
        raise SettingsError(str(exc)) from exc


def default_data_dir(group: str) -> Path:
    """~/.local/share/meshpipe/streams/GROUP: Faust's working files, never the current directory."""
    return Path.home() / ".local" / "share" / "meshpipe" / "streams" / group


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Everything one `meshstreams worker` needs."""

    kafka: str  # bootstrap servers, host:port[,host:port]
    clickhouse: str  # clickhouse://USER[:PASS]@HOST:PORT/DB, or memory:// for a dry run
    windows: WindowSettings = field(default_factory=WindowSettings)
    chunks: ChunkSettings = field(default_factory=ChunkSettings)  # commit points, replay length
    web_port: int = 6066  # Faust's web server (/health, /ready, /live)
    web_bind: str = "127.0.0.1"  # its listen address; 0.0.0.0 in a pod, so kubelet probes reach it
    flush_interval_s: float = FLUSH_INTERVAL_S  # seconds between snapshots written to ClickHouse
    # Seconds without heartbeats before Kafka hands a (crashed) worker's partitions to others.
    session_timeout_s: float = 10.0
    # Seconds between Kafka metadata refreshes: partitions added to a topic are seen this late.
    metadata_max_age_s: float = 30.0
    max_pending_rows: int = 50_000  # raw rows held before processing waits for a flush
    group: str = "meshstreams"  # Kafka consumer group (the Faust app id)
    topics: Topics = field(default_factory=Topics)
    name: str = field(default_factory=socket.gethostname)  # worker name in dead letters
    data_dir: Path | None = None  # Faust's data directory; None: default_data_dir(group)
    # Retention kept by this worker (TTL or day-partition drops); None: someone else keeps it.
    retention: RetentionSchedule | None = field(default_factory=RetentionSchedule)

    @property
    def faust_data_dir(self) -> Path:
        """Where Faust keeps its files (it creates `v1/tables` below even with memory stores)."""
        return self.data_dir if self.data_dir is not None else default_data_dir(self.group)

    def __post_init__(self) -> None:
        if not self.kafka:
            raise SettingsError("no Kafka bootstrap given (--kafka or MESHPIPE_KAFKA)")
        if not self.clickhouse:
            raise SettingsError("no ClickHouse URL given (--clickhouse or MESHPIPE_CLICKHOUSE)")
        if self.flush_interval_s <= 0:
            raise SettingsError("flush interval must be positive")
        if not 6 <= self.session_timeout_s <= 300:
            raise SettingsError("session timeout must be within 6 s .. 5 min (broker limits)")
        if not 0 <= self.web_port <= 65535:
            raise SettingsError(f"invalid web port {self.web_port}")


def window_settings(window: str) -> WindowSettings:
    """Window settings from a duration text; the window must be whole seconds."""
    window_s = parse_duration_s(window)
    if window_s < 1 or window_s != int(window_s):
        raise SettingsError(f"window must be a whole number of seconds, got {window!r}")
    return WindowSettings(window_s=int(window_s))


def chunk_settings(records: int, age: str) -> ChunkSettings:
    """Chunk settings from a record count and a duration text."""
    try:
        return ChunkSettings(max_records=records, max_age_s=parse_duration_s(age))
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc


def retention_schedule(
    windows_days: int, requests_days: int, losses_days: int, interval: str
) -> RetentionSchedule | None:
    """Retention from day counts and a drop interval text; interval 0 switches it off."""
    interval_s = parse_duration_s(interval, zero_ok=True)
    try:
        days = Retention(
            window_days=windows_days, request_days=requests_days, loss_days=losses_days
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    return RetentionSchedule(days, interval_s=interval_s) if interval_s > 0 else None
