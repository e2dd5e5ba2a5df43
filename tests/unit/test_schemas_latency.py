"""Unit tests for schemas.latency: the bucket grid, sparse histograms and quantile accuracy."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.schemas.latency import (
    BOUNDS_US,
    BUCKET_COUNT,
    MAX_ABSOLUTE_ERROR_US,
    MAX_RELATIVE_ERROR,
    OVERFLOW_INDEX,
    Histogram,
    bucket_index,
    bucket_index_sql,
    bucket_lower,
    bucket_upper,
    merged,
    quantile,
)
from meshpipe.sinks.client import ChdbClient

HOUR_US = 3_600_000_000
latencies = st.integers(min_value=0, max_value=BOUNDS_US[-1])


def test_grid_has_fewer_than_200_buckets_and_covers_an_hour() -> None:
    assert BUCKET_COUNT < 200
    assert BOUNDS_US[0] == 1
    assert BOUNDS_US[-1] >= HOUR_US


def test_grid_grows_by_at_most_the_documented_factor() -> None:
    for lower, upper in itertools.pairwise(BOUNDS_US):
        assert lower < upper <= max(lower + MAX_ABSOLUTE_ERROR_US, lower * (1 + MAX_RELATIVE_ERROR))


@given(latencies)
def test_bucket_holds_its_value_between_lower_and_upper(value: int) -> None:
    index = bucket_index(value)
    assert bucket_lower(index) < max(value, 1) <= bucket_upper(index)


def test_zero_and_one_microsecond_share_the_first_bucket() -> None:
    assert bucket_index(0) == bucket_index(1) == 0


def test_values_above_the_grid_go_to_overflow() -> None:
    assert bucket_index(BOUNDS_US[-1] + 1) == OVERFLOW_INDEX
    assert bucket_upper(OVERFLOW_INDEX) == math.inf


def test_negative_latency_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        bucket_index(-1)


def test_bucket_index_outside_the_grid_is_rejected() -> None:
    with pytest.raises(ValueError, match="outside"):
        bucket_upper(OVERFLOW_INDEX + 1)


def test_clickhouse_expression_reproduces_bucket_index(chdb_session: ChdbClient) -> None:
    values = [0, 1, 2, 16, 17, 18, 999, 1000, 1001, *BOUNDS_US[-3:], BOUNDS_US[-1] + 1, 2**40]
    values += [bound + delta for bound in BOUNDS_US[::7] for delta in (-1, 0, 1)]
    rows = chdb_session.execute(
        f"SELECT toUInt64(v), toUInt64({bucket_index_sql('v')}) FROM "
        f"(SELECT arrayJoin([{', '.join(map(str, values))}]) AS v)"
    )
    got = {int(v): int(i) for v, i in rows}
    assert got == {v: bucket_index(v) for v in values}


@given(st.lists(latencies), st.lists(latencies))
def test_merge_equals_histogram_of_all_values(first: list[int], second: list[int]) -> None:
    combined = merged([Histogram.of(first), Histogram.of(second)])
    assert combined == Histogram.of(first + second)
    assert combined.total == len(first) + len(second)


def test_record_with_count_adds_that_many() -> None:
    hist = Histogram()
    hist.record(500, count=3)
    assert hist.counts == {bucket_index(500): 3}


def test_from_counts_rejects_index_outside_grid() -> None:
    with pytest.raises(ValueError, match="outside"):
        Histogram.from_counts({BUCKET_COUNT: 1})


def test_histogram_rejects_non_positive_counts() -> None:
    with pytest.raises(ValueError, match="positive"):
        Histogram({3: -1})


def test_quantile_of_empty_histogram_is_none() -> None:
    assert quantile(Histogram(), 0.5) is None


@pytest.mark.parametrize("q", [-0.1, 1.5, math.nan])
def test_quantile_outside_unit_interval_is_rejected(q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        quantile(Histogram.of([10]), q)


def test_quantile_interpolates_linearly_inside_the_bucket() -> None:
    # Bucket 55 is (1019, 1141] µs; one value below it and four in it: rank 0.6 * 5 = 3 is the
    # second of four in the bucket, so halfway: 1019 + 122 * 2 / 4.
    assert (bucket_lower(55), bucket_upper(55)) == (1019, 1141)
    hist = Histogram.of([10, 1100, 1100, 1100, 1100])
    assert quantile(hist, 0.6) == pytest.approx(1080.0)


def test_quantile_in_overflow_is_the_last_bound() -> None:
    assert quantile(Histogram.of([BOUNDS_US[-1] * 2]), 0.99) == BOUNDS_US[-1]


@given(
    st.lists(latencies, min_size=1, max_size=200),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_quantile_is_within_documented_error_of_nearest_rank(values: list[int], q: float) -> None:
    # "Exact" is the nearest-rank quantile: the ceil(q*n)-th smallest value (the smallest for
    # q*n <= 1), with q*n in floating point as the estimate computes it. The estimate lies in the
    # same bucket, so the bucket width bounds the error: max(1 µs, 12% of the exact value).
    ordered = sorted(values)
    exact = ordered[max(1, math.ceil(q * len(values))) - 1]
    estimate = quantile(Histogram.of(values), q)
    assert estimate is not None
    bound = max(MAX_ABSOLUTE_ERROR_US, MAX_RELATIVE_ERROR * exact)
    assert abs(estimate - exact) <= bound + 1e-9 * exact
