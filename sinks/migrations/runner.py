"""Applies the pending schema migrations to one database and records them in schema_migrations."""

from __future__ import annotations

from collections.abc import Sequence

from meshpipe.schemas import clickhouse_codes as codes
from meshpipe.sinks.client import ClickHouseClient, ClickHouseError, check_name
from meshpipe.sinks.migrations.dialect import Dialect
from meshpipe.sinks.migrations.versions import MIGRATIONS, MIGRATIONS_TABLE, Migration


def _execute(client: ClickHouseClient, statement: str) -> None:
    """Run one migration statement; an ADD COLUMN that finds its column (a re-run) is done."""
    try:
        client.execute(statement)
    except ClickHouseError as exc:
        if not (exc.code == codes.COLUMN_EXISTS and " ADD COLUMN " in statement):
            raise


def applied_versions(client: ClickHouseClient, database: str) -> set[int]:
    """Versions recorded in database.schema_migrations (empty when the table does not exist)."""
    check_name(database, "database")  # so the f-strings below cannot inject SQL
    exists = client.execute(
        "SELECT count() FROM system.tables"  # noqa: S608
        f" WHERE database = '{database}' AND name = '{MIGRATIONS_TABLE}'"
    )
    if not exists[0][0]:
        return set()
    rows = client.execute(f"SELECT DISTINCT version FROM {database}.{MIGRATIONS_TABLE}")  # noqa: S608
    return {int(row[0]) for row in rows}


def pending_migrations(
    client: ClickHouseClient,
    database: str,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[Migration]:
    """The migrations not yet recorded in database, in version order."""
    done = applied_versions(client, database)
    return [m for m in sorted(migrations, key=lambda m: m.version) if m.version not in done]


def render_migration(migration: Migration, dialect: Dialect, database: str) -> list[str]:
    """The statements of migration for dialect, after checking the database name."""
    return migration.render(dialect, check_name(database, "database"))


def apply_migrations(
    client: ClickHouseClient,
    database: str,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[int]:
    """Apply every migration not yet recorded, in version order; return the versions applied.

    Statements must be idempotent (IF NOT EXISTS): a crash after a statement but before the
    version is recorded re-runs the whole migration next time.
    """
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {sorted(versions)}")
    dialect = Dialect(client.server_version())
    applied = []
    for migration in pending_migrations(client, database, migrations):
        for statement in render_migration(migration, dialect, database):
            _execute(client, statement)
        client.insert(
            f"{database}.{MIGRATIONS_TABLE}",
            ["version", "name"],
            [(migration.version, migration.name)],
        )
        applied.append(migration.version)
    return applied
