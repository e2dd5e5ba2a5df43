"""The one grammar of durations (`10s`, `1h30m`, `500ms`) and times (`1h` ago, RFC 3339) for
every flag and MESHPIPE_* setting: Go-style, as kubectl and Linkerd take them."""

from __future__ import annotations

import datetime as dt
import re

_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class DurationError(ValueError):
    """A duration or time argument that cannot be understood; the message is one line."""


def parse_duration(text: str, *, zero_ok: bool = False) -> float:
    """Seconds in a Go-style duration such as `10s`, `1m`, `1h30m` or `500ms`; must be > 0,
    unless zero_ok, where `0` (switched off) is taken too."""
    stripped = text.strip()
    if zero_ok and stripped == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _PART_RE.finditer(stripped):
        if match.start() != position:
            break
        total += float(match[1]) * _UNIT_S[match[2]]
        position = match.end()
    if not stripped or position != len(stripped):
        raise DurationError(f'invalid duration "{text}": want e.g. 10s, 1m or 1h30m')
    if total <= 0 and not zero_ok:
        raise DurationError(f'invalid duration "{text}": must be longer than zero')
    return total


def parse_time(text: str, now_s: float) -> float:
    """Unix seconds for an RFC 3339 time with a zone, or for a duration meaning that long ago."""
    stripped = text.strip()
    if stripped and stripped[0].isdigit() and not any(c in stripped for c in "-:T"):
        return now_s - parse_duration(stripped)
    try:
        parsed = dt.datetime.fromisoformat(stripped)
    except ValueError:
        raise DurationError(
            f'invalid time "{text}": want a duration ago (e.g. 1h) '
            "or an RFC 3339 time (e.g. 2026-11-27T10:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise DurationError(f'time "{text}" has no zone: add one, e.g. Z or +01:00')
    return parsed.timestamp()


def format_time(unix_s: float) -> str:
    """RFC 3339 in UTC with a `Z`, with milliseconds only when they are not zero."""
    moment = dt.datetime.fromtimestamp(unix_s, dt.UTC)
    if moment.microsecond:
        text = moment.isoformat(timespec="milliseconds")
    else:
        text = moment.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


def format_duration(seconds: float) -> str:
    """The shortest Go-style text for a duration (`90` -> `1m30s`, `0.5` -> `500ms`)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{value}{unit}" for value, unit in parts if value)
