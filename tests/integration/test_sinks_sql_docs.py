"""Every example query in docs/sql.md runs on 18.16 and on chdb and gives the same rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_sinks_query import load

from meshpipe.sinks.client import ChdbClient, NativeClient

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "sql.md"
EXAMPLES = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_docs_hold_the_example_queries() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("sql", EXAMPLES, ids=lambda sql: sql.split("\n")[0][:40])
def test_example_query_returns_the_same_nonempty_rows_on_both_engines(
    sql: str, clickhouse_db: tuple[NativeClient, str], chdb_db: tuple[ChdbClient, str]
) -> None:
    results = []
    for client, db in (clickhouse_db, chdb_db):
        load(client, db)
        results.append(client.execute(sql.replace("meshpipe.", f"{db}.")))
    assert results[0], "the generated data should answer every example"
    assert results[0] == results[1]
