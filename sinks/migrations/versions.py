"""The ordered list of schema migrations; each renders its DDL for one server dialect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sinks.migrations.dialect import Dialect

MIGRATIONS_TABLE = "schema_migrations"


@dataclass(frozen=True)
class Migration:
    """One schema step: render(dialect, database) returns idempotent statements, in order."""

    version: int
    name: str
    render: Callable[[Dialect, str], list[str]]


def _0001_init(dialect: Dialect, db: str) -> list[str]:
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}",
        f"""CREATE TABLE IF NOT EXISTS {db}.{MIGRATIONS_TABLE} (
    version UInt32,
    name String,
    applied_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree ORDER BY version""",
    ]


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "init", _0001_init),)
