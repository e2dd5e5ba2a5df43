"""Migrations render per server version: modern features only where the server has them."""

from __future__ import annotations

import pytest

from meshpipe.sinks.client import parse_version
from meshpipe.sinks.migrations import MIGRATIONS, Dialect, render_migration

OLD = Dialect((18, 16))
NEW = Dialect((26, 9))


def test_versions_parse_to_major_minor() -> None:
    assert parse_version("18.16.1") == (18, 16)
    assert parse_version("26.9.2.1") == (26, 9)


def test_old_server_gets_plain_types_without_codecs_or_ttl() -> None:
    assert OLD.low_cardinality("String") == "String"
    assert OLD.codec("ZSTD(1)") == ""
    assert OLD.ttl("d + INTERVAL 1 DAY") == ""


def test_modern_server_gets_low_cardinality_codecs_and_ttl() -> None:
    assert NEW.low_cardinality("String") == "LowCardinality(String)"
    assert NEW.codec("ZSTD(1)") == " CODEC(ZSTD(1))"
    assert NEW.ttl("d + INTERVAL 1 DAY") == "TTL d + INTERVAL 1 DAY"


def test_migration_versions_are_unique_and_start_at_one() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions[0] == 1
    assert len(set(versions)) == len(versions)


def test_first_migration_creates_database_and_migrations_table() -> None:
    statements = render_migration(MIGRATIONS[0], OLD, "meshpipe")
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS meshpipe"
    assert "CREATE TABLE IF NOT EXISTS meshpipe.schema_migrations" in statements[1]


@pytest.mark.parametrize("dialect", [OLD, NEW])
def test_every_statement_is_idempotent(dialect: Dialect) -> None:
    for migration in MIGRATIONS:
        for statement in render_migration(migration, dialect, "meshpipe"):
            # 18.16 has no ADD COLUMN IF NOT EXISTS: the runner accepts "already exists" there.
            old_add = not dialect.modern and " ADD COLUMN " in statement
            assert "IF NOT EXISTS" in statement or old_add, statement


def test_database_name_that_could_inject_sql_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid ClickHouse database"):
        render_migration(MIGRATIONS[0], OLD, "x; DROP TABLE y")
