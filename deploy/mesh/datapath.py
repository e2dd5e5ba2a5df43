"""The data path as `meshctl check` sees it through the API server: how old the newest stored
event is and which proxies lost events (ClickHouse, as the reader), how far each worker is
behind and how many records it dead-lettered (its /health page, through the pods proxy)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshpipe.sinks.tables import PROXY_LOSSES, REQUESTS

LOSS_WINDOW_S = 900  # proxies' losses are summed over the last 15 minutes
MAX_EVENT_AGE_S = 120  # older newest event: events are not arriving
MAX_LAG_RECORDS = 10_000  # more records behind, summed over a worker's partitions: lagging
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Query = Callable[[str], str]  # SQL in, ClickHouse's TabSeparated answer out


@dataclass(frozen=True)
class DataPath:
    """What was read (None: could not be read; the reason is in errors)."""

    events_last_day: int | None = None
    newest_event_age_s: int | None = None
    losses: dict[str, int] | None = None  # proxy (pod, else id) -> events lost, > 0 only
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)  # pod -> /health
    errors: dict[str, str] = field(default_factory=dict)


def events_sql(database: str) -> str:
    """Stored requests of the last day and the newest one's age in seconds (18.16 SQL)."""
    db = _identifier(database)
    return (
        "SELECT count(), toInt64(toUInt32(now())) - toInt64(toUInt32(max(start_time)))"  # noqa: S608
        f" FROM {db}.{REQUESTS} WHERE start_time > now() - 86400"
    )


def losses_sql(database: str) -> str:
    """Per proxy, the sequence numbers missing over the last LOSS_WINDOW_S (gaps = drops)."""
    db = _identifier(database)
    return (
        "SELECT if(any(proxy_pod) = '', proxy_id, any(proxy_pod)) AS proxy, lost FROM"  # noqa: S608
        " (SELECT proxy_id, any(proxy_pod) AS proxy_pod,"
        " toInt64(max(seq_max)) - toInt64(min(seq_min)) + 1 - toInt64(sum(events)) AS lost"
        f" FROM {db}.{PROXY_LOSSES} FINAL WHERE window_start > now() - {LOSS_WINDOW_S}"
        " GROUP BY proxy_id) WHERE lost > 0 GROUP BY proxy_id, lost"
    )


def _identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a database name: {name!r}")
    return name


def read_clickhouse(query: Query, database: str, errors: dict[str, str]) -> DataPath:
    """The ClickHouse half of the data path; errors keyed `events` and `losses`."""
    events = age = None
    losses: dict[str, int] | None = None
    try:
        count, newest = query(events_sql(database)).split()
        events = int(count)
        age = int(newest) if events else None
    except (OSError, ValueError) as exc:
        errors["events"] = str(exc)
    try:
        rows = [line.split("\t") for line in query(losses_sql(database)).splitlines() if line]
        losses = {proxy: int(lost) for proxy, lost in rows}
    except (OSError, ValueError) as exc:
        errors["losses"] = str(exc)
    return DataPath(events, age, losses, {}, errors)


def parse_health(text: str) -> dict[str, Any]:
    """A worker's /health JSON (lag per partition, dead letters since it started)."""
    health: dict[str, Any] = json.loads(text)
    return health
