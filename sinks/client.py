"""One small interface for running SQL on the real ClickHouse server or on chdb in-process."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

Row = tuple[Any, ...]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CODE_RE = re.compile(r"Code: (\d+)")
# clickhouse-driver sends inline INSERT ... VALUES data as part of the query; 18.16 then waits
# for a data block that never comes, so such a query hangs until the socket times out.
_INLINE_INSERT_RE = re.compile(r"^\s*INSERT\b.*\bVALUES\b\s*\S", re.IGNORECASE | re.DOTALL)


class ClickHouseError(RuntimeError):
    """A ClickHouse query or connection failed; code is the server's error code when known."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class UrlError(ValueError):
    """A ClickHouse URL could not be parsed; the message says what is wrong."""


class ClickHouseClient(Protocol):
    """What the rest of meshpipe needs from ClickHouse, on either engine."""

    def execute(self, sql: str) -> list[Row]:
        """Run one statement; return its rows (empty for DDL)."""
        ...

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert rows into table (optionally `db.table`); return how many were sent."""
        ...

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        """Insert one sequence of values per column (all of one length); return the row count.
        A DateTime column takes Unix seconds as ints."""
        ...

    def server_version(self) -> tuple[int, int]:
        """The engine's (major, minor) version, used to render DDL."""
        ...

    def close(self) -> None:
        """Release the connection or session."""
        ...


def check_name(name: str, what: str = "name") -> str:
    """Return name if it is a plain identifier (letters, digits, _), else raise ValueError."""
    parts = name.split(".")
    if len(parts) > 2 or not all(_NAME_RE.match(part) for part in parts):
        raise ValueError(f"invalid ClickHouse {what}: {name!r}")
    return name


def parse_version(text: str) -> tuple[int, int]:
    """'18.16.1' or '26.9.2.1' -> (major, minor)."""
    parts = text.strip().split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise ClickHouseError(f"unrecognised ClickHouse version: {text!r}") from None


@dataclass(frozen=True)
class ClickHouseUrl:
    """Where and as whom to connect over the native protocol (port = native TCP port)."""

    host: str = "127.0.0.1"
    port: int = 9000
    user: str = "default"
    password: str = field(default="", repr=False)
    database: str = "default"

    def render(self) -> str:
        """The URL without its password, for messages and status output."""
        return f"clickhouse://{self.user}@{self.host}:{self.port}/{self.database}"


