"""Renders the version-dependent pieces of ClickHouse DDL (LowCardinality, codecs, TTL)."""

from __future__ import annotations

from dataclasses import dataclass

# Verified absent on 18.16 and present on 26.9; each appeared in 19.x. The threshold is the
# first release that has all three on by default, so versions in between just get plain DDL.
MODERN_FROM = (20, 3)


@dataclass(frozen=True)
class Dialect:
    """DDL helpers for one server version; plain types and no TTL on old servers."""

    version: tuple[int, int]

    @property
    def modern(self) -> bool:
        """True when LowCardinality, column codecs and TTL are available."""
        return self.version >= MODERN_FROM

    def low_cardinality(self, type_name: str) -> str:
        """`LowCardinality(String)` on modern servers, `String` on old ones."""
        return f"LowCardinality({type_name})" if self.modern else type_name

    def codec(self, spec: str) -> str:
        """` CODEC(spec)` to append after a column type, or '' where codecs do not exist."""
        return f" CODEC({spec})" if self.modern else ""

    def ttl(self, expression: str) -> str:
        """A table `TTL expression` clause, or '' (old servers: retention by partition drop)."""
        return f"TTL {expression}" if self.modern else ""

    def add_column(self, name: str, type_name: str, default: str) -> str:
        """One `ADD COLUMN` clause of an ALTER TABLE; idempotent on modern servers.

        18.16 has no `IF NOT EXISTS` here: the runner treats its "column already exists"
        (code 44) on an ADD COLUMN statement as done, so a re-run migration still succeeds.
        """
        exists = "IF NOT EXISTS " if self.modern else ""
        return f"ADD COLUMN {exists}{name} {type_name} DEFAULT {default}"
