"""Plugin-style expansion of dashboard SQL; the dashboards' data source and macros."""

from __future__ import annotations

import re

import pytest
from grafana_sql import (
    ExpansionError,
    QueryContext,
    constants,
    expand,
    expand_macros,
    expand_variables,
    load,
    panel_queries,
    variables,
    with_database,
)

from meshpipe.deploy.mesh.grafana import DATASOURCE_UID, PLUGIN, dashboards
from meshpipe.schemas.latency import BOUNDS_US

CTX = QueryContext(from_ms=1_700_000_000_999, to_ms=1_700_003_600_500, interval_ms=30_000)
# The macros the dashboards may use: they expand to SQL that 18.16 also runs.
PORTABLE_MACROS = {"timeFilter", "fromTime", "toTime", "interval_s"}


def test_time_filter_is_inclusive_on_floored_unix_seconds() -> None:
    assert expand_macros("WHERE $__timeFilter(t)", CTX) == (
        "WHERE t >= toDateTime(1700000000) AND t <= toDateTime(1700003600)"
    )


def test_from_and_to_time_expand_to_datetimes() -> None:
    assert expand_macros("$__fromTime, $__toTime", CTX) == (
        "toDateTime(1700000000), toDateTime(1700003600)"
    )


def test_interval_s_is_whole_seconds_and_at_least_one() -> None:
    assert expand_macros("$__interval_s", CTX) == "30"
    fast = QueryContext(0, 1000, 250)
    assert expand_macros("$__interval_s", fast) == "1"


def test_time_interval_uses_to_start_of_interval() -> None:
    assert expand_macros("$__timeInterval(ts)", CTX) == (
        "toStartOfInterval(toDateTime(ts), INTERVAL 30 second)"
    )


def test_macro_arguments_may_hold_parentheses_and_commas() -> None:
    assert expand_macros("$__timeFilter(toDateTime(a, 'UTC'))", CTX).startswith(
        "toDateTime(a, 'UTC') >= toDateTime(1700000000)"
    )


def test_date_time_filter_takes_a_date_and_a_time_column() -> None:
    assert expand_macros("$__dt(d, t)", CTX) == (
        "(d >= toDate('2023-11-14') AND d <= toDate('2023-11-14'))"
        " AND (t >= toDateTime(1700000000) AND t <= toDateTime(1700003600))"
    )


def test_unknown_macro_is_an_error() -> None:
    with pytest.raises(ExpansionError, match="timeGroup"):
        expand_macros("$__timeGroup(t, 1m)", CTX)


def test_macro_with_wrong_argument_count_is_an_error() -> None:
    with pytest.raises(ExpansionError, match="takes 1"):
        expand_macros("$__timeFilter", CTX)


def test_single_value_variables_are_inserted_verbatim_in_every_syntax() -> None:
    sql = "'$ns' '${ns}' '[[ns]]' $__timeFilter(t)"
    assert expand_variables(sql, {"ns": "shop"}) == "'shop' 'shop' 'shop' $__timeFilter(t)"


def test_multi_value_variables_are_quoted_and_comma_joined() -> None:
    assert expand_variables("IN ($ns)", {"ns": ["a", "b"]}) == "IN ('a','b')"


def test_unknown_variable_is_an_error() -> None:
    with pytest.raises(ExpansionError, match=r"\$workload"):
        expand_variables("name = '$workload'", {})


def test_variables_expand_before_macros() -> None:
    ctx = QueryContext(0, 10_000, 1000, {"col": "window_start"})
    assert expand("$__timeFilter($col)", ctx) == (
        "window_start >= toDateTime(0) AND window_start <= toDateTime(10)"
    )


def test_with_database_qualifies_only_meshpipe_tables_after_from_or_join() -> None:
    sql = "SELECT requests FROM requests FINAL JOIN edge_windows USING x FROM other"
    assert with_database(sql, "db") == (
        "SELECT requests FROM db.requests FINAL JOIN db.edge_windows USING x FROM other"
    )


# --- the dashboards ---------------------------------------------------------------------------

DASHBOARDS = {name: load(text) for name, text in dashboards().items()}


def test_the_five_linkerd_style_dashboards_exist_with_unique_uids() -> None:
    assert sorted(DASHBOARDS) == [
        "edge.json",
        "namespace.json",
        "path.json",
        "top-line.json",
        "workload.json",
    ]
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids)


def test_every_query_targets_the_provisioned_clickhouse_data_source() -> None:
    for dashboard in DASHBOARDS.values():
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                assert target["datasource"] == {"type": PLUGIN, "uid": DATASOURCE_UID}
                assert target["editorType"] == "sql"


def test_dashboards_use_only_macros_that_also_run_on_18_16() -> None:
    texts = [q.raw_sql for d in DASHBOARDS.values() for q in panel_queries(d)]
    texts += [v.query for d in DASHBOARDS.values() for v in variables(d) if v.type == "query"]
    used = {name for text in texts for name in re.findall(r"\$__(\w+)", text)}
    assert used <= PORTABLE_MACROS


def test_latency_bounds_constant_is_the_bucket_grid() -> None:
    for dashboard in DASHBOARDS.values():
        bounds = constants(dashboard).get("latency_bounds")
        if bounds is not None:
            assert [int(b) for b in bounds.strip("[]").split(",")] == list(BOUNDS_US)
