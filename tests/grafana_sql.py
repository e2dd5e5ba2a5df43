"""Expands a dashboard query's template variables and macros as Grafana's ClickHouse plugin does.

Grafana runs a panel query in two steps, and this module reproduces both so tests can run the
dashboards' SQL on a real engine:

1. In the browser, the plugin (grafana-clickhouse-datasource 4.x) calls Grafana's template
   service with its own formatter: `$name`, `${name}` and `[[name]]` become the variable's value,
   verbatim for a single value, `'a','b'` (quoted, comma-joined) for several. Nothing is
   escaped, hence the dashboards write `'${namespace}'`. Names starting with `__` are left for
   step 2.
2. In the plugin's backend (pkg/macros), `$__name` and `$__name(args)` are replaced; times are
   Unix seconds of the dashboard range (Go's `Time.Unix()`, i.e. floored), the interval is
   Grafana's `$__interval` in whole seconds, at least 1:

   =========================  ====================================================================
   `$__timeFilter(c)`         `c >= toDateTime(FROM) AND c <= toDateTime(TO)` (both ends inclusive)
   `$__timeFilter_ms(c)`      the same with `fromUnixTimestamp64Milli(FROM_MS)` (not on 18.16)
   `$__fromTime`/`$__toTime`  `toDateTime(FROM)` / `toDateTime(TO)`
   `$__fromTime_ms`, `_ms`    `fromUnixTimestamp64Milli(FROM_MS)` … (not on 18.16)
   `$__dateFilter(c)`         `c >= toDate('YYYY-MM-DD') AND c <= toDate('YYYY-MM-DD')`
   `$__dateTimeFilter(d, t)`  `(date filter on d) AND (time filter on t)`; alias `$__dt`
   `$__timeInterval(c)`       `toStartOfInterval(toDateTime(c), INTERVAL N second)` (not on 18.16)
   `$__timeInterval_ms(c)`    `toStartOfInterval(toDateTime64(c, 3), INTERVAL N millisecond)`
   `$__interval_s`            `N`
   =========================  ====================================================================

The data source connects with `defaultDatabase` set, so dashboards name tables without a
database; `with_database` qualifies them for a client that has no default database.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VariableValue = str | Sequence[str]

_VARIABLE_RE = re.compile(r"\$(\w+)|\[\[(\w+)\]\]|\$\{(\w+)\}")
_MACRO_RE = re.compile(r"\$__(\w+)")
TABLES = ("edge_windows", "requests", "proxy_losses")
_TABLE_RE = re.compile(r"\b(FROM|JOIN)\s+(" + "|".join(TABLES) + r")\b", re.IGNORECASE)


class ExpansionError(ValueError):
    """A query uses a variable or macro that is unknown or called with the wrong arguments."""


@dataclass(frozen=True)
class QueryContext:
    """What Grafana knows when it runs a query: the time range, interval and variable values."""

    from_ms: int  # dashboard range start, Unix milliseconds
    to_ms: int  # dashboard range end, Unix milliseconds
    interval_ms: int  # Grafana's $__interval for the panel, milliseconds
    variables: Mapping[str, VariableValue] = field(default_factory=dict)

    @property
    def from_s(self) -> int:
        return math.floor(self.from_ms / 1000)

    @property
    def to_s(self) -> int:
        return math.floor(self.to_ms / 1000)

    @property
    def interval_s(self) -> int:
        return max(self.interval_ms // 1000, 1)


def _format(value: VariableValue) -> str:
    """The plugin's formatter: verbatim for one value, quoted and comma-joined for several."""
    if isinstance(value, str):
        return value
    return "'" + "','".join(value) + "'"


def expand_variables(sql: str, variables: Mapping[str, VariableValue]) -> str:
    """Step 1: template variables (names starting with `__` are left to the macros)."""

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group is not None)
        if name.startswith("__"):
            return match.group(0)
        if name not in variables:
            raise ExpansionError(f"unknown template variable ${name}")
        return _format(variables[name])

    return _VARIABLE_RE.sub(replace, sql)


def _date_time(seconds: int) -> str:
    return f"toDateTime({seconds})"


def _date_time_ms(millis: int) -> str:
    return f"fromUnixTimestamp64Milli({millis})"


def _date(seconds: int) -> str:
    day = dt.datetime.fromtimestamp(seconds, dt.UTC).date()
    return f"toDate('{day.isoformat()}')"


def _between(column: str, low: str, high: str) -> str:
    return f"{column} >= {low} AND {column} <= {high}"


MacroFunc = Callable[[QueryContext, list[str]], str]


def _time_filter(ctx: QueryContext, args: list[str]) -> str:
    return _between(args[0], _date_time(ctx.from_s), _date_time(ctx.to_s))


def _time_filter_ms(ctx: QueryContext, args: list[str]) -> str:
    return _between(args[0], _date_time_ms(ctx.from_ms), _date_time_ms(ctx.to_ms))