def parse_url(url: str) -> ClickHouseUrl:
    """Parse `clickhouse://USER[:PASS]@HOST[:PORT][/DB]`; user, port and db have defaults."""
    parts = urlsplit(url.strip())
    if parts.scheme != "clickhouse":
        raise UrlError(f"ClickHouse URL must start with clickhouse:// (got {url!r})")
    if parts.query or parts.fragment:
        raise UrlError(f"ClickHouse URL takes no query or fragment: {url!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UrlError(f"ClickHouse URL has an invalid port: {url!r}") from None
    if not host:
        raise UrlError(f"ClickHouse URL has no host: {url!r}")
    database = parts.path.strip("/") or "default"
    if not _NAME_RE.match(database):
        raise UrlError(f"ClickHouse URL has an invalid database name {database!r}")
    return ClickHouseUrl(
        host=host,
        port=port if port is not None else 9000,
        user=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
        database=database,
    )


class NativeClient:
    """A synchronous clickhouse-driver connection to a real server (one thread at a time)."""

    def __init__(self, url: ClickHouseUrl, *, timeout_s: float = 30.0) -> None:
        from clickhouse_driver import Client

        self.url = url
        self._client = Client(
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            database=url.database,
            connect_timeout=min(timeout_s, 5.0),
            send_receive_timeout=timeout_s,
            sync_request_timeout=timeout_s,
        )

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        user: str = "default",
        database: str = "default",
        timeout_s: float = 30.0,
    ) -> NativeClient:
        """A client for host:port (native protocol) as user, password-less (the dev stack)."""
        return cls(ClickHouseUrl(host, port, user, "", database), timeout_s=timeout_s)

    def __enter__(self) -> NativeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def execute(self, sql: str) -> list[Row]:
        """Run one statement; inline INSERT ... VALUES is refused (it hangs on 18.16)."""
        if _INLINE_INSERT_RE.match(sql):
            raise ClickHouseError(
                "inline INSERT ... VALUES hangs on ClickHouse 18.16; use insert()"
            )
        return self._run(lambda: self._client.execute(sql))

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert rows as native blocks (the driver's parameterised INSERT)."""
        check_name(table, "table")
        names = ", ".join(check_name(c, "column") for c in columns)
        data = [tuple(row) for row in rows]
        if not data:
            return 0
        self._run(lambda: self._client.execute(f"INSERT INTO {table} ({names}) VALUES", data))
        return len(data)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        """Insert columns as native blocks: the driver sends them as they are, with no row to
        column turn and (for ints in DateTime columns) no datetime conversion per value."""
        check_name(table, "table")
        if len(data) != len(columns):
            raise ValueError(f"{len(data)} columns of values for {len(columns)} column names")
        names = ", ".join(check_name(c, "column") for c in columns)
        rows = len(data[0]) if data else 0
        if not rows:
            return 0
        # The driver writes prepared values back into each column: it needs lists.
        lists = [c if isinstance(c, list) else list(c) for c in data]
        sql = f"INSERT INTO {table} ({names}) VALUES"
        self._run(lambda: self._client.execute(sql, lists, columnar=True))
        return rows

    def server_version(self) -> tuple[int, int]:
        """Version reported by the server itself (a real query)."""
        return parse_version(str(self.execute("SELECT version()")[0][0]))

    def close(self) -> None:
        """Close the socket."""
        self._client.disconnect()

    def _run(self, call: Callable[[], Any]) -> list[Row]:
        from clickhouse_driver import errors

        try:
            result = call()
        except errors.Error as exc:
            raise ClickHouseError(_first_line(str(exc)), getattr(exc, "code", None)) from exc
        except (OSError, EOFError) as exc:
            raise ClickHouseError(f"cannot reach ClickHouse at {self.url.render()}: {exc}") from exc
        return [tuple(row) for row in result] if isinstance(result, list) else []


class ChdbClient:
    """chdb (the modern engine, in-process) behind the same interface; one path per process."""

    def __init__(self, path: Path) -> None:
        from chdb import session

        self._session = session.Session(str(path))  # type: ignore[no-untyped-call]

    def execute(self, sql: str) -> list[Row]:
        """Run one statement through JSONCompact and convert values by their declared types."""
        text = self._query(sql, "JSONCompact")
        if not text.strip():
            return []
        doc = json.loads(text, parse_float=decimal.Decimal)
        converters = [_converter(col["type"]) for col in doc["meta"]]
        return [
            tuple(conv(v) for conv, v in zip(converters, row, strict=True)) for row in doc["data"]
        ]

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert rows as JSONCompactEachRow data carried in the query."""
        check_name(table, "table")
        names = ", ".join(check_name(c, "column") for c in columns)
        lines = [json.dumps([_to_json(v) for v in row]) for row in rows]
        if not lines:
            return 0
        body = "\n".join(lines)
        self._query(f"INSERT INTO {table} ({names}) FORMAT JSONCompactEachRow\n{body}\n", "CSV")
        return len(lines)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> int:
        """Insert columns as rows (chdb takes ints in DateTime columns as Unix seconds)."""
        if len(data) != len(columns):
            raise ValueError(f"{len(data)} columns of values for {len(columns)} column names")
        return self.insert(table, columns, zip(*data, strict=True))

    def __enter__(self) -> ChdbClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def server_version(self) -> tuple[int, int]:
        """The embedded engine's version."""
        return parse_version(str(self.execute("SELECT version()")[0][0]))

    def close(self) -> None:
        """Close the session (the embedded server keeps its files)."""
        self._session.close()  # type: ignore[no-untyped-call]

    def _query(self, sql: str, fmt: str) -> str:
        from chdb import ChdbError

        try:
            result = self._session.query(sql, fmt)  # type: ignore[no-untyped-call]
        # chdb 4 raises chdb._exceptions.ChdbError, a RuntimeError and not chdb.ChdbError
        except (ChdbError, RuntimeError) as exc:
            match = _CODE_RE.search(str(exc))
            raise ClickHouseError(_first_line(str(exc)), int(match[1]) if match else None) from exc
        return bytes(result.bytes()).decode()


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:2])[:500] if lines else "ClickHouse error"


def _to_json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def _split_args(inner: str) -> list[str]:
    """Split a type's arguments on top-level commas: 'UInt8, Array(String)' -> two parts."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    parts.append(inner[start:].strip())
    return parts


def _converter(type_name: str) -> Callable[[Any], Any]:
    """A function turning a JSONCompact value of type_name into what clickhouse-driver returns."""
    base, _, rest = type_name.partition("(")
    args = _split_args(rest[:-1]) if rest else []
    if base in ("Nullable", "LowCardinality", "SimpleAggregateFunction"):
        inner = _converter(args[-1])
        return lambda v: None if v is None else inner(v)
    if base == "Array":
        item = _converter(args[0])
        return lambda v: [item(x) for x in v]
    if base == "Tuple":
        items = [_converter(a.split(" ")[-1] if " " in a else a) for a in args]
        return lambda v: tuple(c(x) for c, x in zip(items, v, strict=True))
    if base in ("DateTime", "DateTime64") and args and args[-1].startswith("'"):
        zone = ZoneInfo(args[-1].strip("'"))
        return lambda v: _as_datetime(v).replace(tzinfo=zone)
    if base == "Map":
        key, val = _converter(args[0]), _converter(args[1])
        return lambda v: {key(k): val(x) for k, x in v.items()}
    return _SCALARS.get(base, lambda v: v)


def _as_int(value: Any) -> int:
    return int(value)


def _as_float(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def _as_datetime(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value))


_SCALARS: dict[str, Callable[[Any], Any]] = {
    **{f"{p}{b}": _as_int for p in ("Int", "UInt") for b in (8, 16, 32, 64, 128, 256)},
    "Float32": _as_float,
    "Float64": _as_float,
    "Decimal": lambda v: decimal.Decimal(str(v)),
    **{f"Decimal{b}": lambda v: decimal.Decimal(str(v)) for b in (32, 64, 128, 256)},
    "Bool": bool,
    "String": str,
    "FixedString": lambda v: str(v).rstrip("\x00"),
    "UUID": uuid.UUID,
    "Date": dt.date.fromisoformat,
    "Date32": dt.date.fromisoformat,
    "DateTime": _as_datetime,
    "DateTime64": _as_datetime,
}
