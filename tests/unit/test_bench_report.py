"""Unit tests for bench.report: percentiles, ratios, and the JSON and markdown of a run."""

from __future__ import annotations

import json

import pytest

from bench.report import (
    Figure,
    ScenarioResult,
    compared,
    document,
    markdown,
    median,
    percentile,
    ratio,
)


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 0.999) == 100
    assert percentile([7.0], 0.5) == 7.0


def test_percentile_does_not_depend_on_order() -> None:
    assert percentile([5, 1, 4, 2, 3], 0.8) == 4


def test_percentile_of_no_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_percentile_rejects_a_quantile_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="not in"):
        percentile([1], 1.5)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    assert median([4, 1, 3, 2]) == 2.5
    assert median([3, 1, 2]) == 2


def test_ratio_is_value_over_peer_and_none_when_peer_is_zero() -> None:
    assert ratio(30.0, 15.0) == 2.0
    assert ratio(1.0, 0.0) is None
    assert ratio(float("inf"), 1.0) is None


def test_compared_fills_peer_value_and_ratio() -> None:
    figure = Figure("proxy", "cpu_us_per_request", "meshproxy-inbound", 60.0, "us", "http1")
    out = compared(figure, "haproxy", 15.0)
    assert (out.peer, out.peer_value, out.ratio) == ("haproxy", 15.0, 4.0)
    assert not out.is_reference
    assert figure.is_reference


def _result() -> ScenarioResult:
    result = ScenarioResult("query", conditions={"runs": 3})
    result.add(
        compared(Figure("query", "stat_ms_median", "stat()", 50.0, "ms", aim=200), "aim", 200)
    )
    result.skip("meshstat CLI", "not installed")
    return result


def test_document_holds_every_figure_with_unit_peer_and_ratio() -> None:
    doc = json.loads(json.dumps(document([_result()], {"cores": 2})))
    assert doc["machine"] == {"cores": 2}
    [scenario] = doc["scenarios"]
    assert scenario["conditions"] == {"runs": 3}
    [figure] = scenario["figures"]
    assert figure["unit"] == "ms"
    assert (figure["peer"], figure["peer_value"], figure["ratio"]) == ("aim", 200, 0.25)
    assert scenario["skips"] == [
        {"scenario": "query", "part": "meshstat CLI", "reason": "not installed"}
    ]


def test_markdown_has_a_row_per_figure_and_lists_skips() -> None:
    text = markdown([_result()])
    assert "| stat_ms_median | - | stat() | 50.00 | ms | aim | 200 | 0.25x | 200 |" in text
    assert "skipped meshstat CLI: not installed" in text


def test_markdown_marks_a_figure_without_peer_as_reference() -> None:
    result = ScenarioResult("proxy")
    result.add(Figure("proxy", "max_rps", "direct", 50_000.0, "rps", "http1"))
    assert "| max_rps | http1 | direct | 50,000 | rps | (reference) | - | - | - |" in markdown(
        [result]
    )