def _date_filter(ctx: QueryContext, args: list[str]) -> str:
    return _between(args[0], _date(ctx.from_s), _date(ctx.to_s))


def _date_time_filter(ctx: QueryContext, args: list[str]) -> str:
    return f"({_date_filter(ctx, args[:1])}) AND ({_time_filter(ctx, args[1:])})"


def _time_interval(ctx: QueryContext, args: list[str]) -> str:
    return f"toStartOfInterval(toDateTime({args[0]}), INTERVAL {ctx.interval_s} second)"


def _time_interval_ms(ctx: QueryContext, args: list[str]) -> str:
    millis = max(ctx.interval_ms, 1)
    return f"toStartOfInterval(toDateTime64({args[0]}, 3), INTERVAL {millis} millisecond)"


# name -> (number of arguments, expansion), as in the plugin's pkg/macros.
MACROS: Mapping[str, tuple[int, MacroFunc]] = {
    "fromTime": (0, lambda ctx, _: _date_time(ctx.from_s)),
    "toTime": (0, lambda ctx, _: _date_time(ctx.to_s)),
    "fromTime_ms": (0, lambda ctx, _: _date_time_ms(ctx.from_ms)),
    "toTime_ms": (0, lambda ctx, _: _date_time_ms(ctx.to_ms)),
    "timeFilter": (1, _time_filter),
    "timeFilter_ms": (1, _time_filter_ms),
    "dateFilter": (1, _date_filter),
    "dateTimeFilter": (2, _date_time_filter),
    "dt": (2, _date_time_filter),
    "timeInterval": (1, _time_interval),
    "timeInterval_ms": (1, _time_interval_ms),
    "interval_s": (0, lambda ctx, _: str(ctx.interval_s)),
}


def _arguments(sql: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments of a call whose '(' is at start, and the index after ')'."""
    depth, args, begin = 0, [], start + 1
    for index in range(start, len(sql)):
        char = sql[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[begin:index].strip())
                return [a for a in args if a], index + 1
        elif char == "," and depth == 1:
            args.append(sql[begin:index].strip())
            begin = index + 1
    raise ExpansionError(f"unbalanced parentheses after macro at {start}: {sql[start:][:40]!r}")


def expand_macros(sql: str, ctx: QueryContext) -> str:
    """Step 2: the backend macros, left to right."""
    out: list[str] = []
    position = 0
    while (match := _MACRO_RE.search(sql, position)) is not None:
        name = match.group(1)
        if name not in MACROS:
            raise ExpansionError(f"macro $__{name} is not one of the plugin's")
        arity, expand = MACROS[name]
        args: list[str] = []
        end = match.end()
        if end < len(sql) and sql[end] == "(":
            args, end = _arguments(sql, end)
        if len(args) != arity:
            raise ExpansionError(f"$__{name} takes {arity} argument(s), got {len(args)}")
        out.extend([sql[position : match.start()], expand(ctx, args)])
        position = end
    out.append(sql[position:])
    return "".join(out)


def expand(sql: str, ctx: QueryContext) -> str:
    """Variables first (browser), then macros (plugin backend), as Grafana runs a query."""
    return expand_macros(expand_variables(sql, ctx.variables), ctx)


def with_database(sql: str, database: str) -> str:
    """Qualify meshpipe's tables after FROM/JOIN with database (the data source's default)."""
    return _TABLE_RE.sub(lambda m: f"{m.group(1)} {database}.{m.group(2)}", sql)


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel, as stored in a dashboard."""

    dashboard: str  # dashboard uid
    panel: str  # panel title
    ref_id: str
    raw_sql: str
    fmt: int  # the plugin's format: 0 time series, 1 table

    @property
    def name(self) -> str:
        return f"{self.dashboard}/{self.panel}/{self.ref_id}"


@dataclass(frozen=True)
class Variable:
    """One template variable: its type and query (SQL for `query`, the value for `constant`)."""

    name: str
    type: str
    query: str


def load(text: str) -> dict[str, Any]:
    """A dashboard from its JSON text."""
    dashboard = json.loads(text)
    if not isinstance(dashboard, dict):
        raise TypeError("a dashboard is a JSON object")
    return dashboard


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """Every query of every panel (rows' nested panels included), in layout order."""
    panels: list[Mapping[str, Any]] = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return [
        PanelQuery(dashboard["uid"], p["title"], t["refId"], t["rawSql"], int(t.get("format", 1)))
        for p in panels
        for t in p.get("targets", [])
    ]


def variables(dashboard: Mapping[str, Any]) -> list[Variable]:
    """The dashboard's template variables in order (later ones may use earlier ones)."""
    return [
        Variable(v["name"], v["type"], str(v.get("query", "")))
        for v in dashboard.get("templating", {}).get("list", [])
    ]


def constants(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """Values of the dashboard's constant variables (they are part of the dashboard)."""
    return {v.name: v.query for v in variables(dashboard) if v.type == "constant"}
