"""The pipeline's health as the stored rows show it: the start of the newest edge window written
(how fresh the numbers are). Plain aggregate, no FINAL needed: a rewritten window keeps its start.
"""

from __future__ import annotations

from meshpipe.sinks.client import ClickHouseClient, check_name
from meshpipe.sinks.rollup import time_range
from meshpipe.sinks.tables import EDGE_WINDOWS


def newest_window_s(client: ClickHouseClient, database: str, since_s: float) -> float | None:
    """Unix seconds of the newest edge window starting at or after since_s; None without one."""
    db = check_name(database, "database")
    low = int(since_s)
    rows = client.execute(
        f"SELECT count(), toUInt32(max(window_start)) FROM {db}.{EDGE_WINDOWS}"  # noqa: S608
        f" WHERE {time_range('window_start', low, 4_294_967_295)}"
    )
    count, newest = rows[0]
    return float(newest) if int(count) else None
